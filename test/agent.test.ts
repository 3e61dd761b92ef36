/**
 * The production agent, end to end: a real child process started with `--import` of the built
 * agent, real HTTP requests against its endpoint. Needs `npx tsc -p .` first (the agent runs from dist/).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { parseFolded } from '../src/formats/folded.js';
import { decodePprof } from '../src/formats/pprof.js';
import { sampledFunctions } from '../fixtures/sample/trace-samples.js';
import { parseStacksResponse, type StacksResponse } from '../src/agent/protocol.js';
import { preload, sleep, startApp as start, type RunningApp } from './helpers/agent-app.js';

const startApp = (env: Record<string, string> = {}): Promise<RunningApp> => start({ STACKSCOPE_WINDOW: '0.5', ...env });

let a: RunningApp;
before(async () => {
  a = await startApp();
  // On a loaded machine the app gets less CPU: wait for enough samples rather than a fixed time.
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    await sleep(300);
    const meta = (await (await fetch(a.base + '/meta')).json()) as { samples: number };
    if (meta.samples >= 80) break;
  }
});
after(() => {
  a.child.kill();
});

test('GET / is flamegraph.pl folded text with the hot functions, metadata in headers', async () => {
  const res = await fetch(a.base + '/');
  assert.equal(res.status, 200);
  const text = await res.text();
  for (const line of text.trimEnd().split('\n')) assert.match(line, /^\S.* \d+$/, `not a folded line: ${line}`);
  const stacks = parseFolded(text);
  const all = [...stacks.keys()].join('\n');
  assert.match(all, /crunchNumbers \(fixtures\/sample\/agent-app\.js:3\)/);
  assert.match(all, /hashStrings \(fixtures\/sample\/agent-app\.js:9\)/);
  assert.equal(res.headers.get('x-stackscope-pid'), String(a.child.pid));
  assert.equal(res.headers.get('x-stackscope-interval-us'), '10000');
  const samples = [...stacks.values()].reduce((x, y) => x + y, 0);
  assert.equal(Number(res.headers.get('x-stackscope-samples')), samples);
  const meta = (await (await fetch(a.base + '/meta')).json()) as Record<string, unknown>;
  assert.equal(meta.pid, a.child.pid);
  assert.ok(Number(meta.samples) >= samples);
});

test('/stacks (protocol v2) returns every sample exactly once across repeated and lost polls', async () => {
  const seen = new Map<number, number>();
  let cursor: string | undefined;
  const poll = async (q: string): Promise<StacksResponse> => parseStacksResponse(await (await fetch(a.base + '/stacks' + q)).json());
  const end = Date.now() + 3000;
  for (let i = 0; ; i++) {
    const q = cursor ? `?since=${cursor}` : '';
    const body = await poll(q);
    assert.equal(body.agent.pid, a.child.pid);
    if (i % 2 === 0) {
      // The response is "lost": ask again with the same cursor; it must give the same windows (or more).
      const again = await poll(q);
      assert.deepEqual(
        again.windows.slice(0, body.windows.length).map((w) => w.seq),
        body.windows.map((w) => w.seq),
      );
      assert.deepEqual(
        again.windows.slice(0, body.windows.length).map((w) => w.samples),
        body.windows.map((w) => w.samples),
      );
      continue;
    }
    assert.equal(body.missedWindows, 0);
    for (const w of body.windows) {
      assert.ok(!seen.has(w.seq), `window ${w.seq} returned twice`);
      for (const [bucket] of w.counts)
        assert.ok(
          bucket % body.bucketMs === 0 && bucket + body.bucketMs > w.startMs && bucket < w.endMs,
          `bucket ${bucket} outside window ${w.startMs}..${w.endMs}`,
        );
      seen.set(w.seq, w.samples);
    }
    cursor = body.cursor;
    if (Date.now() > end && cursor === body.lastCursor) {
      // Everything the agent published up to this cursor was seen once.
      const meta = (await (await fetch(a.base + '/meta')).json()) as { cursor: string; totalSamples: number };
      if (meta.cursor !== cursor) continue;
      const seqs = [...seen.keys()].sort((x, y) => x - y);
      assert.deepEqual(
        seqs,
        seqs.map((_, k) => k + 1),
        'windows are contiguous from the first',
      );
      assert.equal(
        [...seen.values()].reduce((x, y) => x + y, 0),
        meta.totalSamples,
        'sum of windows = samples published',
      );
      assert.ok(meta.totalSamples > 0);
      break;
    }
    await sleep(150);
  }
});

test('the endpoint answers within 200 ms while the main thread runs a 2 s busy loop', async () => {
  a.child.stdin!.write('busy2000\n');
  await sleep(300);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const res = await fetch(a.base + '/meta');
    await res.json();
    times.push(performance.now() - t0);
    await sleep(200);
  }
  // Served off the main thread: under 200 ms. On a machine shared with other work one probe of
  // five may wait for a CPU, so the bound holds for four of them and every probe is answered in 1 s.
  const sorted = [...times].sort((x, y) => x - y);
  const shown = `response times ${times.map((t) => t.toFixed(0)).join(', ')} ms`;
  assert.ok(sorted[3]! < 200 && sorted[4]! < 1000, shown);
  await sleep(1200); // let the loop end
});

test('/stalls reports a planted 300 ms block with its function', async () => {
  a.child.stdin!.write('block300\n');
  let found: { durationMs: number; stack: string; at: string } | undefined;
  const deadline = Date.now() + 5000;
  while (!found && Date.now() < deadline) {
    await sleep(250);
    const body = (await (await fetch(a.base + '/stalls')).json()) as {
      thresholdMs: number;
      stalls: Array<{ durationMs: number; stack: string; at: string }>;
    };
    assert.equal(body.thresholdMs, 100);
    found = body.stalls.find((s) => s.stack?.includes('plantedBlock'));
  }
  assert.ok(found, 'stall with plantedBlock on its stack');
  assert.ok(found.durationMs >= 250 && found.durationMs <= 450, `duration ${found.durationMs}`);
  assert.ok(Math.abs(Date.parse(found.at) - Date.now()) < 10_000);
});

test('/profile records a fresh profile: pprof decodes, trace parses in DevTools', async () => {
  const pres = await fetch(a.base + '/profile?seconds=0.5&format=pprof');
  assert.equal(pres.status, 200);
  const prof = decodePprof(new Uint8Array(await pres.arrayBuffer()));
  const names = prof.function.map((f) => prof.stringTable.strings[Number(f.name)]);
  assert.ok(
    names.some((n) => n?.startsWith('crunchNumbers (fixtures/sample/agent-app.js:3)')),
    names.join(', '),
  );
  const tres = await fetch(a.base + '/profile?seconds=0.5&format=trace&interval=500us');
  const tracks = await sampledFunctions((await tres.json()) as { traceEvents: unknown[] });
  const main = tracks.find((t) => t.functions.size > 0);
  assert.ok(main?.functions.has('crunchNumbers'), 'sampled function drawn on a track');
});

test('wrong paths, parameters and methods get a 4xx one-line error', async () => {
  const cases: Array<[string, number, RequestInit?]> = [
    ['/nope', 404],
    ['/?foo=1', 400],
    ['/stacks?since=garbage', 400],
    ['/stacks?since=zz-999999', 200],
    ['/profile?format=xml', 400],
    ['/profile?seconds=-1', 400],
    ['/profile?interval=fast', 400],
    ['/', 405, { method: 'POST' }],
    ['/profile', 405, { method: 'HEAD' }],
  ];
  for (const [p, status, init] of cases) {
    const res = await fetch(a.base + p, init);
    assert.equal(res.status, status, p);
    if (status === 405) assert.equal(res.headers.get('allow'), p === '/profile' ? 'GET' : 'GET, HEAD');
    if (status >= 400 && init?.method !== 'HEAD') {
      const text = await res.text();
      assert.equal(text.trimEnd().split('\n').length, 1, `${p}: ${text}`);
    } else await res.arrayBuffer();
  }
});

test('bearer token is required when configured; the agent never writes to stdout', async () => {
  const b = await startApp({ STACKSCOPE_TOKEN: 's3cret' });
  try {
    const denied = await fetch(b.base + '/');
    assert.equal(denied.status, 401);
    assert.match(denied.headers.get('www-authenticate') ?? '', /^Bearer /);
    assert.equal((await fetch(b.base + '/', { headers: { Authorization: 'Bearer wrong!' } })).status, 401);
    // Without the token, unknown paths and methods are not told apart from known ones.
    assert.equal((await fetch(b.base + '/no-such-path')).status, 401);
    assert.equal((await fetch(b.base + '/', { method: 'POST' })).status, 401);
    const authed = { Authorization: 'Bearer s3cret' };
    assert.equal((await fetch(b.base + '/no-such-path', { headers: authed })).status, 404);
    const ok = await fetch(b.base + '/meta', { headers: { Authorization: 'Bearer s3cret' } });
    assert.equal(ok.status, 200);
    await ok.json();
    assert.equal(b.stderr(), '');
  } finally {
    b.child.kill();
  }
});

test('the agent does not keep the process alive and reports a failure once', async () => {
  const child = spawn(process.execPath, ['--import', preload, '-e', 'setTimeout(() => console.log("bye"), 200)'], {
    env: { ...process.env, STACKSCOPE_PORT: '1', STACKSCOPE_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(code, 0);
  assert.equal(out, 'bye\n');
  // Port 1 needs root; as root the agent simply works and says nothing.
  assert.ok(err === '' || /^stackscope agent: .*\n$/.test(err), err);
});
