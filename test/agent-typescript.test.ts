/**
 * The production agent on a TypeScript program run through tsx: the maps exist only in the main
 * thread's memory, yet the endpoint names frames by the .ts source, as `stackscope sample` does.
 * Needs `npx tsc -p .` first (the agent runs from dist/).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { parseFolded } from '../src/formats/folded.js';
import { parseStacksResponse } from '../src/agent/protocol.js';

const root = path.resolve(import.meta.dirname, '..');
const preload = path.join(root, 'dist/agent/preload.js');
const app = 'fixtures/sample/agent-app.ts';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('agent under tsx: folded stacks name functions by their .ts lines', async () => {
  const portFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ss-agent-ts-')), 'port');
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', preload, app], {
    cwd: root,
    env: { ...process.env, STACKSCOPE_PORT: '0', STACKSCOPE_PORT_FILE: portFile, STACKSCOPE_WINDOW: '0.5' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  try {
    const deadline = Date.now() + 15_000;
    while (!fs.existsSync(portFile) || !fs.readFileSync(portFile, 'utf8').trim()) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`agent did not start: ${err}`);
      await sleep(50);
    }
    const base = `http://127.0.0.1:${fs.readFileSync(portFile, 'utf8').trim()}`;
    let text = '';
    while (Date.now() < deadline + 15_000) {
      await sleep(300);
      text = await (await fetch(base + '/')).text();
      if (/crunchNumbers/.test(text) && /hashStrings/.test(text)) break;
    }
    const frames = new Set([...parseFolded(text).keys()].flatMap((k) => k.split(';')));
    const ours = [...frames].filter((f) => f.includes('agent-app.ts'));
    // Lines of the .ts source (the interface and type above them vanish from tsx's output).
    assert.ok(frames.has('crunchNumbers (fixtures/sample/agent-app.ts:12)'), ours.join('\n'));
    assert.ok(frames.has('hashStrings (fixtures/sample/agent-app.ts:16)'), ours.join('\n'));
    // Every frame of the file is mapped: none left at a generated line the source does not have.
    const lines = fs.readFileSync(path.join(root, app), 'utf8').split('\n').length;
    for (const f of ours) assert.ok(Number(/:(\d+)\)$/.exec(f)?.[1]) <= lines, f);
    // The same through the cursor API and an on-demand profile.
    // (GET / includes the open chunk; /stacks serves closed windows only: wait for one that has them)
    let tsFrames: { name: string; line: number }[] = [];
    while (Date.now() < deadline + 15_000 && !tsFrames.some((f) => f.name === 'crunchNumbers')) {
      const stacks = parseStacksResponse(await (await fetch(base + '/stacks')).json());
      tsFrames = stacks.frames.filter((f) => f.file === path.join(root, app));
      if (!tsFrames.length) await sleep(200);
    }
    assert.ok(
      tsFrames.some((f) => f.name === 'crunchNumbers' && f.line === 12),
      JSON.stringify(tsFrames),
    );
    const profile = await (await fetch(base + '/profile?seconds=0.5&format=folded')).text();
    assert.match(profile, /crunchNumbers \(fixtures\/sample\/agent-app\.ts:12\)/);
    assert.equal(err, '');
  } finally {
    child.stdin!.end();
    await new Promise((r) => child.once('exit', r));
  }
});
