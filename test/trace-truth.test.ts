/**
 * The tracer tells the truth at its edges: a ring buffer that overflowed (no made-up self time, the
 * cut shown and carried to `compare`), GC pauses of a program that ends with process.exit(), names
 * that cannot forge a location, line numbers that agree with V8's, and sizes in the units printed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { parseWithDevTools, type DtEntry, type DtTrack } from './helpers/devtools.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const CLI = path.join(ROOT, 'dist/cli/index.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-truth-'));

interface Run {
  stdout: string;
  stderr: string;
  code: number | null;
}
function run(args: string[], cwd = ROOT): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, env: { ...process.env, NODE_OPTIONS: '' } });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code }));
  });
}

/** The warning lines of `stackscope compare a b` (which must succeed). */
async function compareWarnings(a: string, b: string): Promise<string[]> {
  const cmp = await run([CLI, 'compare', a, b]);
  assert.equal(cmp.code, 0, cmp.stderr);
  return cmp.stderr.split('\n').filter((l) => l.startsWith('stackscope: warning:'));
}

/** Self time of each drawn slice: its dur minus its direct children's (entries are in tree order). */
function selfTimes(t: DtTrack): { e: DtEntry; self: number }[] {
  const xs = t.entries.filter((e) => e.ph === 'X');
  return xs.map((e, k) => {
    let child = 0;
    for (let j = k + 1; j < xs.length && xs[j]!.depth > e.depth; j++) if (xs[j]!.depth === e.depth + 1) child += xs[j]!.dur;
    return { e, self: e.dur - child };
  });
}

test('ring overflow (--on-full drop-oldest): no slice gets more self time than it had, the cut is marked, compare warns', async () => {
  const full = path.join(tmp, 'full.json'),
    cut = path.join(tmp, 'cut.json');
  const [a, b] = await Promise.all([
    run([CLI, 'trace', '-o', full, 'fixtures/trace/overflow.mjs']),
    // 2,041 calls into a ring of 500: three quarters of the run are dropped.
    run([CLI, 'trace', '--buffer-size', '500', '--on-full', 'drop-oldest', '-o', cut, 'fixtures/trace/overflow.mjs']),
  ]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stderr, /oldest events dropped \(ring buffer full\): the trace is complete only from \d+\.\d ms on/);
  const [tf, tc] = await Promise.all([parseWithDevTools(full), parseWithDevTools(cut)]);
  const mainOf = (t: typeof tf) => t.tracks.find((x) => x.tid === 0)!;

  // The true self time of each function: the largest any of its calls had in the whole run.
  const trueSelf = new Map<string, number>();
  for (const { e, self } of selfTimes(mainOf(tf))) trueSelf.set(e.name, Math.max(trueSelf.get(e.name) ?? 0, self));
  assert.equal(trueSelf.size, 3, [...trueSelf.keys()].join());
  const shown = selfTimes(mainOf(tc));
  assert.ok(shown.length > 100 && shown.length <= 500, `${shown.length} slices kept`);
  // Made-up self time comes from dropped children, which only a call running at the cut can have
  // lost: a call that begins later has all of its children (the ring keeps calls in the order they
  // end). So the calls drawn from the cut or before it are compared with the full run; the others'
  // self time is their own run's, which a loaded machine stretches in either run (a preempted
  // 20 µs spin measured 4 ms; 1.8 ms between two leaves of a mid).
  const completeFrom = (tc.metadata.cut as { completeFrom: number }[])[0]!.completeFrom;
  const atCut = shown.filter(({ e }) => e.ts <= completeFrom);
  assert.ok(
    atCut.some(({ e }) => e.name.startsWith('outer (')),
    'outer runs across the cut',
  );
  for (const { e, self } of atCut) {
    assert.ok(
      self <= trueSelf.get(e.name)! + 1000,
      `${e.name}: ${self} µs self in the cut trace, at most ${trueSelf.get(e.name)} µs in the full run`,
    );
  }
  const outer = shown.find((s) => s.e.name.startsWith('outer'))!;
  assert.match(String(outer.e.args?.truncated), /^began \d+\.\d{3} ms before the ring-buffer cut/);

  // Where complete data begins: the instant, metadata.cut, and the first slice drawn.
  const cuts = tc.metadata.cut as { completeFrom: number; droppedRecords: number }[];
  assert.equal(cuts.length, 1);
  const instant = mainOf(tc).entries.filter((e) => e.ph === 'I');
  assert.equal(instant.length, 1);
  assert.match(
    instant[0]!.name,
    new RegExp(
      `^${cuts[0]!.droppedRecords.toLocaleString('en-US')} earlier call records dropped \\(ring buffer full\\): complete from here$`,
    ),
  );
  assert.equal(instant[0]!.ts, cuts[0]!.completeFrom);
  assert.equal(Math.min(...shown.map((s) => s.e.ts)), cuts[0]!.completeFrom);
  assert.ok(cuts[0]!.droppedRecords >= 2041 - 500);

  // compare: one warning line per cut input, none for the whole one.
  const warnings = await compareWarnings(full, cut);
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(
    warnings[0]!,
    new RegExp(
      `${cut.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} was cut \\(ring buffer full\\): [\\d,]+ earlier call records were dropped; its times cover only the run from \\d+\\.\\d ms on`,
    ),
  );
  assert.ok(!warnings.some((l) => l.includes(`${full} was cut`)));
});

test('a full ring raises the minimum duration by default: the whole run is drawn, without the short calls, and says so', async () => {
  const full = path.join(tmp, 'full2.json'),
    thin = path.join(tmp, 'thin.json');
  // 2,041 calls into a ring of 500: the 2,000 leaves (~20 µs each) cannot all be kept.
  const [a, b] = await Promise.all([
    run([CLI, 'trace', '-o', full, 'fixtures/trace/overflow.mjs']),
    run([CLI, 'trace', '--buffer-size', '500', '-o', thin, 'fixtures/trace/overflow.mjs']),
  ]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const said =
    /the ring buffer filled at (\d+\.\d) ms, so calls shorter than ([\d.,]+) µs are not in the trace, over the whole run; their time shows as their callers' self time/.exec(
      b.stderr,
    );
  assert.ok(said, b.stderr);
  assert.doesNotMatch(b.stderr, /oldest events dropped/);
  const minUs = Number(said[2]!.replace(/,/g, ''));
  assert.ok(minUs > 0 && minUs < 1000, `${minUs} µs: below a mid call (~1 ms)`);

  const tt = await parseWithDevTools(thin);
  const main = tt.tracks.find((x) => x.tid === 0)!;
  const xs = main.entries.filter((e) => e.ph === 'X');
  // The whole run: outer and all 40 mid calls are drawn, nothing is clipped, nothing dropped.
  assert.equal(xs.filter((e) => e.name.startsWith('outer')).length, 1);
  assert.equal(xs.filter((e) => e.name.startsWith('mid')).length, 40);
  assert.ok(xs.every((e) => e.args?.truncated === undefined));
  assert.equal(tt.metadata.droppedRecords, 0);
  for (const e of xs) assert.ok(e.dur >= minUs - 0.001, `${e.name}: ${e.dur} µs, under the minimum of ${minUs} µs`);
  // The metadata and an instant at each raise say it; the last raise set the minimum.
  const md = tt.metadata.minDuration as { tid: number; minDurationUs: number; raisedAt: number[] }[];
  assert.equal(md.length, 1);
  assert.equal(md[0]!.minDurationUs, minUs);
  assert.match(String(tt.metadata.minDurationNote), /shows as the caller's self time/);
  const instants = main.entries.filter((e) => e.ph === 'I');
  assert.deepEqual(
    instants.map((e) => e.ts),
    md[0]!.raisedAt,
  );
  assert.match(
    instants.at(-1)!.name,
    new RegExp(`^ring buffer full: minimum duration raised to ${said[2]} µs \\(calls shorter than ${said[2]} µs are not in this trace\\)$`),
  );
  assert.equal((md[0]!.raisedAt[0]! / 1000).toFixed(1), said[1]);

  // compare warns about the thinned input only.
  const warnings = await compareWarnings(full, thin);
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.ok(
    warnings[0]!.includes(
      `${thin} omits calls shorter than ${said[2]} µs (its ring buffer filled): their time is counted as their callers' self time`,
    ),
    warnings[0],
  );
});

test('throttling: hot short leaves stop being timed, the trace, the summary and compare say which; --throttle 0 times every call', async () => {
  const thr = path.join(tmp, 'throttled.json'),
    all = path.join(tmp, 'all.json');
  const fixture = 'fixtures/trace/throttle.mjs';
  const [plain, a, b] = await Promise.all([
    run([fixture]),
    run([CLI, 'trace', '--min-duration', '200', '-o', thr, fixture]),
    run([CLI, 'trace', '--min-duration', '200', '--throttle', '0', '-o', all, fixture]),
  ]);
  for (const r of [a, b]) {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, plain.stdout);
  }
  const said =
    /stackscope: 4 functions were throttled: (.*)\. After 10,000 calls in a row, each under the minimum duration and calling no traced function, their calls were no longer timed; any longer call after that is part of its caller's self time \(the caller's slice says so in args\.untimed; --throttle 0 times every call\)\. One of them was timed again later, having made a traced call/.exec(
      a.stderr,
    );
  assert.ok(said, a.stderr);
  const F = 'fixtures/trace/throttle.mjs';
  // tiny, late, Array.from's arrow and fmt (until it called visit) are hot leaves; visit recursed
  // (its outer call was running).
  const expected = [`(anonymous) (${F}:51)`, `fmt (${F}:23)`, `late (${F}:10)`, `tiny (${F}:6)`];
  assert.deepEqual(said[1]!.split(', ').sort(), expected);
  assert.doesNotMatch(b.stderr, /throttled/);

  const [tt, ta] = await Promise.all([parseWithDevTools(thr), parseWithDevTools(all)]);
  const entries = (t: typeof tt) => t.tracks.find((x) => x.tid === 0)!.entries;
  const xs = (t: typeof tt) => entries(t).filter((e) => e.ph === 'X');
  const named = (t: typeof tt, fn: string) => xs(t).filter((e) => e.name.startsWith(`${fn} (`));
  // What throttling hides: late's one long call (20 ms) after its 50,000 short ones; main's slice,
  // whose self time it becomes, says that it ran untimed calls.
  assert.equal(named(ta, 'late').filter((e) => e.dur >= 20_000).length, 1);
  assert.equal(named(tt, 'late').filter((e) => e.dur >= 20_000).length, 0);
  assert.equal(named(tt, 'main')[0]!.args?.untimed, 'throttled calls');
  assert.equal(named(ta, 'main')[0]!.args?.untimed, undefined);
  // So do a generator's and an async function's segments that called the throttled tiny.
  for (const fn of ['gen', 'pump', 'resumed: pump']) {
    const [segs, timed] = [named(tt, fn), named(ta, fn)];
    assert.equal(segs.length, fn === 'pump' ? 1 : fn === 'gen' ? 3 : 2, fn);
    assert.equal(timed.length, segs.length, fn);
    assert.deepEqual(
      segs.map((e) => e.args?.untimed),
      segs.map(() => 'throttled calls'),
      fn,
    );
    assert.ok(
      timed.every((e) => e.args?.untimed === undefined),
      fn,
    );
  }
  // fmt's first call that made a traced call is missing (its visit is drawn under main); from then on it is timed.
  const fmtOver = (t: typeof tt) => named(t, 'visit').filter((e) => e.path.at(-1)?.startsWith('fmt ('));
  const mainOver = (t: typeof tt) => named(t, 'visit').filter((e) => e.path.at(-1)?.startsWith('main ('));
  assert.equal(fmtOver(ta).length, 2);
  assert.equal(mainOver(ta).length, 2);
  assert.equal(fmtOver(tt).length, 1);
  assert.equal(mainOver(tt).length, 3);

  // The metadata lists each function with where it was throttled (and timed again), instants mark it.
  type Md = { after: number; functions: { name: string; line: number; at: number; minDurationUs: number; until?: number }[] }[];
  const md = tt.metadata.throttled as Md;
  assert.equal(md.length, 1);
  assert.equal(md[0]!.after, 10_000);
  const fns = md[0]!.functions;
  assert.deepEqual(fns.map((f) => f.name).sort(), ['(anonymous)', 'fmt', 'late', 'tiny']);
  assert.ok(fns.every((f) => f.minDurationUs === 200));
  assert.equal(fns.find((f) => f.name === 'late')!.line, 10);
  const fmt = fns.find((f) => f.name === 'fmt')!;
  assert.ok(fmt.until! > fmt.at);
  assert.ok(fns.filter((f) => f !== fmt).every((f) => f.until === undefined));
  assert.match(String(tt.metadata.throttledNote), /shows as that slice's self time/);
  const instants = entries(tt).filter((e) => e.ph === 'I' && /^(throttled|timed again): /.test(e.name));
  assert.deepEqual(
    instants.map((e) => `${e.name}@${e.ts}`).sort(),
    [...fns.map((f) => `throttled: ${f.name} (${F}:${f.line})@${f.at}`), `timed again: fmt (${F}:23)@${fmt.until}`].sort(),
  );
  assert.equal(ta.metadata.throttled, undefined);

  // compare warns about the throttled input only.
  const warnings = await compareWarnings(all, thr);
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.ok(
    warnings[0]!.includes(
      `${thr} stopped timing 4 functions (throttled after many short calls in a row): a longer call of one of them after that is counted as its caller's self time`,
    ),
    warnings[0],
  );
  // --json carries it where machines read it.
  const js = await run([CLI, 'compare', '--json', all, thr]);
  assert.equal(js.code, 0, js.stderr);
  const doc = JSON.parse(js.stdout) as { a: { warning?: string }; b: { warning?: string } };
  assert.equal(doc.a.warning, undefined);
  assert.equal(`stackscope: warning: ${doc.b.warning}`, warnings[0]);
});

test("the recorder's own work inside a call (enlarging, then pruning the full ring) is a slice of its own, not the call's self time", async () => {
  const out = path.join(tmp, 'ring-work.json');
  // 400,000 short calls inside one outer call, into a ring of 100,000: it grows once (from 65,536) and is pruned.
  const r = await run([CLI, 'trace', '--buffer-size', '100000', '-o', out, 'fixtures/trace/ring-work.mjs']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '159999600000\n');
  const t = await parseWithDevTools(out);
  const main = t.tracks.find((x) => x.tid === 0)!;
  const own = (what: RegExp) => main.entries.filter((e) => e.ph === 'X' && what.test(e.name));
  const grown = own(/^stackscope: enlarging the call buffer \(not the program's time\)$/);
  const pruned = own(/^stackscope: call buffer full, removing the shortest calls \(not the program's time\)$/);
  assert.equal(grown.length, 1);
  const md = t.metadata.minDuration as { raisedAt: number[] }[];
  const raises = md[0]!.raisedAt;
  assert.ok(raises.length >= 1);
  // One pruning slice per raise, starting when the raise's instant says, and both kinds drawn
  // under outer (whose self time the panel computes without them).
  assert.deepEqual(
    pruned.map((e) => Math.round(e.ts)),
    raises.map((ts) => Math.round(ts)),
  );
  for (const e of [...grown, ...pruned]) {
    assert.equal(e.depth, 1, `${e.name} at depth ${e.depth}`);
    assert.match(e.path[0]!, /^outer \(fixtures\/trace\/ring-work\.mjs:6\)$/);
  }
});

test('names cannot forge a location; U+2028 lines agree with V8 (Error.stack)', async () => {
  const dir = fs.mkdtempSync(path.join(tmp, 'names-'));
  const LS = '\u2028';
  fs.writeFileSync(
    path.join(dir, 'prog.js'),
    [
      'const o = {};',
      'o["evil\\t(/etc/passwd:999)"] = function () { return 1; };', // a real tab in the name
      'o["evil\\t(/etc/passwd:999)"]();',
      `const s = "a${LS}b"; // V8 counts the raw U+2028 as a line break`,
      "function after() { return new Error('x').stack.split('\\n')[1].trim(); }",
      'console.log(after());',
      'const n = { ["x\\u2028y"]() { return 2; } }; // a name holding U+2028 must not add a line',
      'n["x\\u2028y"]();',
      "function last() { return new Error('y').stack.split('\\n')[1].trim(); }",
      'console.log(last());',
      '',
    ].join('\n'),
  );
  const out = path.join(dir, 't.json');
  const [plain, traced] = await Promise.all([run(['prog.js'], dir), run([CLI, 'trace', '-o', out, 'prog.js'], dir)]);
  assert.equal(plain.code, 0, plain.stderr);
  // Lines are unchanged by tracing (a column may move where a function starts: see the README).
  const lines = (text: string) => text.replace(/:(\d+):\d+\)/g, ':$1)');
  assert.equal(lines(traced.stdout), lines(plain.stdout), 'Error.stack lines');
  // V8 puts after() on line 6 and last() on line 10 (the U+2028 on line 4 ends a line).
  assert.match(plain.stdout, /^at after \(.*prog\.js:6:\d+\)\nat last \(.*prog\.js:10:\d+\)\n$/);
  const events = (JSON.parse(fs.readFileSync(out, 'utf8')) as { traceEvents: { ph: string; name: string; args?: { src?: string } }[] })
    .traceEvents;
  const xs = events.filter((e) => e.ph === 'X');
  const byLine = (prefix: string) => xs.find((e) => e.name.startsWith(prefix));
  assert.match(byLine('after')!.name, /^after \(prog\.js:6\)$/);
  assert.match(byLine('last')!.name, /^last \(prog\.js:10\)$/);
  const evil = xs.find((e) => e.name.includes('evil'))!;
  assert.ok(evil.name.endsWith(' (prog.js:2)'), evil.name);
  assert.equal(evil.args, undefined, 'the true place is in the name; no args repeat it');
  assert.ok(evil.name.includes('\t'), 'the name is kept as written');
  const xy = xs.find((e) => e.name.includes('x\u2028y'))!;
  assert.ok(xy.name.endsWith(' (prog.js:8)'), xy.name);
});

interface GcEvent {
  ph: string;
  name: string;
  cat?: string;
  ts: number;
  dur?: number;
}
const traceEvents = (file: string) => (JSON.parse(fs.readFileSync(file, 'utf8')) as { traceEvents: GcEvent[] }).traceEvents;

test("GC: none caused by the tracer's start; kept when a synchronous program ends with process.exit()", async () => {
  const natural = path.join(tmp, 'gc-natural.json'),
    exited = path.join(tmp, 'gc-exit.json');
  const [a, b] = await Promise.all([
    run([CLI, 'trace', '-o', natural, 'fixtures/trace/gc-start.cjs']),
    run([CLI, 'trace', '-o', exited, 'fixtures/trace/gc-start.cjs', 'exit']),
  ]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  for (const file of [natural, exited]) {
    const events = traceEvents(file);
    const main = events.find((e) => e.ph === 'X' && e.name.startsWith('main ('))!;
    assert.ok(main, `${file}: main() traced`);
    const gcs = events.filter((e) => e.cat === 'gc');
    assert.ok(gcs.length >= 1, `${file}: ${gcs.length} GC events`);
    const early = gcs.filter((e) => e.name === 'GC (major)' && e.ts < main.ts);
    assert.deepEqual(early, [], `${file}: a major GC before the program's first call`);
  }
  // Node never delivered the exiting run's pauses: they are counted, with their total, and said to
  // have no time (an instant after the program's last call), not drawn at made-up times.
  const untimed = traceEvents(exited).filter((e) => e.cat === 'gc' && e.ph === 'I');
  assert.equal(untimed.length, 1);
  const m = /^(\d+) GC pauses \((\d+\.\d) ms\) without a time: Node had not reported them when the program ended$/.exec(untimed[0]!.name);
  assert.ok(m, untimed[0]!.name);
  const drawn = traceEvents(exited).filter((e) => e.cat === 'gc' && e.ph === 'X').length;
  assert.ok(Number(m[1]) + drawn >= 3 && Number(m[2]) > 0, untimed[0]!.name);
});

test("an uncaught error on the first line: Node prints the program's own line, not the instrumented one", async () => {
  const dir = fs.mkdtempSync(path.join(tmp, 'first-'));
  fs.writeFileSync(path.join(dir, 'first.mjs'), 'const value = globalThis.missing.field;\nexport function helper() { return value; }\n');
  const [plain, traced] = await Promise.all([run(['first.mjs'], dir), run([CLI, 'trace', '-o', 't.json', 'first.mjs'], dir)]);
  assert.equal(plain.code, 1);
  assert.equal(traced.code, 1);
  const excerpt = (r: Run) => r.stderr.split('\n').slice(0, 3).join('\n');
  assert.match(excerpt(plain), /first\.mjs:1\nconst value = globalThis\.missing\.field;\n +\^/);
  assert.equal(excerpt(traced), excerpt(plain));
});
