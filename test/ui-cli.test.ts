/**
 * `stackscope ui` as a command: where it listens, its token, its upload cap and its bad input, each
 * checked on a real child process over HTTP.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { root, startUiCli } from './helpers/ui.js';
import { openStore } from '../src/store/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-ui-cli-'));
const folded = path.join(dir, 'app.folded');
fs.writeFileSync(folded, 'main;serve;parseBody 7\nmain;serve 3\n');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const run = (args: string[]) =>
  spawnSync(process.execPath, [path.join(root, 'dist/cli/index.js'), 'ui', ...args], { cwd: root, timeout: 20_000 });

test('bad input: one line and a non-zero exit, before anything listens', () => {
  for (const [args, line] of [
    [['--host', '0.0.0.0', folded], /^stackscope: refusing to listen on 0\.0\.0\.0 without --token: /],
    [[path.join(dir, 'missing.cpuprofile')], /^stackscope: .*missing\.cpuprofile: no such file$/],
    [[path.join(dir)], /: a folder, not a file$/],
    [['--port', '70000', folded], /^stackscope: bad --port 70000: 0 to 65535$/],
    [['--max-upload', '0', folded], /^stackscope: bad --max-upload 0: /],
    [['--db', path.join(dir, 'nothing', 'x.db')], /^stackscope: /],
  ] as const) {
    const r = run([...args]);
    const err = r.stderr.toString();
    assert.notEqual(r.status, 0, `${args.join(' ')}: ${err}`);
    assert.equal(err.trimEnd().split('\n').length, 1, err);
    assert.match(err.trimEnd(), line);
    assert.equal(r.stdout.length, 0);
  }
});

test('--token guards the page and the API; opening /?token=… once sets a cookie and drops it from the address', async () => {
  const ui = await startUiCli(['--token', 's3cret', folded]);
  try {
    const denied = await fetch(`${ui.url}api/info`);
    assert.equal(denied.status, 401);
    assert.match(await denied.text(), /^stackscope: give the token: /);
    assert.equal((await fetch(`${ui.url}api/info`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
    assert.equal((await fetch(ui.url)).status, 401);
    const ok = await fetch(`${ui.url}api/flame`, { headers: { authorization: 'Bearer s3cret' } });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { sum: number }).sum, 10);
    const open = await fetch(`${ui.url}?token=s3cret&view=table`, { redirect: 'manual' });
    assert.equal(open.status, 303);
    assert.equal(open.headers.get('location'), '/?view=table');
    const cookie = open.headers.get('set-cookie')!;
    assert.match(cookie, /^stackscope_token=s3cret; HttpOnly; SameSite=Strict; Path=\//);
    const page = await fetch(ui.url, { headers: { cookie: cookie.split(';')[0]! } });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>stackscope<\/title>/);
  } finally {
    await ui.stop();
  }
  assert.equal(ui.child.exitCode, 0, 'SIGTERM ends it cleanly');
});

test('another site cannot read the page: a foreign Host is refused, and so are cross-site uploads and WebSockets', async () => {
  const db = path.join(dir, 'empty.db');
  await (await openStore(db, { create: true })).close();
  const ui = await startUiCli(['--db', db, folded]);
  try {
    const port = new URL(ui.url).port;
    const http = await import('node:http');
    const get = (headers: Record<string, string>, method = 'GET') =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, path: '/api/info', method, headers }, (res) => {
          let body = '';
          res.on('data', (d) => {
            body += d;
          });
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        req.on('error', reject);
        req.end();
      });
    const rebound = await get({ host: `evil.example:${port}` });
    assert.equal(rebound.status, 403);
    assert.equal(rebound.body, `stackscope: the page answers requests for 127.0.0.1 or localhost, not evil.example:${port}\n`);
    assert.equal((await get({ host: `localhost:${port}` })).status, 200);
    const upload = await fetch(`${ui.url}api/upload?name=a.folded`, {
      method: 'POST',
      body: 'main 1\n',
      headers: { origin: 'http://evil.example' },
    });
    assert.equal(upload.status, 403);
    const { WebSocket } = await import('ws');
    const connect = (origin: string) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/api/live`, { origin });
        ws.on('open', () => {
          ws.close();
          resolve('open');
        });
        ws.on('error', () => resolve('refused'));
      });
    assert.equal(await connect(`http://127.0.0.1:${port}`), 'open');
    assert.equal(await connect('http://evil.example'), 'refused');
  } finally {
    await ui.stop();
  }
});

test('a dropped file over --max-upload is refused with 413 and one line; one under it is read', async () => {
  const ui = await startUiCli(['--max-upload', '0.001', folded]); // 1 KiB
  try {
    const big = await fetch(`${ui.url}api/upload?name=big.folded`, { method: 'POST', body: 'main;x 1\n'.repeat(200) });
    assert.equal(big.status, 413);
    assert.equal(
      await big.text(),
      'stackscope: the file is 1.8 KiB, more than the 1.0 KiB the page takes (stackscope ui FILE reads any size)\n',
    );
    const small = await fetch(`${ui.url}api/upload?name=small.folded`, { method: 'POST', body: 'main;dropped 5\n' });
    assert.equal(small.status, 200);
    const { id } = (await small.json()) as { id: string };
    const fns = (await (await fetch(`${ui.url}api/functions?file=${id}`)).json()) as { rows: Array<{ name: string; self: number }> };
    assert.deepEqual(
      fns.rows.map((r) => [r.name, r.self]),
      [
        ['dropped', 5],
        ['main', 0],
      ],
    );
    assert.equal((await fetch(`${ui.url}api/upload`, { method: 'GET' })).status, 405);
  } finally {
    await ui.stop();
  }
});
