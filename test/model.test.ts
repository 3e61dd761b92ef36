import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ProfileBuilder,
  NO_STACK,
  stackFrames,
  totalWeight,
  merge,
  filterTime,
  callTree,
  functionWeights,
  prune,
  diffFunctions,
  diffStacks,
  addTrackSlices,
  parseFrameLabel,
  frameRole,
  OTHER_FRAME,
  type Frame,
  type Profile,
} from '../src/model/index.js';

const fr = (name: string, file = '/app/src/a.ts', line = 1): Frame => ({ name, file, line, col: 0 });

/** A profile from `frames;frames count@time` shorthand. */
function build(rows: [string[], number, number?][], unit: 'samples' | 'microseconds' = 'samples'): Profile {
  const b = new ProfileBuilder(unit);
  for (const [names, w, t] of rows) b.sample(b.stackOf(names.map((n) => b.frame(fr(n)))), w, t);
  return b.build();
}
const names = (p: Profile, s: number) =>
  stackFrames(p, s)
    .map((f) => p.frames[f]!.name)
    .join(';');

test('the builder interns frames and stacks once', () => {
  const p = build([
    [['main', 'a'], 2],
    [['main', 'a'], 3],
    [['main', 'b'], 1],
  ]);
  assert.equal(p.frames.length, 3);
  assert.equal(p.stackParent.length, 3); // main, main;a, main;b
  assert.equal(totalWeight(p), 6);
  assert.deepEqual(
    p.sampleStack.map((s) => names(p, s)),
    ['main;a', 'main;a', 'main;b'],
  );
  assert.equal(p.stackParent[0], NO_STACK);
});

test('call tree, function weights (recursion counted once), merge and time filter', () => {
  const p = build([
    [['main', 'f', 'f'], 4, 10],
    [['main', 'g'], 1, 20],
    [['main'], 5, 30],
  ]);
  const t = callTree(p);
  assert.deepEqual(Array.from(t.total), [10, 4, 4, 1]);
  assert.deepEqual(Array.from(t.self), [5, 0, 4, 1]);
  const fw = new Map(functionWeights(p).map((f) => [f.frame.name, f]));
  assert.equal(fw.get('f')!.total, 4); // not 8
  assert.equal(fw.get('f')!.self, 4);
  assert.equal(fw.get('main')!.total, 10);
  const m = merge([p, p]);
  assert.equal(totalWeight(m), 20);
  assert.equal(m.frames.length, p.frames.length);
  const f = filterTime(p, 15, 30);
  assert.equal(totalWeight(f), 1);
});

test('prune keeps the heaviest nodes and moves the rest to (other) without changing totals', () => {
  const rows: [string[], number][] = [[['main', 'hot'], 100]];
  for (let i = 0; i < 50; i++) rows.push([['main', `cold${i}`], 1]);
  const p = build(rows);
  const q = prune(p, 2);
  assert.equal(totalWeight(q), totalWeight(p));
  const byName = new Map(q.sampleStack.map((s, i) => [names(q, s), q.sampleWeight[i]]));
  assert.equal(byName.get('main;hot'), 100);
  assert.equal(byName.get(`main;${OTHER_FRAME.name}`), 50);
  assert.match(q.meta.notes!.join(), /50 lighter call-tree nodes/);
});

test('diff pairs a relative file with the absolute one it ends with', () => {
  const a = new ProfileBuilder();
  a.sample(a.stackOf([a.frame(fr('x', '/home/u/proj/src/a.ts', 3))]), 10);
  const b = new ProfileBuilder();
  b.sample(b.stackOf([b.frame(fr('x', 'src/a.ts', 3))]), 4);
  const d = diffFunctions(a.build(), b.build(), '/elsewhere');
  assert.equal(d.length, 1);
  assert.equal(d[0]!.selfA, 10);
  assert.equal(d[0]!.selfB, 4);
  const s = diffStacks(a.build(), b.build());
  assert.equal(s.length, 1);
});

test('slices become self-time samples; calls are counted, continuations are not', () => {
  const b = new ProfileBuilder('microseconds');
  addTrackSlices(b, [
    { frame: fr('main'), ts: 0, dur: 100 },
    { frame: fr('child'), ts: 10, dur: 30 },
    { frame: fr('child'), ts: 50, dur: 20 },
    { frame: fr('child'), ts: 80, dur: 10, continuation: true },
    { frame: fr('crossing'), ts: 95, dur: 20 },
  ]);
  const p = b.build();
  const fw = new Map(functionWeights(p).map((f) => [f.frame.name, f]));
  assert.equal(fw.get('main')!.self, 40);
  assert.equal(fw.get('child')!.self, 60);
  assert.equal(p.frameCalls![p.frames.findIndex((f) => f.name === 'child')], 2);
  assert.equal(fw.has('crossing'), false);
});

test('labels parse once; pseudo-frames have one rule', () => {
  assert.deepEqual(parseFrameLabel('Store.get (src/store.ts:48)'), { name: 'Store.get', file: 'src/store.ts', line: 48, col: 0 });
  assert.deepEqual(parseFrameLabel('(program)'), { name: '(program)', file: '', line: 0, col: 0 });
  assert.equal(frameRole('(idle)', ''), 'idle');
  assert.equal(frameRole('(root)', ''), 'root');
  assert.equal(frameRole('(program)', ''), 'cpu');
  assert.equal(frameRole('(garbage collector)', ''), 'cpu');
});

test('filterFrames hides frames like pprof -hide; timeWeighted weighs samples by their durations', async () => {
  const { filterFrames, timeWeighted } = await import('../src/model/index.js');
  const b = new ProfileBuilder();
  const [main, harness, work] = [b.frame(fr('main')), b.frame(fr('harness', '/bench/h.ts')), b.frame(fr('work'))];
  b.sample(b.stackOf([main, harness, work]), 1, 10, 250);
  b.sample(b.stackOf([harness]), 1, 20, 100);
  b.countCalls(work, 3);
  const p = b.build();
  const q = filterFrames(p, (f) => f.file !== '/bench/h.ts');
  assert.deepEqual(
    q.sampleStack.map((s) => names(q, s)),
    ['main;work'],
    'a stack of hidden frames only is dropped',
  );
  assert.deepEqual([q.sampleTime[0], q.sampleDurationUs![0]], [10, 250]);
  assert.equal(q.frameCalls![q.frames.findIndex((f) => f.name === 'work')], 3);
  const t = timeWeighted(p)!;
  assert.equal(t.unit, 'microseconds');
  assert.equal(totalWeight(t), 350);
  assert.equal(timeWeighted(build([[['x'], 1]])), null, 'no durations: no time');
  const d = diffFunctions(p, t);
  assert.equal(d.find((c) => c.frame.name === 'work')!.callsA, 3);
  assert.equal(d.find((c) => c.frame.name === 'work')!.callsB, 3);
  assert.equal(diffFunctions(build([[['x'], 1]]), p).find((c) => c.frame.name === 'x')!.callsA, null, 'unknown calls are null');
});
