/**
 * `stackscope attach` against a separately started Node process: it must be profiled, keep running,
 * and have its inspector closed again. Needs `npx tsc -p .` first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { parseFolded } from '../src/formats/folded.js';
import { listeningPorts } from '../src/sample/attach.js';

const root = path.resolve(import.meta.dirname, '..');
const cli = path.join(root, 'dist/cli/index.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A separately started Node process (the agent fixture without the agent), ready, its ports noted. */
async function startTarget() {
  const app = spawn(process.execPath, [path.join(root, 'fixtures/sample/agent-app.js')], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  await new Promise<void>((r) => app.stdout!.once('data', () => r()));
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ss-attach-')), 'p.folded');
  return { app, before: listeningPorts(app.pid!), out };
}

test('attach profiles a running process, leaves it running and closes its inspector', async () => {
  const { app, before, out } = await startTarget();
  try {
    const r = spawnSync(process.execPath, [cli, 'attach', String(app.pid), '--duration', '1', '-o', out], { cwd: root, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /samples of PID \d+ over 1 s → .* \(folded\); inspector closed again\n$/);
    const keys = [...parseFolded(fs.readFileSync(out, 'utf8')).keys()].join('\n');
    assert.match(keys, /crunchNumbers \(fixtures\/sample\/agent-app\.js:3\)/);
    await sleep(200);
    assert.equal(app.exitCode, null, 'still running');
    assert.deepEqual([...listeningPorts(app.pid!)], [...before], 'inspector port closed');
    // Still responsive: it obeys a command and exits normally.
    app.stdin!.write('exit\n');
    const code = await new Promise<number | null>((res) => app.on('exit', res));
    assert.equal(code, 0);
  } finally {
    app.kill();
  }
});

test('Ctrl-C while attached stops early, writes the profile and still closes the inspector', async () => {
  const { app, before, out } = await startTarget();
  try {
    const at = spawn(process.execPath, [cli, 'attach', String(app.pid), '--duration', '60', '-o', out], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    at.stderr!.on('data', (d) => { err += d; });
    // Once the inspector is up (a new listening port), give the profiler a moment, then Ctrl-C.
    const deadline = Date.now() + 10_000;
    while (listeningPorts(app.pid!).size === before.size && Date.now() < deadline) await sleep(100);
    await sleep(1500);
    const t = Date.now();
    at.kill('SIGINT');
    const code = await new Promise<number | null>((res) => at.on('exit', res));
    assert.equal(code, 0, err);
    assert.ok(Date.now() - t < 5000, 'stopped at once, not after 60 s');
    assert.match(err, /stopped early by SIGINT\) → .*; inspector closed again\n$/);
    assert.match(fs.readFileSync(out, 'utf8'), /crunchNumbers/);
    assert.deepEqual([...listeningPorts(app.pid!)], [...before], 'inspector port closed');
    assert.equal(app.exitCode, null, 'target still running');
  } finally {
    app.kill();
  }
});

test('clear errors: missing PID, non-Node process, no permission, bad PID', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'attach', ...args], { encoding: 'utf8' });
  const sh = spawn('sleep', ['5']);
  try {
    const cases: Array<[string[], RegExp]> = [
      [['999999'], /^stackscope: no process with PID 999999\n$/],
      [[String(sh.pid)], /^stackscope: PID \d+ is not a Node\.js process \(sleep\)\n$/],
      [['abc'], /^stackscope: bad PID "abc"/],
      [[], /^stackscope: missing PID/],
    ];
    if (process.getuid?.() !== 0) cases.push([['1'], /^stackscope: no permission to attach to PID 1/]);
    for (const [args, re] of cases) {
      const r = run(...args);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, re);
    }
    assert.equal(sh.exitCode, null, 'the non-Node process was not signalled');
  } finally {
    sh.kill();
  }
});
