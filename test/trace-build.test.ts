/**
 * writeTrace, checked through the DevTools trace engine: what the Performance panel would draw
 * from the file, not what we think we wrote.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { writeTrace } from '../src/trace/build.js';
import type { ProcessRecording } from '../src/recorder/recording.js';
import { parseWithDevTools, track, treeText, type DtTrace } from './helpers/devtools.js';
import { SynthThread } from './helpers/synth.js';
import { decimal, thousands } from '../src/util/numbers.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-build-'));
let seq = 0;
async function roundTrip(
  processes: ProcessRecording[],
  metadata?: Record<string, unknown>,
): Promise<DtTrace & { result: ReturnType<typeof writeTrace> }> {
  const file = path.join(tmp, `t${seq++}.json`);
  const result = writeTrace(file, processes, { metadata });
  const trace = await parseWithDevTools(file);
  return { ...trace, result };
}
const proc = (pid: number, name: string, ...threads: SynthThread[]): ProcessRecording => ({
  pid,
  name,
  threads: threads.map((t) => ({ ...t.build(), pid })),
});

/** parent awaits two overlapping children (Promise.all) from inside main(). */
function asyncScene(): SynthThread {
  const t = new SynthThread();
  const main = t.fn('main', 1),
    P = t.fn('parent', 5),
    C = t.fn('child', 9),
    h = t.fn('helper', 12);
  t.call(main, 0, 100)
    .seg(P, 1, 1, 10, 1)
    .seg(C, 2, 2, 5, 2)
    .call(h, 3, 4, 3)
    .seg(C, 3, 6, 8, 2)
    .seg(C, 2, 120, 130)
    .seg(C, 3, 140, 150)
    .seg(P, 1, 160, 170)
    .life(P, 1, 1, 170)
    .life(C, 2, 2, 130)
    .life(C, 3, 6, 150);
  return t;
}

test('sync calls nest on the thread track with frameLabel names and lean args', async () => {
  const t = new SynthThread();
  const main = t.fn('main', 1),
    a = t.fn('a', 4, 'src/x.ts', 7),
    b = t.fn('Store.get', 9);
  // Two arrows on one line: the same label, told apart by the column in args.
  const arrow1 = t.fn('(anonymous)', 12, 'src/x.ts', 10),
    arrow2 = t.fn('(anonymous)', 12, 'src/x.ts', 30);
  t.call(main, 0, 50)
    .call(a, 1, 20, 1)
    .call(b, 2, 5, 2)
    .call(b, 6, 9, 2)
    .call(a, 21, 40, 1)
    .call(b, 22, 23, 2)
    .call(arrow1, 41, 42, 1)
    .call(arrow2, 43, 44, 1);
  const tr = await roundTrip([proc(7, 'node app.js', t)]);
  assert.equal(tr.generic, true);
  assert.equal(tr.dropped, 0);
  const main0 = track(tr, 'main');
  assert.equal(main0.processName, 'node app.js');
  assert.equal(
    treeText(main0),
    [
      'main (app.js:1)',
      '  a (src/x.ts:4)',
      '    Store.get (app.js:9)',
      '    Store.get (app.js:9)',
      '  a (src/x.ts:4)',
      '    Store.get (app.js:9)',
      '  (anonymous) (src/x.ts:12)',
      '  (anonymous) (src/x.ts:12)',
    ].join('\n'),
  );
  // The name says file and line: no args repeat them, except where two functions share a label.
  assert.deepEqual(
    main0.entries.map((e) => e.args),
    [undefined, undefined, undefined, undefined, undefined, undefined, { src: 'src/x.ts:12:10' }, { src: 'src/x.ts:12:30' }],
  );
  assert.equal(tr.raw.filter((e) => e.ph === 'X' && 'args' in e).length, 2, 'only the ambiguous slices carry args');
  assert.equal(tr.bounds.min, 1, 'earliest event at ts 1');
  assert.equal(tr.result.slices, 8);
});

test('async: segments on the thread, lifetimes on nesting lanes, flows bound to segments', async () => {
  const tr = await roundTrip([proc(7, 'app', asyncScene())]);
  assert.equal(tr.dropped, 0);
  assert.equal(
    treeText(track(tr, 'main')),
    [
      'main (app.js:1)',
      '  parent (app.js:5)',
      '    child (app.js:9)',
      '      helper (app.js:12)',
      '    child (app.js:9)',
      'resumed: child (app.js:9)',
      'resumed: child (app.js:9)',
      'resumed: parent (app.js:5)',
    ].join('\n'),
  );
  // The awaited child nests under its parent's lifetime; the overlapping sibling needs a lane.
  assert.equal(treeText(track(tr, 'async 1')), 'parent (app.js:5)\n  child (app.js:9)');
  assert.equal(treeText(track(tr, 'async 2')), 'child (app.js:9)');
  const names = tr.flows.map((f) => f.map((p) => p.name));
  assert.deepEqual(names, [
    ['parent (app.js:5)', 'resumed: parent (app.js:5)'],
    ['child (app.js:9)', 'resumed: child (app.js:9)'],
    ['child (app.js:9)', 'resumed: child (app.js:9)'],
  ]);
  assert.ok(tr.flows.every((f) => f.every((p) => p.tid === 0)));
  const sorts = tr.raw.filter((e) => e.name === 'thread_sort_index').map((e) => (e.args as { sort_index: number }).sort_index);
  assert.deepEqual(sorts, [0, 1, 2], 'async lanes sorted after the main thread');
});

test('flows step through every continuation in order', async () => {
  const t = new SynthThread();
  const f = t.fn('loop', 3);
  t.seg(f, 1, 0, 1).seg(f, 1, 10, 11).seg(f, 1, 20, 21).seg(f, 1, 30, 31).life(f, 1, 0, 31);
  const tr = await roundTrip([proc(1, 'p', t)]);
  assert.equal(tr.flows.length, 1);
  assert.deepEqual(
    tr.flows[0]!.map((p) => p.ts),
    [1, 11, 21, 31],
  );
  const phases = tr.raw.filter((e) => e.name === 'await' && e.ph !== 'X').map((e) => e.ph);
  assert.deepEqual(phases, ['s', 't', 't', 'f']);
});

test('lanes never cross: 3000 random concurrent async calls all drawn', async () => {
  const t = new SynthThread();
  const f = t.fn('job', 2);
  let seed = 42;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 1; i <= 3000; i++) {
    // segments of one thread never overlap: starts on multiples of 3, resumptions in between
    const s = i * 3,
      e = s + 1.5 + 3 * Math.floor(rnd() * 200);
    t.seg(f, i, s, s + 0.01)
      .seg(f, i, e - 0.01, e)
      .life(f, i, s, e);
  }
  const tr = await roundTrip([proc(1, 'p', t)]);
  assert.equal(tr.dropped, 0);
  const lanes = tr.tracks.filter((x) => x.threadName?.startsWith('async '));
  assert.ok(lanes.length > 1);
  assert.equal(
    lanes.reduce((n, x) => n + x.entries.length, 0),
    3000,
    'every lifetime drawn',
  );
  assert.equal(tr.metadata.overflowSlices, 0);
});

test('safety net: a span straddling an await moves to an overflow lane, counted, not lost', async () => {
  const t = asyncScene();
  t.spanRec(t.span('load config'), 50, 125);
  const tr = await roundTrip([proc(1, 'p', t)]);
  assert.equal(tr.dropped, 0);
  assert.equal(treeText(track(tr, 'overflow 1')), 'load config');
  assert.equal(tr.metadata.overflowSlices, 1);
});

test('user spans nest with calls on the thread track', async () => {
  const t = new SynthThread();
  const f = t.fn('work', 2),
    g = t.fn('inner', 3);
  const sp = t.span('batch');
  t.spanRec(sp, 0, 30).call(f, 1, 29, 1).call(g, 2, 3, 2).spanRec(sp, 40, 50);
  const tr = await roundTrip([proc(1, 'p', t)]);
  assert.equal(treeText(track(tr, 'main')), 'batch\n  work (app.js:2)\n    inner (app.js:3)\nbatch');
});

test('rounding noise never costs a child its parent', async () => {
  const t = new SynthThread(0, 'main', 1_700_000_000_000.777);
  const f = t.fn('f', 1);
  // ends 0.4 ns apart: printed with 3 decimals the child could land past the parent
  for (let i = 0; i < 200; i++) {
    const s = i * 10 + 0.1234567 * i;
    t.call(f, s, s + 5.0004441, 0).call(f, s + 0.0003331 + i * 1e-4, s + 5.0004437, 1);
  }
  const tr = await roundTrip([proc(1, 'p', t)]);
  assert.equal(tr.dropped, 0);
  assert.equal(track(tr, 'main').entries.filter((e) => e.depth === 1).length, 200);
  assert.equal(tr.metadata.overflowSlices, 0);
});

test('node events: a track per category, overlapping ones laned, instants as I', async () => {
  const t = new SynthThread();
  t.fn('main', 1);
  t.call(0, 0, 100);
  t.nodeEvents.push(
    { ph: 'X', name: 'GET /a', cat: 'http.server', ts: 10, dur: 50 },
    { ph: 'X', name: 'GET /b', cat: 'http.server', ts: 20, dur: 60 },
    { ph: 'X', name: 'GET http://127.0.0.1/a', cat: 'http.client', ts: 5, dur: 60, args: { status: 200 } },
    { ph: 'I', name: 'GC (minor)', cat: 'gc', ts: 30 },
  );
  const tr = await roundTrip([proc(1, 'p', t)]);
  assert.equal(tr.dropped, 0);
  // The requests served are the request lane, written without a cat (see causality.ts).
  assert.equal(treeText(track(tr, 'requests')), 'GET /a');
  assert.equal(treeText(track(tr, 'requests 2')), 'GET /b');
  assert.equal(track(tr, 'requests').entries[0]!.cat, undefined);
  assert.deepEqual(track(tr, 'HTTP client').entries[0]!.args, { status: 200 });
  const gc = track(tr, 'GC').entries[0]!;
  assert.equal(gc.ph, 'I');
  assert.equal(gc.ts, 31);
});

test('workers are their own tracks; processes are their own rows; duplicate pids kept apart', async () => {
  const main = new SynthThread(0, 'main');
  main.call(main.fn('m', 1), 0, 10);
  const w = new SynthThread(1, 'worker 1');
  const wf = w.fn('crunch', 3, 'worker.js');
  w.seg(wf, 1, 0, 2).seg(wf, 1, 5, 6).life(wf, 1, 0, 6);
  const other = new SynthThread(0, 'main');
  other.call(other.fn('o', 1), 0, 10);
  const again = new SynthThread(0, 'main');
  again.call(again.fn('dup', 1), 0, 10);
  const tr = await roundTrip([proc(10, 'node a.js', main, w), proc(20, 'node b.js', other), proc(20, 'node c.js', again)]);
  assert.equal(tr.dropped, 0);
  const wt = track(tr, 'worker 1', 10);
  assert.equal(wt.tid, 1);
  assert.equal(treeText(wt), 'crunch (worker.js:3)\nresumed: crunch (worker.js:3)');
  assert.equal(treeText(track(tr, 'worker 1 async 1', 10)), 'crunch (worker.js:3)');
  assert.equal(tr.flows.length, 1);
  assert.equal(tr.flows[0]![0]!.tid, 1);
  const rows = new Map(tr.tracks.map((x) => [x.pid, x.processName]));
  assert.equal(rows.size, 3);
  assert.deepEqual([...rows.values()].sort(), ['node a.js', 'node b.js', 'node c.js']);
});

test('clocks: threads aligned by timeOrigin, shiftUs moves a process, ns precision kept', async () => {
  const origin = 1_732_000_000_000.25;
  const a = new SynthThread(0, 'main', origin);
  a.call(a.fn('a', 1), 1000.0001, 1000.0021);
  const w = new SynthThread(1, 'worker 1', origin + 0.5); // worker started 0.5 ms later
  w.call(w.fn('w', 1), 1000.0001, 1000.0011);
  const b = new SynthThread(0, 'main', origin + 60_000); // ran a minute later
  b.call(b.fn('b', 1), 1000.0001, 1000.0031);
  const tr = await roundTrip([
    { pid: 1, name: 'first', threads: [a.build(), w.build()] },
    { pid: 2, name: 'second', threads: [b.build()], shiftUs: -60_000_000 },
  ]);
  const ea = track(tr, 'main', 1).entries[0]!,
    ew = track(tr, 'worker 1', 1).entries[0]!,
    eb = track(tr, 'main', 2).entries[0]!;
  assert.equal(ea.ts, 1);
  assert.equal(eb.ts, 1, 'shiftUs aligns the second process with the first');
  assert.equal(ew.ts, 501);
  assert.equal(ea.dur, 0.002);
  assert.equal(ew.dur, 0.001);
  assert.equal(eb.dur, 0.003);
});

test('truncated recordings: orphans, lifetimes without segments, lost first segments', async () => {
  const t = new SynthThread();
  const P = t.fn('parent', 1),
    c = t.fn('child', 2),
    A = t.fn('fetchAll', 3),
    L = t.fn('lonely', 4),
    o = t.fn('orphan', 5);
  t.dropped = 1234;
  t.call(c, 10, 12, 3) // the oldest kept record: its own children may be the dropped ones, so it is not drawn
    .call(o, 13, 13.5, 3) // its parents were dropped
    .seg(A, 7, 20, 21)
    .seg(A, 7, 30, 31)
    .life(A, 7, 5, 31) // call started before the kept window
    .life(L, 8, 14, 40) // no segment kept
    .seg(P, 9, 50, 51); // still pending at the dump: no lifetime
  const tr = await roundTrip([proc(1, 'p', t)]);
  assert.equal(tr.dropped, 0);
  assert.equal(tr.result.droppedRecords, 1234);
  const m = track(tr, 'main');
  assert.equal(m.entries.filter((e) => e.ph === 'I' && /^1,235 earlier call records dropped/.test(e.name)).length, 1);
  assert.deepEqual(
    m.entries.filter((e) => e.ph === 'X').map((e) => e.name),
    ['orphan (app.js:5)', 'resumed: fetchAll (app.js:3)', 'resumed: fetchAll (app.js:3)', 'parent (app.js:1)'],
  );
  const lanes = tr.tracks
    .filter((x) => x.threadName?.startsWith('async'))
    .flatMap((x) => x.entries.map((e) => e.name))
    .sort();
  assert.deepEqual(lanes, ['fetchAll (app.js:3)', 'lonely (app.js:4)']);
  assert.equal(tr.metadata.droppedRecords, 1234);
  assert.deepEqual(tr.metadata.dropped, [{ pid: 1, tid: 0, thread: 'main', records: 1234, nodeEvents: 0 }]);
});

test('ring overflow: calls running at the cut start there, flagged; an instant marks where data is complete', async () => {
  // outer(0–100) → mid(0–60) → span(2–58), mid(60–100); leaves of 5 µs every 10 µs under both
  // mids; the ring kept what ended at 47 or later.
  const t = new SynthThread();
  const O = t.fn('outer', 1),
    M = t.fn('mid', 2),
    L = t.fn('leaf', 3),
    S = t.span('phase');
  t.call(O, 0, 100).call(M, 0, 60, 1).call(M, 60, 100, 1).spanRec(S, 2, 58, 2);
  for (let s = 0; s < 100; s += 10) t.call(L, s + 2, s + 7, 3);
  const full = t.build();
  const keep = (r: number) => full.records[r * 5 + 2]! >= 47; // first kept: the leaf ending at 47
  const kept = [...Array(full.count).keys()].filter(keep);
  const records = new Float64Array(kept.length * 5);
  kept.forEach((r, k) => records.set(full.records.subarray(r * 5, r * 5 + 5), k * 5));
  const cutRec = { ...full, records, count: kept.length, dropped: full.count - kept.length };
  const file = path.join(tmp, `t${seq++}.json`);
  const result = writeTrace(file, [{ pid: 1, name: 'p', threads: [{ ...cutRec, pid: 1 }] }]);
  const tr = await parseWithDevTools(file);
  const m = track(tr, 'main');
  const xs = m.entries.filter((e) => e.ph === 'X');
  // Trace times start at 1 = the earliest drawn start, which is the cut (47).
  const instant = m.entries.find((e) => e.ph === 'I')!;
  assert.match(instant.name, /^5 earlier call records dropped \(ring buffer full\): complete from here$/);
  assert.equal(instant.ts, 1);
  assert.deepEqual(result.cuts, [{ pid: 1, tid: 0, thread: 'main', droppedRecords: 5, completeFrom: 1, clippedSlices: 3 }]);
  assert.deepEqual(tr.metadata.cut, result.cuts);
  const byName = (n: string) => xs.filter((e) => e.name.startsWith(n));
  assert.deepEqual(
    byName('outer').map((e) => [e.ts, e.dur]),
    [[1, 53]],
  );
  assert.deepEqual(
    byName('mid').map((e) => [e.ts, e.dur]),
    [
      [1, 13],
      [14, 40],
    ],
  );
  assert.deepEqual(
    byName('phase').map((e) => [e.ts, e.dur]),
    [[1, 11]],
  );
  for (const e of [...byName('outer'), byName('mid')[0]!, ...byName('phase')]) {
    assert.match(String(e.args?.truncated), /^began \d+\.\d{3} ms before the ring-buffer cut/, e.name);
  }
  assert.equal(byName('mid')[1]!.args?.truncated, undefined, 'a call that began after the cut is whole');
  assert.equal(byName('leaf').length, 5, 'leaves ending after the cut, not the one ending at the cut itself');
  // No made-up self time: each clipped call's self time is its own time after the cut (mid:
  // 2 µs of the first's 4, all 20 of the second's), none of the dropped leaves' time.
  const { traceTimes } = await import('../src/compare/load.js');
  const times = traceTimes(file, JSON.parse(fs.readFileSync(file, 'utf8')).traceEvents);
  assert.equal(times.functions.get('outer (app.js:1)')!.self, 0);
  assert.equal(times.functions.get('mid (app.js:2)')!.self, 22);
  assert.equal(times.functions.get('phase')!.self, 6);
});

test("metadata: version, drops and the caller's own fields", async () => {
  const t = new SynthThread();
  t.call(t.fn('f', 1), 0, 1);
  const tr = await roundTrip([proc(1, 'p', t)], { command: 'node app.js' });
  assert.equal(tr.metadata['stackscope-version'], JSON.parse(fs.readFileSync('package.json', 'utf8')).version);
  assert.equal(tr.metadata.command, 'node app.js');
  assert.equal(tr.metadata.droppedRecords, 0);
});

test('empty input still gives a valid trace; unwritable path throws', async () => {
  const tr = await roundTrip([]);
  assert.equal(tr.tracks.length, 0);
  assert.throws(() => writeTrace(path.join(tmp, 'no/such/dir/t.json'), []), /ENOENT/);
});

test('5M records: streamed with flat memory', { timeout: 120_000 }, () => {
  const out = path.join(tmp, 'big.json');
  // 128 MB of JS heap: a giant string or an object per record would not fit.
  const stdout = execFileSync(
    process.execPath,
    ['--max-old-space-size=128', '--import', 'tsx', 'test/helpers/big-trace.ts', out, '5000000'],
    { encoding: 'utf8' },
  );
  const r = JSON.parse(stdout) as { records: number; ms: number; peakRssMB: number; recordsMB: number; slices: number };
  process.stderr.write(`5M-record trace: ${JSON.stringify(r)}\n`);
  assert.equal(r.slices, r.records);
  assert.ok(r.peakRssMB - r.recordsMB < 350, `peak RSS beyond the records themselves: ${r.peakRssMB - r.recordsMB} MB`);
  fs.rmSync(out);
});

test('numbers in notes are written as en-US would, without ICU: separators, at most the given decimals', () => {
  const cases: [number, number][] = [
    [0.5, 1],
    [20, 1],
    [1000, 1],
    [1234567.25, 1],
    [-1234.5, 1],
    [999.96, 1],
    [12, 0],
    [-5, 0],
    [1e21, 0],
    [50_000_000, 0],
  ];
  for (const [n, d] of cases) assert.equal(decimal(n, d), n.toLocaleString('en-US', { maximumFractionDigits: d }), `${n}`);
  assert.equal(thousands(1_000_012), '1,000,012');
});
