/** `compare`: per-function times from traces, cpuprofiles and folded stacks, and their diff. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { traceTimes, loadProfile, diffProfiles, compareProfiles } from '../src/compare/index.js';
import type { TraceEvent } from '../src/formats/trace-event.js';
import type { CpuProfile } from '../src/formats/cpuprofile.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist/cli/index.js');
const X = (name: string, ts: number, dur: number, extra: Partial<TraceEvent> = {}): TraceEvent => ({
  ph: 'X',
  name,
  ts,
  dur,
  pid: 1,
  tid: 0,
  ...extra,
});

function tmp(name: string, content: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compare-test-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

test('trace: self = dur - children, total counts recursion once, calls count slices', () => {
  const p = traceTimes('t', [
    X('main (a.ts:1)', 1, 100),
    X('fib (a.ts:5)', 10, 60),
    X('fib (a.ts:5)', 20, 40),
    X('fib (a.ts:5)', 30, 10),
    X('leaf (a.ts:9)', 70, 20),
  ]);
  const f = (l: string) => p.functions.get(l)!;
  assert.deepEqual(f('main (a.ts:1)'), { label: 'main (a.ts:1)', calls: 1, self: 20, total: 100 });
  assert.deepEqual(f('fib (a.ts:5)'), { label: 'fib (a.ts:5)', calls: 3, self: 60, total: 60 });
  assert.deepEqual(f('leaf (a.ts:9)'), { label: 'leaf (a.ts:9)', calls: 1, self: 20, total: 20 });
  assert.equal(p.grandTotal, 100);
});

test('trace: async segments count, continuations join their function, lifetimes and Node events do not', () => {
  const p = traceTimes('t', [
    { ph: 'M', name: 'thread_name', pid: 1, tid: 7, args: { name: 'async 1' } },
    X('sync (a.ts:2)', 1, 10, { cat: 'async' }),
    X('resumed: sync (a.ts:2)', 50, 5, { cat: 'async' }),
    X('sync (a.ts:2)', 1, 60, { tid: 7 }), // lifetime lane
    X('GET /x', 11, 39, { cat: 'http', tid: 8 }),
    X('other', 100, 4, { tid: 1 }), // another thread's track
  ]);
  const f = p.functions.get('sync (a.ts:2)')!;
  assert.equal(f.calls, 1);
  assert.equal(f.self, 15);
  assert.equal(f.total, 15);
  assert.equal(p.functions.has('GET /x'), false);
  assert.equal(p.functions.get('other')!.self, 4);
});

test('trace: an async call whose short first segment is missing is counted by its lifetime; calls that never settled by their first segment', () => {
  const p = traceTimes('t', [
    { ph: 'M', name: 'thread_name', pid: 1, tid: 7, args: { name: 'async 1' } },
    // call 1: first segment recorded; call 2: only its continuation lasted the minimum duration
    X('load (a.ts:2)', 1, 10, { cat: 'async' }),
    X('resumed: load (a.ts:2)', 50, 5, { cat: 'async' }),
    X('resumed: load (a.ts:2)', 80, 7, { cat: 'async' }),
    X('load (a.ts:2)', 1, 60, { tid: 7 }),
    X('load (a.ts:2)', 70, 20, { tid: 7 }),
    // an async span on the lanes: not a function, its calls are counted as before (none here)
    X('my span', 2, 30, { tid: 7 }),
    // a call that never settled (no lifetime), and a sync function of the same label (two arrows on one line)
    X('load (a.ts:2)', 100, 3, { cat: 'async' }),
    X('load (a.ts:2)', 110, 4),
  ]);
  const f = p.functions.get('load (a.ts:2)')!;
  assert.equal(f.calls, 4);
  assert.equal(f.self, 29);
  assert.equal(p.functions.has('my span'), false);
});

test('cpuprofile and folded: sample weights to leaf self and to every frame total', () => {
  const prof: CpuProfile = {
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', scriptId: 0, url: '', lineNumber: -1, columnNumber: -1 }, children: [2, 4] },
      { id: 2, callFrame: { functionName: 'main', scriptId: 1, url: 'file:///x/app.js', lineNumber: 0, columnNumber: 0 }, children: [3] },
      { id: 3, callFrame: { functionName: 'hot', scriptId: 1, url: 'file:///x/app.js', lineNumber: 9, columnNumber: 0 } },
      { id: 4, callFrame: { functionName: '(idle)', scriptId: 0, url: '', lineNumber: -1, columnNumber: -1 } },
    ],
    startTime: 0,
    endTime: 400,
    samples: [3, 3, 2, 4, 3],
    timeDeltas: [0, 100, 100, 100, 100],
  };
  const cp = loadProfile(tmp('p.cpuprofile', JSON.stringify(prof)));
  assert.equal(cp.kind, 'cpuprofile');
  assert.equal(cp.functions.get('hot (/x/app.js:10)')!.self, 200); // the last sample has no weight
  assert.equal(cp.functions.get('main (/x/app.js:1)')!.total, 300);
  assert.equal(cp.functions.has('(idle)'), false);
  const fo = loadProfile(tmp('p.folded', 'main;rec;rec;hot 3\nmain 1\n'));
  assert.equal(fo.unit, 'samples');
  assert.deepEqual(fo.functions.get('rec'), { label: 'rec', calls: null, self: 0, total: 3 });
  assert.equal(fo.functions.get('main')!.self, 1);
  assert.equal(fo.grandTotal, 4);
});

test('diff: sorted by largest change in self time; a bare name matches a qualified one at the same place', () => {
  // shares: A main 50%, loadFolder 16.7%, parse 33.3%; B main 30%, loadFolder 50%, parse 20%
  const a = loadProfile(tmp('a.folded', 'main (s.ts:1);loadFolder (s.ts:48) 1\nmain (s.ts:1);parse (s.ts:9) 2\nmain (s.ts:1) 3\n'));
  const b = traceTimes('b', [X('main (s.ts:1)', 1, 200), X('Store.loadFolder (s.ts:48)', 2, 100), X('parse (s.ts:9)', 160, 40)]);
  const d = diffProfiles(a, b);
  assert.equal(d.unit, 'share', 'µs and samples compare as shares');
  assert.deepEqual(
    d.rows.map((r) => r.label),
    ['Store.loadFolder (s.ts:48)', 'main (s.ts:1)', 'parse (s.ts:9)'],
  );
  assert.ok(Math.abs(d.rows[0]!.selfDelta - (0.5 - 1 / 6)) < 1e-9);
  assert.equal(d.rows[0]!.a!.self, 1);
  assert.equal(d.rows[0]!.b!.calls, 1);
  assert.equal(d.rows.filter((r) => r.label.includes('loadFolder')).length, 1);
});

test('compare CLI: text and JSON, one-line errors for bad input', () => {
  const a = tmp('a.folded', 'main;slow 90\nmain;fast 10\n');
  const b = tmp('b.folded', 'main;slow 10\nmain;fast 12\n');
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'compare', ...args], { encoding: 'utf8' });
  const text = run(a, b);
  assert.equal(text.status, 0, text.stderr);
  const rows = text.stdout.split('\n');
  const header = rows.findIndex((l) => l.startsWith('function'));
  assert.match(rows[header + 1]!, /^slow\s+\?\s+\?\s+90\s+10\s+−80/);
  const json = JSON.parse(run(a, b, '--json').stdout) as ReturnType<typeof compareProfiles>;
  assert.equal(json.rows[0]!.label, 'slow');
  assert.equal(json.rows[0]!.selfDelta, -80);
  for (const [args, re] of [
    [[a, '/nope/x.json'], /^stackscope: \/nope\/x\.json: no such file$/],
    [[a, tmp('bad.json', '{"foo":1}')], /bad\.json: JSON but neither a trace/],
    [[a, tmp('bad.txt', 'not folded\n')], /bad\.txt: not a trace, \.cpuprofile or folded file/],
  ] as [string[], RegExp][]) {
    const r = run(...args);
    assert.equal(r.status, 2);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1);
    assert.match(r.stderr.trimEnd(), re);
  }
});

test('a sampled trace (Profile/ProfileChunk events) compares by its samples, not its covering slice', async () => {
  const { cpuProfileToTraceEvents } = await import('../src/formats/cpuprofile.js');
  const prof: CpuProfile = {
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', scriptId: 0, url: '', lineNumber: -1, columnNumber: -1 }, children: [2] },
      { id: 2, callFrame: { functionName: 'hot', scriptId: 1, url: 'file:///x/app.js', lineNumber: 4, columnNumber: 0 } },
    ],
    startTime: 1000,
    endTime: 1300,
    samples: [2, 2, 2, 2],
    timeDeltas: [0, 100, 100, 100],
  };
  const file = tmp('s.trace.json', JSON.stringify({ traceEvents: cpuProfileToTraceEvents(prof, { pid: 9 }) }));
  const p = loadProfile(file);
  assert.equal(p.kind, 'trace');
  assert.deepEqual([...p.functions.keys()], ['hot (/x/app.js:5)']);
  assert.equal(p.functions.get('hot (/x/app.js:5)')!.self, 300);
});

test('a combined trace: --a-process/--b-process (name or pid) compare two of its processes; a wrong name lists them', () => {
  const M = (pid: number, name: string): TraceEvent => ({ ph: 'M', name: 'process_name', pid, tid: 0, args: { name } });
  const file = tmp(
    'compare.trace.json',
    JSON.stringify({
      traceEvents: [
        M(1, 'batched-fixed'),
        M(2, 'batched'),
        X('sync (s.ts:1)', 1, 100, { pid: 1 }),
        X('loadFolder (s.ts:48)', 10, 5, { pid: 1 }),
        X('sync (s.ts:1)', 1, 300, { pid: 2 }),
        X('loadFolder (s.ts:48)', 10, 200, { pid: 2 }),
      ],
    }),
  );
  const all = loadProfile(file);
  assert.equal(all.functions.get('loadFolder (s.ts:48)')!.self, 205, 'without a choice the processes add up');
  assert.deepEqual(all.processes, ['batched-fixed (pid 1)', 'batched (pid 2)']);
  const d = compareProfiles(file, file, { aProcess: 'batched-fixed', bProcess: '2' });
  assert.equal(d.rows[0]!.label, 'loadFolder (s.ts:48)');
  assert.equal(d.rows[0]!.selfDelta, 195);
  assert.equal(d.a.process, 'batched-fixed (pid 1)');
  assert.equal(d.b.process, 'batched (pid 2)');

  const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'compare', ...args], { encoding: 'utf8' });
  const text = run(file, file, '--a-process', 'batched-fixed', '--b-process', 'batched');
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^A: .*compare\.trace\.json \(trace, process batched-fixed \(pid 1\), /m);
  assert.match(text.stdout, /^loadFolder \(s\.ts:48\) +1 +1 +5µs +200µs +\+195µs/m);
  const both = JSON.parse(run(file, file, '--process', 'batched', '--json').stdout) as ReturnType<typeof compareProfiles>;
  assert.equal(
    both.rows.every((r) => r.selfDelta === 0),
    true,
    '--process applies to both',
  );
  assert.match(
    run(file, file).stdout,
    /^note: A adds up 2 processes \(batched-fixed \(pid 1\), batched \(pid 2\)\); choose one with --a-process NAME$/m,
  );

  const folded = tmp('p.folded', 'main 1\n');
  for (const [args, re] of [
    [
      [file, file, '--b-process', 'nope'],
      /^stackscope: .*compare\.trace\.json: no process "nope" \(the trace has: batched-fixed \(pid 1\), batched \(pid 2\)\)$/,
    ],
    [[folded, file, '--process', 'batched'], /^stackscope: .*p\.folded: a process can only be chosen in a trace/],
  ] as [string[], RegExp][]) {
    const r = run(...args);
    assert.equal(r.status, 2);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr.trimEnd(), re);
  }
  assert.match(run('--help').stdout, /--a-process .*\n.*--b-process .*\n.*--process /);
});
