/** The agent's data structures: interned stacks, windows from chunks, the bounded history, stalls. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WindowHistory } from '../src/agent/history.js';
import { StallLog } from '../src/agent/stalls.js';
import { CountTable, NO_STACK, StackStore, RARE_FRAME } from '../src/agent/store.js';
import { NO_SAMPLES_NOTE, WindowRecorder, type Chunk } from '../src/agent/windows.js';

const frame = (name: string) => ({ name, file: '/app/x.js', line: 1, col: 1 });

/** A chunk of samples every `stepUs` from `fromUs` to `toUs`, each on stack `stackOf(i)`. */
function chunk(store: StackStore, fromUs: number, toUs: number, stepUs: number, stackOf: (i: number) => number): Chunk {
  const ts: number[] = [];
  const stacks: number[] = [];
  for (let t = fromUs, i = 0; t < toUs; t += stepUs, i++) {
    ts.push(t);
    stacks.push(stackOf(i));
  }
  return { store, startUs: fromUs, endUs: toUs, ts: Float64Array.from(ts), stacks: Int32Array.from(stacks) };
}

// Monotonic µs = epoch ms × 1000 here, so times read directly.
const recorder = (store: StackStore, history: WindowHistory, windowMs: number, maxStacks = 5000) =>
  new WindowRecorder(store, history, { windowMs, intervalUs: 10_000, maxStacks, epochOfUs: (us) => us / 1000, startMs: 0 });

test('frames and stacks are interned once; a stack is its prefix-tree id', () => {
  const s = new StackStore();
  const a = s.stack(NO_STACK, s.frame(frame('a')));
  const ab = s.stack(a, s.frame(frame('b')));
  assert.equal(s.stack(s.stack(NO_STACK, s.frame({ ...frame('a') })), s.frame(frame('b'))), ab);
  assert.equal(s.frames.length, 2);
  assert.deepEqual(
    s.framesOf(ab).map((f) => s.frames[f]!.name),
    ['a', 'b'],
  );
  const before = s.bytes;
  const long = 'n'.repeat(4000);
  s.frame(frame(long));
  assert.ok(s.bytes - before >= 8000, 'a 4,000-character name is accounted by its length');
});

test('windows come from chunks by sample time: 1 s buckets, chunk boundaries invisible, duplicates counted once', () => {
  const store = new StackStore();
  const hot = store.stack(NO_STACK, store.frame(frame('hot')));
  const history = new WindowHistory('x');
  const r = recorder(store, history, 2000);
  // Chunks of 700 ms (not aligned to anything), one sample per 10 ms; the second overlaps the first by 100 ms.
  r.addChunk(chunk(store, 0, 700_000, 10_000, () => hot));
  r.addChunk(chunk(store, 600_000, 1_400_000, 10_000, () => hot));
  r.addChunk(chunk(store, 1_400_000, 2_100_000, 10_000, (i) => (i % 2 ? hot : NO_STACK)));
  assert.equal(history.size, 1);
  const w = history.since(undefined).windows[0]!;
  assert.equal(w.startMs, 0);
  assert.equal(w.endMs, 2000);
  // [0, 1 s): 100 samples; [1 s, 2 s): 40 hot + 30 of every other 10 ms.
  const counts = Array.from(w.counts);
  assert.deepEqual(counts, [0, hot, 100, 1000, hot, 70]);
  assert.equal(w.samples, 170);
  assert.equal(w.idleSamples, 30);
  assert.deepEqual(w.notes, []);
  assert.equal(r.cumulative.samples, 175, 'GET / counts the open window too');
});

test('a window in which the profiler recorded nothing carries a note', () => {
  const store = new StackStore();
  const history = new WindowHistory('x');
  const r = recorder(store, history, 1000);
  r.addChunk({ store, startUs: 0, endUs: 2_000_000, ts: new Float64Array(0), stacks: new Int32Array(0) });
  const ws = history.since(undefined).windows;
  assert.equal(ws.length, 2);
  for (const w of ws) assert.deepEqual(w.notes, [NO_SAMPLES_NOTE]);
  // A window only partly covered by chunks says how much was recorded.
  r.addChunk(chunk(store, 2_000_000, 2_300_000, 10_000, () => NO_STACK));
  r.addChunk(chunk(store, 2_900_000, 3_000_000, 10_000, () => NO_STACK));
  assert.match(history.newest!.notes.join(), /profiler ran for 400 ms of this window's 1000 ms/);
});

test('tables fold their rarest stacks beyond maxStacks, and say how many', () => {
  const store = new StackStore();
  const t = new CountTable(store);
  for (let i = 0; i < 100; i++) t.add(store.stack(NO_STACK, store.frame(frame(`f${i}`))), i + 1);
  t.foldTo(10);
  assert.equal(t.counts.size, 10);
  assert.equal(t.foldedStacks, 91);
  assert.equal(t.foldedSamples, (91 * 92) / 2);
  assert.equal(
    [...t.counts.values()].reduce((a, b) => a + b, 0),
    t.samples,
    'no sample lost',
  );
  assert.equal(store.frames[store.framesOf(store.rareStack())[0]!]!.name, RARE_FRAME.name);
});

test('migrating to a new store keeps the heaviest stacks within its byte bound and every sample', () => {
  const store = new StackStore();
  const history = new WindowHistory('x');
  const r = recorder(store, history, 10_000);
  const stacks = Array.from({ length: 200 }, (_, i) => store.stack(NO_STACK, store.frame(frame(`${'x'.repeat(4000)}${i}`))));
  // Stack i gets i + 1 samples.
  const ts: number[] = [];
  const ids: number[] = [];
  let t = 0;
  stacks.forEach((s, i) => {
    for (let k = 0; k <= i; k++) {
      ts.push((t += 100));
      ids.push(s);
    }
  });
  r.addChunk({ store, startUs: 0, endUs: t + 1, ts: Float64Array.from(ts), stacks: Int32Array.from(ids) });
  const next = r.migrate(100_000);
  assert.notEqual(next, store);
  assert.ok(next.bytes < 100_000 + 9000, `new store ${next.bytes} bytes`);
  assert.equal(r.cumulative.samples, ids.length);
  assert.equal(
    [...r.cumulative.counts.values()].reduce((a, b) => a + b, 0),
    ids.length,
    'every sample still counted',
  );
  const kept = [...r.cumulative.counts.keys()]
    .filter((s) => !next.isRare(s))
    .map((s) => next.frames[next.framesOf(s)[0]!]!.name.slice(4000));
  assert.ok(kept.includes('199') && !kept.includes('0'), 'the heaviest stacks are kept');
  assert.ok(r.cumulative.foldedStacks > 150);
});

test('history: bounded by count and by dropOldest; one answer is bounded in count entries', () => {
  const h = new WindowHistory('x', 5);
  const store = new StackStore();
  for (let i = 0; i < 8; i++) {
    h.push({
      startMs: i,
      endMs: i + 1,
      intervalUs: 1,
      samples: 3,
      idleSamples: 0,
      store,
      counts: Float64Array.from([0, 0, 1, 0, 1, 1, 0, 2, 1]),
      foldedStacks: 0,
      notes: [],
    });
  }
  assert.equal(h.size, 5);
  assert.equal(h.totalSamples, 24);
  h.dropOldest();
  const r = h.since('x-1');
  assert.deepEqual(
    r.windows.map((w) => w.seq),
    [5, 6, 7, 8],
  );
  assert.equal(r.missedWindows, 3);
  const partial = h.since('x-4', Infinity, 7);
  assert.deepEqual(
    partial.windows.map((w) => w.seq),
    [5, 6],
  );
  assert.equal(partial.cursor, 'x-6');
  assert.throws(() => h.since('x-99'), /ahead of this agent/);
  assert.throws(() => h.since('x y'), /bad cursor/);
  const restarted = h.since('other-3');
  assert.equal(restarted.restarted, true);
  // Windows 1–4 of this instance were dropped before the asker (who read another instance) saw them.
  assert.equal(restarted.missedWindows, 4);
  assert.deepEqual(
    restarted.windows.map((w) => w.seq),
    [5, 6, 7, 8],
  );
  assert.equal(h.since(undefined).missedWindows, 0, 'a first read misses nothing it ever asked for');
});

test('stalls waiting for a chunk that never comes are bounded', () => {
  const log = new StallLog(
    (us) => us / 1000,
    () => 'a;b',
    30e6,
    5,
  );
  for (let i = 0; i < 100; i++) log.addStall({ startUs: i * 1e6, endUs: i * 1e6 + 200_000 });
  assert.equal((log as unknown as { pending: unknown[] }).pending.length, 5);
  log.addChunk({ store: new StackStore(), startUs: 199e6, endUs: 200e6, ts: new Float64Array(0), stacks: new Int32Array(0) });
  assert.equal(log.stalls.length, 5);
  assert.equal(log.stalls[0]!.startMs, 95_000);
});
