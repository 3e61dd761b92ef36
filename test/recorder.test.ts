/**
 * The recorder in-process: runtime contract semantics (depth, async segments and lifetimes,
 * generators), ring overflow, filters, the call channel, spans and the dump format round trip.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import diagnostics_channel from 'node:diagnostics_channel';
import { Recorder, CALL_CHANNEL, type CallMessage } from '../src/recorder/runtime.js';
import { RECORD_STRIDE, RecordKind, codeId, codeKind, recordCode, type ThreadRecording } from '../src/recorder/recording.js';
import { attachChannels } from '../src/recorder/channels.js';
import { span } from '../src/recorder/span.js';
import { readDump, readDumpDir, writeDump } from '../src/recorder/dump.js';
import { CTL_SLOTS, initControl, readThinning, thinRing } from '../src/recorder/thinning.js';
import { groupProcesses } from '../src/recorder/group.js';
import { WorkerRegistry, announceWorker } from '../src/recorder/workers.js';

interface Rec {
  kind: number;
  id: number;
  start: number;
  end: number;
  depth: number;
  inst: number;
}
function records(r: ThreadRecording): Rec[] {
  const out: Rec[] = [];
  for (let i = 0; i < r.count * RECORD_STRIDE; i += RECORD_STRIDE) {
    const code = r.records[i]!;
    out.push({
      kind: codeKind(code),
      id: codeId(code),
      start: r.records[i + 1]!,
      end: r.records[i + 2]!,
      depth: r.records[i + 3]!,
      inst: r.records[i + 4]!,
    });
  }
  return out;
}

function busy(us: number): void {
  const end = performance.now() + us / 1000;
  while (performance.now() < end) {
    /* spin */
  }
}

test('reg builds the function table with display paths and returns base ids', () => {
  const rec = new Recorder({ capacity: 10, cwd: '/proj' });
  assert.equal(rec.reg('file:///proj/src/a.js', ['f\t3\t4', 'Store.get\t10\t2']), 0);
  assert.equal(rec.reg('/proj/b.ts', ['g\t1\t0\t/proj/orig.ts']), 2);
  assert.deepEqual(rec.functions, [
    { name: 'f', file: 'src/a.js', line: 3, col: 4 },
    { name: 'Store.get', file: 'src/a.js', line: 10, col: 2 },
    { name: 'g', file: 'orig.ts', line: 1, col: 0 },
  ]);
});

test('sync calls record start, end and depth; oldest first', () => {
  const rec = new Recorder({ capacity: 100 });
  const base = rec.reg('/x.js', ['outer\t1\t0', 'inner\t2\t0']);
  const inner = () => {
    const t = rec.en();
    try {
      busy(50);
    } finally {
      rec.ex(base + 1, t);
    }
  };
  const outer = () => {
    const t = rec.en();
    try {
      inner();
      inner();
    } finally {
      rec.ex(base, t);
    }
  };
  outer();
  const rs = records(rec.snapshot());
  assert.deepEqual(
    rs.map((r) => [r.id, r.depth, r.kind]),
    [
      [1, 1, 0],
      [1, 1, 0],
      [0, 0, 0],
    ],
  );
  assert.ok(rs[2]!.start <= rs[0]!.start && rs[2]!.end >= rs[1]!.end, 'outer encloses inner');
  assert.ok(rs[0]!.end - rs[0]!.start >= 50, 'µs units');
  assert.ok(Math.abs(rs[0]!.start / 1000 - performance.now()) < 5000, 'µs since timeOrigin');
});

test('a throwing call is still recorded and depth recovers', () => {
  const rec = new Recorder({ capacity: 10 });
  const f = () => {
    const t = rec.en();
    try {
      throw new Error('x');
    } finally {
      rec.ex(0, t);
    }
  };
  assert.throws(f);
  assert.throws(f);
  assert.deepEqual(
    records(rec.snapshot()).map((r) => r.depth),
    [0, 0],
  );
});

test('calls still running at a snapshot (e.g. around process.exit) are closed at "now"', () => {
  const rec = new Recorder({ capacity: 10 });
  const outer = rec.en(4);
  const anon = rec.en(); // no id: cannot be named, not closed
  const inner = rec.en(5);
  const t = rec.en(6);
  rec.ex(6, t);
  const rs = records(rec.snapshot());
  assert.deepEqual(
    rs.map((r) => [r.id, r.depth]),
    [
      [6, 3],
      [5, 2],
      [4, 0],
    ],
  );
  assert.ok(rs[2]!.start <= rs[1]!.start && rs[1]!.end <= rs[2]!.end);
  rec.ex(5, inner);
  rec.ex(0, anon);
  rec.ex(4, outer);
  assert.deepEqual(
    records(rec.snapshot()).map((r) => r.id),
    [6, 5, 0, 4],
  );
});

test('ring overflow with --on-full drop-oldest keeps the newest records and counts drops', () => {
  const rec = new Recorder({ capacity: 4, onFull: 'drop-oldest' });
  for (let i = 0; i < 10; i++) {
    const t = rec.en();
    rec.ex(i, t);
  }
  const snap = rec.snapshot();
  assert.equal(snap.count, 4);
  assert.equal(snap.dropped, 6);
  assert.deepEqual(
    records(snap).map((r) => r.id),
    [6, 7, 8, 9],
  );
  rec.clear();
  assert.equal(rec.snapshot().count, 0);
  assert.equal(rec.snapshot().dropped, 0);
});

test('a full ring raises the minimum duration instead: every long call of the whole run is kept, nothing shorter', () => {
  const rec = new Recorder({ capacity: 100 });
  // One call in eight spins 300 µs (50 in all: they fit); the others return at once. 400 calls
  // would fill the ring 4 times over.
  const longIds: number[] = [];
  for (let i = 0; i < 400; i++) {
    const t = rec.en();
    if (i % 8 === 0) {
      busy(300);
      longIds.push(i);
    }
    rec.ex(i, t);
  }
  const snap = rec.snapshot();
  assert.equal(snap.dropped, 0, 'nothing is overwritten');
  assert.ok(snap.minDurationRaises && snap.minDurationRaises.length >= 1, 'the minimum was raised');
  const min = snap.minDurationUs!;
  assert.equal(min, snap.minDurationRaises.at(-1)!.minUs);
  assert.ok(min > 0 && min <= 200, `a minimum below the long calls (${min} µs)`);
  const kept = records(snap);
  for (const r of kept) assert.ok(r.end - r.start >= min - 1e-6, `call ${r.id} (${r.end - r.start} µs) is shorter than ${min} µs`); // µs from ms: float noise
  // The first long call is still there: the trace covers the whole run.
  assert.deepEqual(
    kept.filter((r) => r.id % 8 === 0).map((r) => r.id),
    longIds,
  );
  // Raises are times on the recording clock, in order, each to a higher minimum.
  const raises = snap.minDurationRaises;
  for (let k = 1; k < raises.length; k++) {
    assert.ok(raises[k]!.atUs >= raises[k - 1]!.atUs && raises[k]!.minUs > raises[k - 1]!.minUs);
  }
  assert.ok(raises[0]!.atUs >= kept[0]!.start && raises.at(-1)!.atUs <= rec.nowUs());
  // The dump carries the minimum and its raises.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-thin-'));
  try {
    const back = readDump(writeDump(dir, snap, 'p')).recording;
    assert.equal(back.minDurationUs, min);
    assert.deepEqual(back.minDurationRaises, raises);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  rec.clear();
  const fresh = rec.snapshot();
  assert.equal(fresh.minDurationUs, undefined, 'clear() restores the minimum the recorder started with');
  assert.equal(fresh.minDurationRaises, undefined);
});

test('thinning keeps an async Cause with its Callback (both or neither), and user spans always', () => {
  const ctl = new Float64Array(CTL_SLOTS);
  initControl(ctl, 0);
  const S = RECORD_STRIDE;
  // [code, start, end, depth, inst], times in ms: 6 calls of 0.05 µs, a long Cause before a 0.05 µs
  // Callback, a long Cause before a long Callback, a short span, 2 long calls.
  const rows: number[][] = [
    ...Array.from({ length: 6 }, (_, k) => [recordCode(k, RecordKind.Call), k, k + 0.00005, 0, 0]),
    [recordCode(1, RecordKind.Cause), 10, 20, 0, 0],
    [recordCode(0, RecordKind.Callback), 19.99995, 20, 0, 1],
    [recordCode(1, RecordKind.Cause), 30, 40, 0, 0],
    [recordCode(0, RecordKind.Callback), 35, 40, 0, 1],
    [recordCode(0, RecordKind.Span), 41, 41, 0, 0],
    [recordCode(7, RecordKind.Call), 50, 51, 0, 0],
    [recordCode(8, RecordKind.Call), 60, 61, 0, 0],
  ];
  const buf = Float64Array.from(rows.flat());
  const kept = thinRing(buf, rows.length, ctl, 100);
  assert.ok(kept > 0);
  const kinds = Array.from({ length: kept }, (_, i) => [buf[i * S]! % 8, buf[i * S + 1]!]);
  assert.deepEqual(kinds, [
    [RecordKind.Cause, 30],
    [RecordKind.Callback, 35],
    [RecordKind.Span, 41],
    [RecordKind.Call, 50],
    [RecordKind.Call, 60],
  ]);
  // 7 of the 13 records are under 0.1 µs: the first step of the ladder frees half the ring.
  assert.deepEqual(readThinning(ctl), { minDurationUs: 0.1, raises: [{ atUs: 100_000, minUs: 0.1 }] });
});

test('a full ring that thinning cannot free (spans only) drops its oldest records, as before', () => {
  const rec = new Recorder({ capacity: 4 });
  for (let i = 0; i < 10; i++) rec.recordSpan(`s${i}`, rec.nowUs(), rec.nowUs(), 0, 0);
  const snap = rec.snapshot();
  assert.equal(snap.count, 4);
  assert.equal(snap.dropped, 6);
  assert.deepEqual(
    records(snap).map((r) => snap.spanNames[r.id]),
    ['s6', 's7', 's8', 's9'],
  );
  assert.equal(snap.minDurationRaises, undefined);
});

test('the ring grows as calls come, keeps every record while it grows, then wraps at its capacity', () => {
  const rec = new Recorder({ capacity: 300_000, onFull: 'drop-oldest' });
  const kept = () => {
    const ids = records(rec.snapshot()).map((r) => r.id);
    return { count: ids.length, first: ids[0], last: ids.at(-1), ordered: ids.every((id, k) => k === 0 || id === ids[k - 1]! + 1) };
  };
  let i = 0;
  const callsUpTo = (n: number) => {
    for (; i < n; i++) {
      const t = rec.en();
      rec.ex(i, t);
    }
  };
  callsUpTo(100_000); // beyond the first allocation
  assert.deepEqual(kept(), { count: 100_000, first: 0, last: 99_999, ordered: true });
  callsUpTo(300_000); // exactly full
  assert.deepEqual(kept(), { count: 300_000, first: 0, last: 299_999, ordered: true });
  assert.equal(rec.dropped, 0);
  callsUpTo(450_000); // wrapped
  assert.deepEqual(kept(), { count: 300_000, first: 150_000, last: 449_999, ordered: true });
  assert.equal(rec.dropped, 150_000);
  assert.equal(rec.capacity, 300_000);
});

test('min-duration and max-depth filters apply at exit', () => {
  const rec = new Recorder({ capacity: 100, minDurationUs: 20_000, maxDepth: 2 });
  const call = (id: number, us: number, body?: () => void) => {
    const t = rec.en();
    try {
      busy(us);
      body?.();
    } finally {
      rec.ex(id, t);
    }
  };
  call(0, 21_000, () => call(1, 21_000, () => call(2, 21_000)));
  call(3, 0);
  assert.deepEqual(
    records(rec.snapshot()).map((r) => r.id),
    [1, 0],
  );
});

test('throttling: a leaf whose calls in a row are all under the minimum is no longer timed; branches, recursion and subscribers are not throttled', () => {
  const rec = new Recorder({ capacity: 100, minDurationUs: 1e9, throttleAfter: 5 });
  const base = rec.reg('/w/a.js', ['leaf\t1\t0', 'outer\t2\t0', 'rec\t3\t0']);
  const [leaf, outer, recur] = [base, base + 1, base + 2];
  const call = (id: number, body?: () => void) => {
    const t = rec.en(id);
    try {
      body?.();
    } finally {
      rec.ex(id, t);
    }
  };
  // outer makes traced calls: never throttled however many short calls it has.
  for (let i = 0; i < 4; i++) call(outer, () => call(leaf));
  assert.deepEqual(rec.throttled, []);
  call(outer, () => call(leaf)); // the leaf's 5th short call in a row
  assert.deepEqual(
    rec.throttled.map((t) => t.id),
    [leaf],
  );
  assert.ok(rec.throttled[0]!.atUs > 0);
  // Throttled: no clock, no record, but a frame (depth), and its caller's record says it ran one.
  assert.equal(rec.en(leaf), -1);
  assert.equal(rec.callDepth, 1);
  rec.ex(leaf, -1);
  assert.equal(rec.callDepth, 0);
  const kept = new Recorder({ capacity: 100, minDurationUs: 0, throttleAfter: 5 });
  kept.reg('/w/k.js', ['leaf\t1\t0', 'outer\t2\t0', 'plain\t3\t0']);
  (kept as unknown as { off: Uint8Array }).off[0] = 1; // as if throttled
  const t0 = kept.en(1);
  kept.ex(0, kept.en(0));
  kept.ex(1, t0);
  kept.ex(2, kept.en(2));
  assert.deepEqual(
    records(kept.snapshot()).map((r) => [r.id, r.inst]),
    [
      [1, -1],
      [2, 0],
    ],
  );
  for (let i = 0; i < 10; i++) call(outer, () => call(leaf));
  assert.deepEqual(
    rec.throttled.map((t) => t.id),
    [leaf],
  );
  // A recursion's innermost calls run before any outer call of it has ended: not throttled.
  call(recur, () => {
    for (let i = 0; i < 10; i++) call(recur);
  });
  for (let i = 0; i < 10; i++) call(recur);
  assert.deepEqual(
    rec.throttled.map((t) => t.id),
    [leaf],
  );
  // Subscribers see every call, throttled or not, whichever events they listen to.
  for (const only of ['start', 'end'] as const) {
    const seen: string[] = [];
    const ch = diagnostics_channel.channel(`tracing:${CALL_CHANNEL}:${only}`);
    const onMessage = (m: unknown) => seen.push((m as CallMessage).name);
    ch.subscribe(onMessage);
    try {
      call(leaf);
    } finally {
      ch.unsubscribe(onMessage);
    }
    assert.deepEqual(seen, ['leaf'], only);
  }
  // A throttled function whose call makes a traced call is no leaf: timed again from then on.
  call(leaf, () => call(outer));
  const again = rec.throttled.find((t) => t.id === leaf)!;
  assert.ok(again.untilUs! >= again.atUs);
  assert.notEqual(rec.en(leaf), -1);
  rec.ex(leaf, 0);
  const snap = rec.snapshot();
  assert.deepEqual(
    snap.throttled?.map((t) => [t.id, t.minUs, t.untilUs !== undefined]),
    [[leaf, 1e9, true]],
  );
  assert.equal(snap.throttleAfter, 5);
  // clear() starts over; throttleAfter 0 never throttles.
  rec.clear();
  assert.deepEqual(rec.throttled, []);
  const never = new Recorder({ capacity: 100, minDurationUs: 1e9, throttleAfter: 0 });
  const b = never.reg('/w/b.js', ['leaf\t1\t0']);
  for (let i = 0; i < 20_000; i++) never.ex(b, never.en(b));
  assert.equal(never.snapshot().throttled, undefined);
  // 65,536 calls deep the per-depth flags wrap: from then on nothing is throttled.
  const deep = new Recorder({ capacity: 100, minDurationUs: 1e9, throttleAfter: 5 });
  const d0 = deep.reg('/w/d.js', ['nest\t1\t0', 'leaf\t2\t0']);
  const tokens: number[] = [];
  for (let i = 0; i < 65_537; i++) tokens.push(deep.en(d0));
  while (tokens.length) deep.ex(d0, tokens.pop()!);
  for (let i = 0; i < 20; i++) deep.ex(d0 + 1, deep.en(d0 + 1));
  assert.equal(deep.snapshot().throttled, undefined);
  // Nothing is throttled while every call is kept (no minimum in force).
  const all = new Recorder({ capacity: 100_000, throttleAfter: 5 });
  const c = all.reg('/w/c.js', ['leaf\t1\t0']);
  for (let i = 0; i < 50; i++) all.ex(c, all.en(c));
  assert.equal(all.snapshot().count, 50);
});

test("a worker's throttled functions reach the main thread, which reads the worker's shared ring", async () => {
  const registry = new WorkerRegistry();
  const rec = new Recorder({ capacity: 100, minDurationUs: 1e9, throttleAfter: 3, shared: true, tid: 7, threadName: 'worker 7' });
  const base = rec.reg('/w/w.js', ['hot\t1\t0']);
  announceWorker(rec);
  for (let i = 0; i < 3; i++) rec.ex(base, rec.en(base));
  await new Promise((r) => setTimeout(r, 20));
  const seen = registry.snapshots().find((t) => t.tid === 7);
  assert.ok(seen, 'the registry saw the worker');
  assert.deepEqual(
    seen.throttled?.map((t) => seen.functions[t.id]?.name),
    ['hot'],
  );
  assert.equal(seen.throttleAfter, 3);
});

test('async function: segments around awaits, lifetime, instance numbers, depth', async () => {
  const rec = new Recorder({ capacity: 100 });
  const af = async () => {
    const f = rec.fn(7, 1);
    try {
      rec.re(f, await rec.su(f, new Promise((r) => setTimeout(r, 5))));
      rec.re(f, await rec.su(f, 1));
    } finally {
      rec.fx(f);
    }
  };
  const t = rec.en();
  const p1 = af();
  const p2 = af();
  rec.ex(1, t);
  await Promise.all([p1, p2]);
  const rs = records(rec.snapshot());
  const seg = rs.filter((r) => r.kind === RecordKind.AsyncSegment);
  const life = rs.filter((r) => r.kind === RecordKind.AsyncLifetime);
  assert.equal(seg.length, 6);
  assert.equal(life.length, 2);
  assert.deepEqual(life.map((r) => r.inst).sort(), [1, 2]);
  // first segments run inside the sync caller (depth 1), continuations from the microtask queue (depth 0)
  assert.deepEqual(
    seg.filter((r) => r.inst === 1).map((r) => r.depth),
    [1, 0, 0],
  );
  const l1 = life.find((r) => r.inst === 1)!;
  assert.ok(l1.end - l1.start >= 4000, 'lifetime spans the 5 ms sleep');
  assert.equal(rs.find((r) => r.id === 1)!.depth, 0, 'caller depth unaffected by the suspended calls');
});

test('generator segments are Call records; no lifetime', () => {
  const rec = new Recorder({ capacity: 100 });
  function* g() {
    const f = rec.fn(3, 2);
    try {
      rec.re(f, yield rec.su(f, 1));
      rec.re(f, yield rec.su(f, 2));
    } finally {
      rec.fx(f);
    }
  }
  const it = g();
  assert.deepEqual([...it], [1, 2]);
  const rs = records(rec.snapshot());
  assert.equal(rs.length, 3);
  assert.ok(rs.every((r) => r.kind === RecordKind.Call && r.id === 3));
});

test('generator closed while suspended: no extra segment, depth intact', () => {
  const rec = new Recorder({ capacity: 100 });
  function* g() {
    const f = rec.fn(3, 2);
    try {
      rec.re(f, yield rec.su(f, 1));
    } finally {
      rec.fx(f);
    }
  }
  const it = g();
  it.next();
  it.return(undefined);
  const t = rec.en();
  rec.ex(9, t);
  const rs = records(rec.snapshot());
  assert.equal(rs.length, 2);
  assert.equal(rs[1]!.depth, 0);
});

test('calls are published on the stackscope:call tracing channel, only while subscribed', () => {
  const rec = new Recorder({ capacity: 10, minDurationUs: 1e9 }); // filters shape the trace, not the channel
  rec.reg('/w/a.js', ['f\t2\t0', 'g\t5\t0']);
  const got: [string, CallMessage][] = [];
  const handlers = {
    start: (m: unknown) => got.push(['start', { ...(m as CallMessage) }]),
    end: (m: unknown) => got.push(['end', m as CallMessage]),
    asyncStart: (m: unknown) => got.push(['asyncStart', m as CallMessage]),
    asyncEnd: (m: unknown) => got.push(['asyncEnd', m as CallMessage]),
    error: () => {},
  };
  const ch = diagnostics_channel.tracingChannel(CALL_CHANNEL);
  let t = rec.en(0);
  rec.ex(0, t); // nobody listens yet
  ch.subscribe(handlers);
  try {
    t = rec.en(0);
    rec.ex(0, t);
    const f = rec.fn(1, 1); // an async call: returns at its first await, settles later
    rec.su(f, 1);
    rec.re(f, 1);
    rec.su(f, 2);
    rec.re(f, 2);
    rec.fx(f);
  } finally {
    ch.unsubscribe(handlers);
  }
  assert.deepEqual(
    got.map(([e, m]) => `${e} ${m.name} ${m.kind}`),
    ['start f sync', 'end f sync', 'start g async', 'end g async', 'asyncStart g async', 'asyncEnd g async'],
  );
  const [, syncEnd] = got[1]!;
  assert.equal(syncEnd.line, 2);
  assert.ok(syncEnd.end! >= syncEnd.start);
  const [, asyncEnd] = got[5]!;
  assert.strictEqual(asyncEnd, got[3]![1], 'one context object per call, as TracingChannel subscribers expect');
  assert.ok(asyncEnd.settled! >= asyncEnd.end! && asyncEnd.end! >= asyncEnd.start);
  assert.equal(rec.count, 0, 'the min-duration filter kept them out of the trace');
});

test("a subscriber's own traced calls are recorded, not published again (no endless recursion)", () => {
  const rec = new Recorder({ capacity: 100 });
  rec.reg('/w/s.js', ['work\t1\t0', 'onStart\t2\t0']);
  const seen: string[] = [];
  const ch = diagnostics_channel.channel(`tracing:${CALL_CHANNEL}:start`);
  // The handler is itself traced code: it enters and leaves a traced function.
  const onStart = (m: unknown) => {
    const t = rec.en(1);
    seen.push((m as CallMessage).name);
    rec.ex(1, t);
  };
  ch.subscribe(onStart);
  try {
    for (let i = 0; i < 3; i++) rec.ex(0, rec.en(0));
  } finally {
    ch.unsubscribe(onStart);
  }
  assert.deepEqual(seen, ['work', 'work', 'work']);
  assert.deepEqual(
    records(rec.snapshot()).map((r) => r.id),
    [1, 0, 1, 0, 1, 0],
  );
});

test('the re-entrancy guard survives a nested publish; while subscribed nothing is reported throttled; a running call at a snapshot keeps its untimed mark', () => {
  const rec = new Recorder({ capacity: 100 });
  rec.reg('/w/r.js', ['trigger\t1\t0', 'gen\t2\t0', 'helper\t3\t0']);
  const seen: string[] = [];
  const start = diagnostics_channel.channel(`tracing:${CALL_CHANNEL}:start`);
  const end = diagnostics_channel.channel(`tracing:${CALL_CHANNEL}:end`);
  let g: ReturnType<Recorder['fn']> | undefined;
  const onStart = (m: unknown) => {
    const name = (m as CallMessage).name;
    seen.push(`start ${name}`);
    if (name !== 'trigger') return;
    // Inside the handler: a generator started outside finishes (a nested publish), then the
    // handler's own traced call, which must not be published.
    rec.re(g!);
    rec.fx(g!);
    rec.ex(2, rec.en(2));
  };
  const onEnd = (m: unknown) => seen.push(`end ${(m as CallMessage).name}`);
  start.subscribe(onStart);
  end.subscribe(onEnd);
  try {
    g = rec.fn(1, 2);
    rec.su(g, 0);
    rec.ex(0, rec.en(0));
  } finally {
    start.unsubscribe(onStart);
    end.unsubscribe(onEnd);
  }
  assert.deepEqual(seen, ['start gen', 'end gen', 'start trigger', 'end trigger']);

  const sub = new Recorder({ capacity: 100, minDurationUs: 1e9, throttleAfter: 5 });
  const leaf = sub.reg('/w/s.js', ['leaf\t1\t0']);
  const noop = () => {};
  start.subscribe(noop);
  try {
    for (let i = 0; i < 20; i++) sub.ex(leaf, sub.en(leaf));
  } finally {
    start.unsubscribe(noop);
  }
  assert.equal(sub.snapshot().throttled, undefined, 'every call was timed: none is reported throttled');

  const open = new Recorder({ capacity: 100, throttleAfter: 5 });
  open.reg('/w/o.js', ['leaf\t1\t0', 'outer\t2\t0']);
  (open as unknown as { off: Uint8Array }).off[0] = 1; // as if throttled
  open.en(1);
  open.ex(0, open.en(0));
  assert.deepEqual(
    records(open.snapshot()).map((r) => [r.id, r.inst]),
    [[1, -1]],
  );
});

test('our own subscribers swallow malformed messages (one stderr line, no throw)', () => {
  const rec = new Recorder({ capacity: 10 });
  const detach = attachChannels(rec);
  const write = process.stderr.write;
  const lines: string[] = [];
  process.stderr.write = ((s: string) => {
    lines.push(String(s));
    return true;
  }) as typeof process.stderr.write;
  try {
    assert.doesNotThrow(() => diagnostics_channel.channel('http.server.request.start').publish(undefined));
    assert.doesNotThrow(() => diagnostics_channel.channel('http.server.response.finish').publish(null));
  } finally {
    process.stderr.write = write;
    detach();
  }
  assert.ok(lines.length <= 1 && lines.every((l) => l.startsWith('stackscope: ')), lines.join(''));
});

test('spans (sync, async, rejected) become Span records; untraced span is transparent', async () => {
  assert.equal(
    span('none', () => 5),
    5,
  );
  const rec = new Recorder({ capacity: 100 });
  const detach = attachChannels(rec);
  let awaited = 0;
  try {
    assert.equal(
      span('s1', () => {
        busy(100);
        return 1;
      }),
      1,
    );
    // The body's own clock, not the timer's delay: libuv can fire a timer early against performance.now().
    assert.equal(
      await span('s2', async () => {
        const t = performance.now();
        await new Promise((r) => setTimeout(r, 3));
        awaited = performance.now() - t;
        return 2;
      }),
      2,
    );
    await assert.rejects(
      span('s3', async () => {
        throw new Error('no');
      }),
      /no/,
    );
    assert.throws(
      () =>
        span('s4', () => {
          throw new Error('sync no');
        }),
      /sync no/,
    );
  } finally {
    detach();
  }
  const snap = rec.snapshot();
  const rs = records(snap).filter((r) => r.kind === RecordKind.Span);
  assert.deepEqual(
    rs.map((r) => snap.spanNames[r.id]),
    ['s1', 's2', 's3', 's4'],
  );
  assert.ok(
    awaited > 0 && rs[1]!.end - rs[1]!.start >= awaited * 1000,
    `async span lasts until settled (${rs[1]!.end - rs[1]!.start} µs, awaited ${awaited} ms)`,
  );
});

test('Node events: HTTP server and client requests are slices with status, one category per side', async () => {
  const http = await import('node:http');
  const rec = new Recorder({ capacity: 10 });
  const detach = attachChannels(rec);
  try {
    const server = http.createServer((req, res) => {
      res.statusCode = 201;
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const res = await fetch(`http://127.0.0.1:${port}/hello?x=1`);
    await res.text();
    await new Promise<void>((r) =>
      http.get(`http://127.0.0.1:${port}/viaget`, (got) => {
        got.resume();
        got.on('end', r);
      }),
    );
    await new Promise((r) => server.close(r));
  } finally {
    detach();
  }
  const names = rec.nodeEvents.map((e) => `${e.cat}:${e.ph}:${e.name}`);
  assert.ok(names.includes('http.server:X:HTTP GET /hello'), names.join(', '));
  assert.ok(names.includes('http.server:X:HTTP GET /viaget'), names.join(', '));
  assert.ok(names.includes(`http.client:X:HTTP GET 127.0.0.1/viaget`), names.join(', '));
  assert.ok(
    names.some((n) => n.startsWith('fetch:X:fetch GET http://127.0.0.1')),
    names.join(', '),
  );
  assert.equal(rec.nodeEvents.find((e) => e.name === 'HTTP GET /hello')!.args!.status, 201);
});

test('Node events are capped and drops counted', () => {
  const rec = new Recorder({ capacity: 10, nodeEventCap: 2 });
  for (let i = 0; i < 5; i++) rec.addNodeEvent({ ph: 'I', name: 'e', cat: 'net', ts: i });
  assert.equal(rec.nodeEvents.length, 2);
  assert.equal(rec.snapshot().droppedNodeEvents, 3);
});

test('dump round trip, one process per pid, threads in tid order', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-dump-'));
  try {
    const main = new Recorder({ capacity: 8, pid: 100, tid: 0, cwd: '/p' });
    main.reg('/p/a.js', ['f\t1\t0', 'g\t2\t5\t/p/b.js']);
    for (let i = 0; i < 11; i++) {
      const t = main.en();
      main.ex(i % 2, t);
    }
    main.addNodeEvent({ ph: 'X', name: 'GC (minor)', cat: 'gc', ts: 5, dur: 1 });
    main.spanId('my span');
    const worker = new Recorder({ capacity: 8, pid: 100, tid: 2, threadName: 'worker 2' });
    const child = new Recorder({ capacity: 8, pid: 200, tid: 0 });
    writeDump(dir, worker.snapshot(), 'node app.js');
    const snap = main.snapshot();
    const file = writeDump(dir, snap, 'node app.js');
    writeDump(dir, child.snapshot(), 'node app.js child');
    fs.writeFileSync(path.join(dir, 'junk.ssdump'), 'nope');

    const back = readDump(file).recording;
    assert.deepEqual({ ...back, records: [...back.records] }, { ...snap, records: [...snap.records] });
    const errors: string[] = [];
    const all = readDumpDir(dir, (f) => errors.push(f));
    assert.deepEqual(errors, ['junk.ssdump']);
    const procs = groupProcesses(all);
    assert.deepEqual(
      procs.map((p) => [p.pid, p.name, p.threads.map((t) => t.tid)]),
      [
        [100, 'node app.js', [0, 2]],
        [200, 'node app.js child', [0]],
      ],
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
