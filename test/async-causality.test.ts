/**
 * Async causality (trace --async, off by default): a real Express-like server (plain `http`, a
 * callback middleware chain, a timer and a database-like callback per request) traced under
 * concurrent requests, read back with the DevTools trace engine: every callback's first slice has
 * an arrow from the call that scheduled it, every slice of a request carries that request's id and
 * no other, and the request lane's slices begin and end with the request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseWithDevTools, track, type DtEntry, type DtTrace } from './helpers/devtools.js';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const cli = path.join(root, 'dist/cli/index.js');
const fixtures = path.join(root, 'fixtures/async');
const REQUESTS = 12;

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { cwd: fixtures, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function traceOf(script: string, extra: string[] = [], progArgs: string[] = []): { out: ReturnType<typeof run>; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-async-'));
  const file = path.join(dir, 'trace.json');
  const out = run([cli, 'trace', '--async', '-o', file, ...extra, script, ...progArgs]);
  assert.equal(out.status, 0, out.stderr);
  return { out, file };
}

const label = (name: string) => new RegExp(`^${name} \\(app\\.mjs:\\d+\\)$`);
const is = (e: DtEntry, name: string) => label(name).test(e.name);

/** The slice a flow point binds to on its track: the outermost one starting at its ts. */
function boundTo(trace: DtTrace, p: { ts: number; tid: number; pid: number }): DtEntry | undefined {
  const t = trace.tracks.find((x) => x.tid === p.tid && x.pid === p.pid);
  return t?.entries.filter((e) => e.ts === p.ts).sort((a, b) => a.depth - b.depth)[0];
}

test('an Express-like server under concurrent requests: callbacks linked to their scheduler, slices tagged with their request', async () => {
  const plain = run([path.join(fixtures, 'server.mjs'), String(REQUESTS)]);
  const { out, file } = traceOf('server.mjs', [], [String(REQUESTS)]);
  // The program's behaviour is unchanged.
  assert.equal(out.stdout, plain.stdout);
  assert.equal(out.stdout.trim().split('\n').length, REQUESTS);

  const trace = await parseWithDevTools(file);
  assert.equal(trace.dropped, 0, 'every slice drawn');
  const main = track(trace, 'main');

  // 1. Each callback's first slice has an incoming arrow from the slice that scheduled it.
  // The engine gives each flow's bound slices; the arrow goes from the earlier to the later.
  const arrows = trace.flows
    .filter((f) => f.length === 2)
    .map((f) => [...f].sort((a, b) => a.ts - b.ts))
    .map(([a, b]) => ({ from: boundTo(trace, a!), to: boundTo(trace, b!) }));
  const lane = (e: DtEntry | undefined) => e !== undefined && requestLane.includes(e);
  const into = (e: DtEntry) => arrows.filter((a) => a.to === e && !lane(a.from));
  const requestLane = trace.tracks.filter((t) => /^requests( \d+)?$/.test(t.threadName ?? '')).flatMap((t) => t.entries);
  const expectScheduler = (callback: string, scheduler: string) => {
    const slices = main.entries.filter((e) => is(e, callback));
    assert.equal(slices.length, REQUESTS, `${callback} ran once per request`);
    for (const s of slices) {
      const from = into(s);
      assert.equal(from.length, 1, `${callback} at ${s.ts} has one incoming arrow`);
      assert.ok(from[0]!.from && is(from[0]!.from, scheduler), `${callback} was scheduled by ${scheduler}, not ${from[0]!.from?.name}`);
      assert.equal(from[0]!.from!.args?.request, s.args?.request, 'scheduler and callback served the same request');
    }
  };
  expectScheduler('authorized', 'auth');
  expectScheduler('onRows', 'db.query');

  // 2. Every slice of a request carries that request's id and no other.
  assert.equal(requestLane.length, REQUESTS, 'one slice per request on the request lane');
  const ids = requestLane.map((r) => r.args?.request as number);
  assert.equal(new Set(ids).size, REQUESTS, 'request ids are unique');
  const chain = ['app', 'next', 'logger', 'auth', 'authorized', 'loadRows', 'db.query', 'onRows', 'gotRows', 'render'];
  for (const r of requestLane) {
    const id = r.args!.request as number;
    const mine = main.entries.filter((e) => e.args?.request === id);
    const count = (name: string) => mine.filter((e) => is(e, name)).length;
    for (const name of ['app', 'logger', 'auth', 'authorized', 'loadRows', 'db.query', 'onRows', 'gotRows', 'render']) {
      assert.equal(count(name), 1, `request ${id} (${r.name}) ran ${name} once`);
    }
    assert.equal(count('next'), 4, `request ${id}: next() four times`);
    assert.ok(
      mine.every((e) => chain.some((n) => is(e, n))),
      `only the chain runs for request ${id}: ${mine.map((e) => e.name).join(', ')}`,
    );
    // 3. The request lane's slice begins before its first work and ends after its last.
    const first = Math.min(...mine.map((e) => e.ts));
    const last = Math.max(...mine.map((e) => e.ts + e.dur));
    assert.ok(r.ts <= first && last <= r.ts + r.dur, `request ${id} spans its work`);
    const out = arrows.filter((a) => a.from === r);
    assert.deepEqual(
      out.map((a) => a.to && chain.find((n) => is(a.to!, n))).sort(),
      ['app', 'onRows'],
      `request ${id}: arrows to its first (app) and last (onRows) slice`,
    );
    for (const a of out) assert.equal(a.to!.args?.request, id);
  }
  // The client's calls served no request.
  for (const e of main.entries.filter((x) => !chain.some((n) => is(x, n)))) assert.equal(e.args?.request, undefined, e.name);

  // Without --async (the default): the same calls, no causal arrows and no request ids on calls.
  const off = traceOf('server.mjs', ['--no-async'], [String(REQUESTS)]);
  assert.equal(off.out.stdout, plain.stdout);
  const offTrace = await parseWithDevTools(off.file);
  const offRaw = offTrace.raw.filter((e) => e.ph === 's').map((e) => e.name);
  assert.deepEqual([...new Set(offRaw)], ['await'], 'without async tracing only await arrows remain');
  const onRaw = new Set(trace.raw.filter((e) => e.ph === 's').map((e) => e.name));
  for (const kind of ['Timeout', 'Immediate', 'request']) assert.ok(onRaw.has(kind), `arrows named ${kind} with async tracing`);
  assert.ok(track(offTrace, 'main').entries.every((e) => e.args?.request === undefined));
  assert.equal(track(offTrace, 'main').entries.filter((e) => is(e, 'render')).length, REQUESTS);
});

test('callback order, output and exit code are unchanged by async tracing', () => {
  const plain = run([path.join(fixtures, 'order.mjs')]);
  assert.equal(plain.status, 3);
  const { file } = (() => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-async-'));
    return { file: path.join(dir, 't.json') };
  })();
  const traced = run([cli, 'trace', '--async', '-o', file, 'order.mjs']);
  assert.equal(traced.status, plain.status);
  assert.equal(traced.stdout, plain.stdout);
  assert.ok(traced.stdout.split('\n').length > 20, 'the fixture printed its callback order');
  assert.equal(traced.stderr.includes('async tracing failed'), false, traced.stderr);
});

test('resource churn stays in the bounded ring: links overflow with the calls, counted, and the trace still opens', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-async-'));
  const file = path.join(dir, 't.json');
  const r = run([
    cli,
    'trace',
    '--async',
    '--json',
    '--buffer-size',
    '20000',
    '--on-full',
    'drop-oldest',
    '-o',
    file,
    'churn.mjs',
    '40',
    '2000',
  ]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'done 40000\n');
  const summary = JSON.parse(r.stderr.trim().split('\n').at(-1)!) as { dropped: number };
  // 80,000 work() calls plus their callbacks' links went through a 20,000-record ring.
  assert.ok(summary.dropped > 100_000, `dropped ${summary.dropped}`);
  const trace = await parseWithDevTools(file);
  assert.equal(trace.dropped, 0);
  const links = trace.raw.filter((e) => e.ph === 's' && e.name !== 'await').length;
  assert.ok(links > 1000 && links <= 20_000, `${links} links kept, no more than the ring holds`);
  assert.ok(Number(trace.metadata.droppedRecords) > 100_000, 'the drop is in the metadata');
});

test('spans nest across callbacks: a span begun in a callback scheduled inside another is drawn under it', async () => {
  const { out, file } = traceOf('spans.mjs');
  assert.equal(out.stdout, '2\n');
  const trace = await parseWithDevTools(file);
  assert.equal(trace.dropped, 0);
  assert.equal(trace.tracks.filter((t) => t.threadName?.startsWith('overflow')).length, 0, 'no span left to an overflow lane');
  const lanes = trace.tracks.filter((t) => /^async \d+$/.test(t.threadName ?? '')).flatMap((t) => t.entries);
  for (const [mine, other] of [
    ['1', '2'],
    ['2', '1'],
  ] as const) {
    const inner = lanes.find((e) => e.name === `inner ${mine}`);
    assert.ok(inner, `inner ${mine} is drawn on an async lane`);
    assert.ok(inner.path.includes(`job ${mine}`), `inner ${mine} under job ${mine}: ${inner.path.join(' > ')}`);
    assert.ok(!inner.path.includes(`job ${other}`), `inner ${mine} not under job ${other}`);
  }
  // Job 2 ran inside job 1's time but is not its child: it is not drawn under it.
  assert.deepEqual(lanes.find((e) => e.name === 'job 2')!.path, []);
});

test('what the program prints of its promises and timers: unchanged by default, and never stackscope data', () => {
  const plain = run([path.join(fixtures, 'inspect.mjs')]);
  assert.equal(plain.status, 0);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-async-'));
  const traced = run([cli, 'trace', '-o', path.join(dir, 'a.json'), 'inspect.mjs']);
  assert.equal(traced.stdout, plain.stdout, 'plain tracing: util.inspect of a promise is unchanged');
  // With --async, Node's own async_hooks bookkeeping tags every promise (as with any init hook or
  // AsyncLocalStorage on Node 20; the README says so), but nothing of stackscope's is visible.
  const withAsync = run([cli, 'trace', '--async', '-o', path.join(dir, 'b.json'), 'inspect.mjs']);
  assert.equal(withAsync.status, 0);
  assert.match(withAsync.stdout, /^stackscope shown: false$/m);
  assert.match(withAsync.stdout, /^keys: 0$/m);
});

test('with requests, a slice that ran calls of throttled functions says so as well as which request it served', async () => {
  const { file } = traceOf('throttled.mjs', ['--min-duration', '20'], ['40']);
  const main = track(await parseWithDevTools(file), 'main');
  const named = (fn: string) => main.entries.filter((e) => new RegExp(`^${fn} \\(throttled\\.mjs:\\d+\\)$`).test(e.name));
  // tiny is throttled within the first requests: from then on each request's `work` and the
  // handler's segment after its await ran throttled calls.
  for (const fn of ['work', 'resumed: handle']) {
    const slices = named(fn);
    assert.ok(slices.length >= 30, `${fn}: ${slices.length} slices`);
    const marked = slices.filter((e) => e.args?.untimed === 'throttled calls');
    assert.ok(marked.length >= slices.length - 5, `${fn}: ${marked.length} of ${slices.length} say untimed`);
    assert.ok(
      marked.every((e) => typeof e.args?.request === 'number'),
      `${fn}: each says which request it served`,
    );
  }
});
