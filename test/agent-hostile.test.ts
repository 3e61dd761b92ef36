/**
 * The agent under hostile clients and workloads never takes its host down: clients that never read
 * and sockets that never finish their headers leave it answering and leave the host's own server
 * accepting (with the host limited to 256 file descriptors); a worker that runs out of memory stops
 * alone, says so once, and the program goes on. Real child processes (`npm run build` first).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import path from 'node:path';
import { root, sleep, startApp, type RunningApp } from './helpers/agent-app.js';

const hostile = path.join(root, 'fixtures/sample/agent-hostile.js');

/** The host's own HTTP port, printed by the fixture. */
async function hostPort(a: RunningApp): Promise<number> {
  const deadline = Date.now() + 10_000;
  let m: RegExpExecArray | null;
  while (!(m = /port (\d+)/.exec(a.stdout())) && Date.now() < deadline) await sleep(20);
  assert.ok(m, `host server port: ${a.stdout()}`);
  return Number(m[1]);
}

/** GET on a fresh connection: status, body and time taken. */
function get(port: number, p: string): Promise<{ status: number; body: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - t0 }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${p} timed out`)));
  });
}

function connect(port: number, data: string): Promise<net.Socket> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(data);
      resolve(s);
    });
    s.on('error', () => resolve(s));
  });
}

test('60 clients that never read /stacks and 300 slow-header sockets: /meta answers in < 100 ms, the host keeps accepting', async () => {
  // Deep stacks with long names at 1 ms in 1 s windows: /stacks answers of hundreds of KiB.
  const a = await startApp(
    { STACKSCOPE_INTERVAL: '1ms', STACKSCOPE_WINDOW: '1', DEPTH: '60', NAME_CHARS: '400', CHAIN_MS: '500' },
    { app: hostile, maxFiles: 256 },
  );
  const sockets: net.Socket[] = [];
  try {
    const port = await hostPort(a);
    await sleep(4000);
    const sample = await get(a.port, '/stacks');
    assert.equal(sample.status, 200);
    // Each client asks 20 times in a row (pipelined) and never reads a byte.
    const ask = 'GET /stacks HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(20);
    for (let i = 0; i < 60; i++) {
      const s = await connect(a.port, ask);
      s.pause();
      sockets.push(s);
    }
    // Headers that never end.
    for (let i = 0; i < 300; i++) sockets.push(await connect(a.port, 'GET /meta HTTP/1.1\r\nHost: x\r\nX-Slow: '));
    await sleep(2000); // the first burst of answers goes out
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const meta = await get(a.port, '/meta');
      assert.equal(meta.status, 200);
      times.push(meta.ms);
      const own = await get(port, '/');
      assert.equal(own.status, 200);
      assert.match(own.body, /^ok \d+/);
      // More slow sockets keep coming while we ask.
      for (let k = 0; k < 10; k++) sockets.push(await connect(a.port, 'GET / HTTP/1.1\r\n'));
      await sleep(300);
    }
    console.log(`/stacks answer ${sample.body.length} bytes; /meta under attack: ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
    // Under 100 ms; on a machine shared with other work, one probe of ten may catch the worker
    // busy (converting a chunk), so the bound is on nine of them, and every probe is answered.
    const sorted = [...times].sort((x, y) => x - y);
    assert.ok(sorted[8]! < 100, `/meta times ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
    // The agent still records, and the host never printed a word about it.
    const m1 = JSON.parse((await get(a.port, '/meta')).body) as { samples: number };
    await sleep(1500);
    const m2 = JSON.parse((await get(a.port, '/meta')).body) as { samples: number; memory: { workerHeapUsedBytes: number } };
    assert.ok(m2.samples > m1.samples, 'still sampling');
    assert.equal(a.child.exitCode, null);
    assert.equal(a.stderr(), '');
  } finally {
    for (const s of sockets) s.destroy();
    await a.stop();
  }
});

test('a worker out of memory stops alone: one line on stderr, the host and its server go on', async () => {
  // A heap far too small for deep stacks of 4,000-character names sampled every 100 µs.
  const a = await startApp({ STACKSCOPE_INTERVAL: '100us', STACKSCOPE_WORKER_HEAP_MB: '24' }, { app: hostile });
  try {
    const port = await hostPort(a);
    const deadline = Date.now() + 30_000;
    while (!a.stderr() && Date.now() < deadline) await sleep(250);
    assert.match(a.stderr(), /^stackscope agent: stopped: its worker reached its heap limit \(24 MiB\); the program goes on unprofiled\n$/);
    await sleep(1000);
    for (let i = 0; i < 3; i++) assert.match((await get(port, '/')).body, /^ok \d+/);
    assert.equal(a.child.exitCode, null, 'the host is alive');
    const exited = new Promise<number | null>((r) => a.child.once('exit', r));
    a.child.stdin!.end();
    assert.equal(await exited, 0, 'and exits as it would without the agent');
    assert.equal(a.stderr().split('\n').length, 2, 'said once');
  } finally {
    await a.stop();
  }
});
