// `stackscope serve`: a collector and the page in one process, as a single-box user runs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { root, sleep, startApp } from './helpers/agent-app.js';

const cli = path.join(root, 'dist/cli/index.js');

test('serve collects a running agent and its page shows the hot function; SIGTERM stops it cleanly', async () => {
  const app = await startApp({ STACKSCOPE_WINDOW: '1' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-serve-'));
  const db = path.join(dir, 'profiles.db');
  const serve = spawn(
    process.execPath,
    [cli, 'serve', '--target', `127.0.0.1:${app.port}`, '--interval', '500ms', '--port', '0', '--db', db],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let err = '';
  serve.stderr.on('data', (d) => {
    err += d;
  });
  try {
    const deadline = Date.now() + 30_000;
    let url: string | undefined;
    while (!(url = /the page is at (http:\/\/\S+)/.exec(err)?.[1]) && Date.now() < deadline && serve.exitCode === null) await sleep(50);
    assert.ok(url, `no page address: ${err}`);
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
    // The collector writes what it polls; the page reads the same store.
    let rows: { name: string; self: number }[] = [];
    while (Date.now() < deadline && !rows.some((r) => r.name === 'crunchNumbers')) {
      await sleep(500);
      const res = await fetch(new URL('/api/functions', url));
      assert.equal(res.status, 200, await res.clone().text());
      rows = ((await res.json()) as { rows: { name: string; self: number }[] }).rows;
    }
    const hot = rows.find((r) => r.name === 'crunchNumbers');
    assert.ok(hot && hot.self > 0, `crunchNumbers not in the page's table: ${JSON.stringify(rows.slice(0, 5))}\n${err}`);
    serve.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => serve.once('exit', (c) => r(c)));
    assert.equal(code, 0, err);
    assert.match(err, /stopped: \d+ samples/);
  } finally {
    if (serve.exitCode === null) serve.kill('SIGKILL');
    await app.stop();
  }
});
