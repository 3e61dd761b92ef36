/**
 * Every format through the profile model: each reader on a real file (a sampled and a traced run of
 * fixtures/sample/hot.ts, and the files `convert` makes of them), round trips through the real
 * `stackscope convert` for the lossless pairs (identical weight per stack), pprof read back by
 * pprof-format itself (and `go tool pprof` where installed), speedscope checked structurally, and
 * the one non-CPU rule shared by sample and bench.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { Profile as PprofProfile, Function as PFunction, Location, Sample, StringTable, ValueType, Line } from 'pprof-format';
import { readProfile } from '../src/formats/read.js';
import { convertProfile } from '../src/convert/index.js';
import { UserError } from '../src/util/errors.js';
import { cpuProfileToModel, cpuProfileToTraceEvents, type CpuProfile } from '../src/formats/cpuprofile.js';
import { modelToFolded, parseFolded } from '../src/formats/folded.js';
import { pprofToModel } from '../src/formats/pprof.js';
import { traceToModel } from '../src/formats/trace-read.js';
import type { SpeedscopeFile } from '../src/formats/speedscope.js';
import { renderProfile } from '../src/sample/output.js';
import { strategyFolded } from '../src/bench/sampled.js';
import { parseFrameLabel, stackFrames, totalWeight, type Profile } from '../src/model/index.js';

const root = path.resolve(import.meta.dirname, '..');
const cli = path.join(root, 'dist/cli/index.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-formats-'));
const at = (f: string) => path.join(tmp, f);
const hotTs = path.join(root, 'fixtures/sample/hot.ts');

function run(args: string[], cwd = root) {
  return spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
}
/** The CLI (what a user sees), for the conversions whose summary a test reads. */
function convertCli(input: string, output: string, ...extra: string[]): string {
  const r = run(['convert', input, '-o', output, ...extra]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}
/** The library function behind the CLI, in process: the same conversion without a Node start-up each. */
const convert = (input: string, output: string) => convertProfile(input, output, { cwd: root });
const read = (file: string): Profile => readProfile(file).profile;
/** Weight per stack (labels root first, relative to the repository), unrounded. */
const perStack = (p: Profile, weights?: readonly number[]) => new Map([...modelToFolded(p, root, weights)].sort());
const durations = (p: Profile) => perStack(p, p.sampleDurationUs!);
function assertClose(a: Map<string, number>, b: Map<string, number>, eps: number, what: string): void {
  assert.deepEqual([...a.keys()], [...b.keys()], `${what}: same stacks`);
  for (const [k, v] of a) assert.ok(Math.abs(v - b.get(k)!) <= eps, `${what}: ${k}: ${v} vs ${b.get(k)}`);
}

before(() => {
  const s = run(['sample', '--interval', '500us', '-o', at('hot.cpuprofile'), '--', 'fixtures/sample/hot.ts', '300']);
  assert.equal(s.status, 0, s.stderr);
  const t = run(['trace', '-o', at('hot.trace.json'), '--', 'fixtures/sample/hot.ts', '100']);
  assert.equal(t.status, 0, t.stderr);
});

// ---- cpuprofile ---------------------------------------------------------------------------------

const cf = (functionName: string, url = '', lineNumber = -1, columnNumber = -1) => ({
  functionName,
  scriptId: 0,
  url,
  lineNumber,
  columnNumber,
});
const synthetic: CpuProfile = {
  nodes: [
    { id: 1, callFrame: cf('(root)'), children: [2, 4, 5, 6] },
    { id: 2, callFrame: cf('main', 'file:///app/main.js', 0, 9), children: [3] },
    { id: 3, callFrame: cf('hot', 'file:///app/main.js', 9, 2) },
    { id: 4, callFrame: cf('(idle)') },
    { id: 5, callFrame: cf('(program)') },
    { id: 6, callFrame: cf('(garbage collector)') },
  ],
  startTime: 1000,
  endTime: 1700,
  samples: [3, 3, 4, 2, 5, 6, 3],
  timeDeltas: [10, 100, 100, 100, 100, 100, 100],
};

test('cpuprofile reader: (root) left out, (idle) dropped, (program) and GC kept; times, durations, 1-based positions', () => {
  const p = cpuProfileToModel(synthetic);
  const stacks = p.sampleStack.map((s) =>
    stackFrames(p, s)
      .map((f) => p.frames[f]!.name)
      .join(';'),
  );
  assert.deepEqual(stacks, ['main;hot', 'main;hot', 'main', '(program)', '(garbage collector)', 'main;hot']);
  assert.deepEqual(p.sampleTime, [1010, 1110, 1310, 1410, 1510, 1610]);
  assert.deepEqual(
    p.sampleDurationUs,
    [100, 100, 100, 100, 100, 90],
    'the gap to the next sample (the idle one included), the last to endTime',
  );
  const hot = p.frames.find((f) => f.name === 'hot')!;
  assert.deepEqual(hot, { name: 'hot', file: '/app/main.js', line: 10, col: 3 });
});

test('cpuprofile: a sample V8 wrote a µs before the one preceding it keeps its time through convert', () => {
  // (a real profile had one timeDelta of -1 among 767; it made the writer synthesize every time)
  const outOfOrder: CpuProfile = { ...synthetic, timeDeltas: [10, 100, 100, 100, 100, -1, 101] };
  const p = cpuProfileToModel(outOfOrder);
  const file = at('out-of-order.cpuprofile');
  fs.writeFileSync(file, JSON.stringify(outOfOrder));
  convert(file, at('out-of-order-again.cpuprofile'));
  const again = read(at('out-of-order-again.cpuprofile'));
  assert.deepEqual(again.sampleTime, p.sampleTime);
  assert.deepEqual(again.sampleDurationUs, p.sampleDurationUs);
  assert.deepEqual(perStack(again), perStack(p));
});

test("cpuprofile: a real profile through convert to .cpuprofile and pprof keeps every stack's count and duration", () => {
  const p = read(at('hot.cpuprofile'));
  assert.ok(p.sampleStack.length > 100, `samples ${p.sampleStack.length}`);
  assert.ok([...perStack(p).keys()].some((k) => k.endsWith('crunchNumbers (fixtures/sample/hot.ts:4)')));
  const say = convertCli(at('hot.cpuprofile'), at('again.cpuprofile'));
  assert.match(say, /^.*hot\.cpuprofile \(cpuprofile, \d+ samples[^)]*\) → .*again\.cpuprofile \(cpuprofile\)\nnot kept: /);
  const again = read(at('again.cpuprofile'));
  assert.deepEqual(perStack(again), perStack(p));
  assert.deepEqual(durations(again), durations(p));
  assert.deepEqual(again.sampleTime, p.sampleTime, 'a profile read from V8 keeps its sample times');
  convert(at('hot.cpuprofile'), at('hot.pb.gz'));
  const pp = read(at('hot.pb.gz'));
  assert.deepEqual(perStack(pp), perStack(p));
  assert.deepEqual(durations(pp), durations(p));
});

// ---- folded -------------------------------------------------------------------------------------

test('folded: labels read back into frames; folded → folded, pprof, .cpuprofile → folded keep every count', () => {
  convert(at('hot.cpuprofile'), at('hot.folded'));
  const text = fs.readFileSync(at('hot.folded'), 'utf8');
  assert.match(text, /;drive \(fixtures\/sample\/hot\.ts:17\);crunchNumbers \(fixtures\/sample\/hot\.ts:4\) \d+$/m);
  const p = read(at('hot.folded'));
  assert.deepEqual(
    p.frames.find((f) => f.name === 'crunchNumbers'),
    { name: 'crunchNumbers', file: 'fixtures/sample/hot.ts', line: 4, col: 0 },
  );
  const counts = new Map([...parseFolded(text)].sort());
  assert.deepEqual(perStack(p), counts);
  assert.deepEqual(counts, perStack(read(at('hot.cpuprofile'))), 'the same counts as the profile it came from');
  for (const via of ['via.folded', 'via.pb.gz', 'via.cpuprofile']) {
    convert(at('hot.folded'), at(via));
    convert(at(via), at(`${via}.back.folded`));
    assert.deepEqual(new Map([...parseFolded(fs.readFileSync(at(`${via}.back.folded`), 'utf8'))].sort()), counts, via);
  }
  // Made-up sample times are said so.
  assert.match(convertCli(at('hot.folded'), at('made.cpuprofile')), /sample times are not in the input: samples are spaced every 1000 µs/);
});

// ---- pprof --------------------------------------------------------------------------------------

test('pprof written by stackscope decodes with pprof-format itself: types, totals, functions', () => {
  const p = read(at('hot.cpuprofile'));
  const pp = PprofProfile.decode(zlib.gunzipSync(fs.readFileSync(at('hot.pb.gz'))));
  const str = (i: unknown) => pp.stringTable.strings[Number(i)]!;
  assert.deepEqual(
    pp.sampleType.map((t) => `${str(t.type)}/${str(t.unit)}`),
    ['samples/count', 'cpu/nanoseconds'],
  );
  assert.equal(
    pp.sample.reduce((s, x) => s + Number(x.value[0]), 0),
    totalWeight(p),
  );
  const cpuNs = pp.sample.reduce((s, x) => s + Number(x.value[1]), 0);
  assert.equal(cpuNs, Math.round(p.sampleDurationUs!.reduce((a, b) => a + b, 0) * 1000));
  const fn = pp.function.find((f) => str(f.name) === 'crunchNumbers (fixtures/sample/hot.ts:4)');
  assert.ok(fn, 'function named by its label');
  assert.equal(str(fn.filename), hotTs);
  assert.equal(str(fn.systemName), 'crunchNumbers');
  // Locations are leaf first: every sample's first location is the leaf of a stack of the profile.
  const leaves = new Set(p.sampleStack.map((s) => p.frames[p.stackFrame[s]!]!.name));
  for (const s of pp.sample) {
    const loc = pp.location.find((l) => Number(l.id) === Number(s.locationId[0]))!;
    const f = pp.function.find((x) => Number(x.id) === Number(loc.line[0]!.functionId))!;
    assert.ok(leaves.has(str(f.systemName)), str(f.name));
  }
  assert.equal(convert(at('hot.pb.gz'), at('again.pb.gz')).inputFormat, 'pprof');
  assert.deepEqual(perStack(read(at('again.pb.gz'))), perStack(p));
  convert(at('hot.pb.gz'), at('frompprof.cpuprofile'));
  const back = read(at('frompprof.cpuprofile'));
  assert.deepEqual(perStack(back), perStack(p));
  assertClose(durations(back), durations(p), 1e-6, 'durations through .cpuprofile');
});

test('pprof reader: a profile from another tool (inlined lines, cpu type only, plain names), gzipped or not', () => {
  const st = new StringTable();
  const fn = (id: number, name: string, line: number) =>
    new PFunction({ id, name: st.dedup(name), systemName: st.dedup(name), filename: st.dedup('/src/app.go'), startLine: line });
  const pp = new PprofProfile({
    sampleType: [
      new ValueType({ type: st.dedup('alloc'), unit: st.dedup('bytes') }),
      new ValueType({ type: st.dedup('cpu'), unit: st.dedup('milliseconds') }),
    ],
    function: [fn(1, 'main.main', 3), fn(2, 'main.work', 10), fn(3, 'main.inlined', 20)],
    // location 2 holds work with inlined() inside it: innermost first
    location: [
      new Location({ id: 1, line: [new Line({ functionId: 1, line: 5 })] }),
      new Location({ id: 2, line: [new Line({ functionId: 3, line: 21 }), new Line({ functionId: 2, line: 12 })] }),
    ],
    sample: [
      new Sample({ locationId: [2, 1], value: [100, 7] }),
      new Sample({ locationId: [1], value: [5, 2] }),
      new Sample({ locationId: [1], value: [9, 0] }),
    ],
    stringTable: st,
  });
  for (const buf of [Buffer.from(pp.encode()), zlib.gzipSync(pp.encode())]) {
    const p = pprofToModel(buf);
    assert.equal(p.unit, 'microseconds', 'the cpu type is chosen over the first');
    const rows = p.sampleStack.map((s, i) => [
      stackFrames(p, s)
        .map((f) => p.frames[f]!.name)
        .join(';'),
      p.sampleWeight[i],
    ]);
    assert.deepEqual(
      rows,
      [
        ['main.main;main.work;main.inlined', 7000],
        ['main.main', 2000],
      ],
      'root first, zero weights left out',
    );
    assert.deepEqual(
      p.frames.find((f) => f.name === 'main.work'),
      { name: 'main.work', file: '/src/app.go', line: 10, col: 0 },
    );
  }
});

test('go tool pprof reads the pprof stackscope writes', (t) => {
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.error || go.status !== 0) {
    t.skip('go is not installed (apt-get install golang-go): go tool pprof check skipped');
    return;
  }
  const r = spawnSync('go', ['tool', 'pprof', '-top', at('hot.pb.gz')], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /crunchNumbers \(fixtures\/sample\/hot\.ts:4\)/);
});

// ---- trace --------------------------------------------------------------------------------------

test('trace reader: call slices become self time; through pprof every stack keeps its µs', () => {
  const t = read(at('hot.trace.json'));
  assert.equal(t.unit, 'microseconds');
  // Calls are the trace's own slices of the function (however many the machine's load allowed).
  const events = (JSON.parse(fs.readFileSync(at('hot.trace.json'), 'utf8')) as { traceEvents: { ph: string; name: string }[] }).traceEvents;
  const slices = events.filter((e) => e.ph === 'X' && e.name === 'crunchNumbers (fixtures/sample/hot.ts:4)').length;
  assert.ok(slices >= 1);
  assert.equal(t.frameCalls![t.frames.findIndex((f) => f.name === 'crunchNumbers')], slices);
  const drive = [...perStack(t)].find(([k]) => k.endsWith('drive (fixtures/sample/hot.ts:17)'));
  assert.ok(drive, 'drive has self time of its own');
  convert(at('hot.trace.json'), at('trace.pb.gz'));
  const pp = read(at('trace.pb.gz'));
  assert.equal(pp.unit, 'nanoseconds');
  const us = new Map([...perStack(pp)].map(([k, v]) => [k, v / 1000]));
  assertClose(us, perStack(t), 0.001, 'trace → pprof');
  convert(at('hot.trace.json'), at('trace.folded'));
  const folded = parseFolded(fs.readFileSync(at('trace.folded'), 'utf8'));
  for (const [k, v] of perStack(t)) if (Math.round(v) > 0) assert.equal(folded.get(k), Math.round(v), k);
});

test('a sampled trace (ProfileChunk events) reads like the .cpuprofile it was made of', () => {
  const events = cpuProfileToTraceEvents(synthetic, { pid: 3 });
  const fromTrace = traceToModel(events).profile;
  const direct = cpuProfileToModel(synthetic);
  assert.deepEqual(perStack(fromTrace), perStack(direct));
  assert.deepEqual(fromTrace.sampleTime, direct.sampleTime);
  // A trace does not record where the last sample ends: its duration is 0 there, the others agree.
  assert.deepEqual(fromTrace.sampleDurationUs!.slice(0, -1), direct.sampleDurationUs!.slice(0, -1));
  assert.equal(fromTrace.sampleDurationUs!.at(-1), 0);
});

// ---- speedscope ---------------------------------------------------------------------------------

test('speedscope output: schema, frames, indexes in range, weights that add up', () => {
  for (const [input, unit, total] of [
    [at('hot.cpuprofile'), 'microseconds', (p: Profile) => p.sampleDurationUs!.reduce((a, b) => a + b, 0)],
    [at('hot.folded'), 'none', totalWeight],
  ] as const) {
    const out = at(`${path.basename(input)}.speedscope.json`);
    convert(input, out);
    const s = JSON.parse(fs.readFileSync(out, 'utf8')) as SpeedscopeFile;
    assert.equal(s.$schema, 'https://www.speedscope.app/file-format-schema.json');
    const frames = s.shared.frames;
    assert.ok(frames.length > 3 && frames.every((f) => typeof f.name === 'string' && f.name.length > 0));
    assert.ok(frames.some((f) => f.name === 'crunchNumbers' && f.line === 4 && (f.file === hotTs || f.file === 'fixtures/sample/hot.ts')));
    assert.equal(s.profiles.length, 1);
    const prof = s.profiles[0]!;
    assert.equal(prof.type, 'sampled');
    assert.equal(prof.unit, unit);
    assert.equal(prof.samples.length, prof.weights.length);
    for (const stack of prof.samples) for (const i of stack) assert.ok(Number.isInteger(i) && i >= 0 && i < frames.length, `index ${i}`);
    const sum = prof.weights.reduce((a, b) => a + b, 0);
    const expected = total(read(input));
    assert.ok(Math.abs(sum - expected) < 1e-6 * Math.max(1, expected), `${sum} vs ${expected}`);
    assert.ok(Math.abs(prof.endValue - prof.startValue - sum) < 1e-6 * Math.max(1, sum));
    // Root first: the outermost frame of the deepest crunchNumbers stack is not crunchNumbers itself.
    const deep = prof.samples.find((st) => frames[st[st.length - 1]!]!.name === 'crunchNumbers')!;
    assert.equal(frames[deep[deep.length - 2]!]!.name, 'drive');
  }
});

// ---- reading any file, and what compare makes of it ------------------------------------------------

test('compare takes every format, and names an unreadable file and what it looked like in one line', () => {
  const ok = run(['compare', at('hot.trace.json'), at('hot.pb.gz')]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^B: .*hot\.pb\.gz \(pprof, /m);
  assert.match(ok.stdout, /^crunchNumbers \(fixtures\/sample\/hot\.ts:4\) +\d+ +\?/m);
  fs.writeFileSync(at('bad.pb.gz'), zlib.gzipSync(Buffer.from('not a profile at all')));
  fs.writeFileSync(at('bad.bin'), Buffer.from([0x08, 0x96, 0x01, 0x00, 0xff, 0xfe, 0x07, 0x07]));
  fs.writeFileSync(at('empty.folded'), '');
  fs.writeFileSync(at('cut.pb.gz'), fs.readFileSync(at('hot.pb.gz')).subarray(0, 40));
  const cases = [
    ['bad.pb.gz', /bad\.pb\.gz: gzip-compressed, but neither pprof nor JSON \(/],
    ['bad.bin', /bad\.bin: binary data, but not a pprof profile \(/],
    ['empty.folded', /empty\.folded: empty file, not a trace, \.cpuprofile, pprof or folded stacks$/],
    ['cut.pb.gz', /cut\.pb\.gz: gzip data that does not decompress \(/],
    ['esc.folded', /esc\.folded: not a trace, \.cpuprofile or folded file \(line 1 is not "frames count": bad\?\[31mline\)$/],
  ] as const;
  fs.writeFileSync(at('esc.folded'), 'bad\x1b[31mline\n');
  const dir = tmp.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // What the user sees, once through the CLI ...
  const r = run(['compare', at('hot.trace.json'), at('bad.pb.gz')]);
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  assert.match(r.stderr.trimEnd(), new RegExp(`^stackscope: ${dir}/${cases[0][1].source}`));
  // ... and every case through the reader the CLI calls (a UserError is the CLI's one line).
  for (const [file, re] of cases) {
    assert.throws(
      () => readProfile(at(file)),
      (err: Error) => {
        assert.ok(err instanceof UserError, String(err));
        assert.match(err.message, new RegExp(`^${dir}/${re.source}`));
        assert.doesNotMatch(err.message, /[\x00-\x08\x0a-\x1f\x7f]|\uFFFD/, 'one line, no raw bytes');
        return true;
      },
    );
  }
});

test('compare of a .cpuprofile and a folded file of the same run, from another folder, pairs every function', () => {
  const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-elsewhere-'));
  const r = run(['compare', at('hot.cpuprofile'), at('hot.folded'), '--json'], elsewhere);
  assert.equal(r.status, 0, r.stderr);
  const d = JSON.parse(r.stdout) as { rows: { label: string; a: unknown; b: unknown }[] };
  const functions = new Set([...parseFolded(fs.readFileSync(at('hot.folded'), 'utf8')).keys()].flatMap((k) => k.split(';')));
  assert.equal(d.rows.length, functions.size, 'one row per function, none twice under two names');
  // Labels are shown as seen from where compare ran: the fixture by its absolute path.
  assert.ok(
    d.rows.some((x) => x.label === `crunchNumbers (${hotTs}:4)` && x.a && x.b),
    d.rows.map((x) => x.label).join('\n'),
  );
  // The same function spelled with two paths (relative here, absolute there) would show twice.
  const where = d.rows.map((x) => parseFrameLabel(x.label)).map((f) => `${f.name} ${path.basename(f.file)}:${f.line}`);
  assert.equal(new Set(where).size, where.length, 'no function under two file names');
  // Both sides on every row (a function whose only samples lasted 0 µs has no time in A: at most a couple).
  const paired = d.rows.filter((x) => x.a && x.b).length;
  assert.ok(paired >= d.rows.length - 2, `${paired} of ${d.rows.length} rows have both sides`);
});

// ---- the one non-CPU rule -----------------------------------------------------------------------

test('sample and bench agree on what is CPU: (program) and GC kept, (idle) dropped', () => {
  const fromSample = parseFolded(renderProfile(structuredClone(synthetic), 'folded', { cwd: '/app' }).toString('utf8'));
  const fromBench = strategyFolded(structuredClone(synthetic));
  for (const folded of [fromSample, fromBench]) {
    assert.equal(folded.get('(program)'), 1);
    assert.equal(folded.get('(garbage collector)'), 1);
    assert.equal(
      [...folded.keys()].some((k) => k.includes('(idle)')),
      false,
    );
  }
  assert.deepEqual([...fromSample.values()].sort(), [...fromBench.values()].sort());
});

// ---- convert's own input checks ------------------------------------------------------------------

test('convert: bad output names and formats get one line each', () => {
  const r = run(['convert', at('hot.folded'), '-o', at('out.json')]);
  assert.equal(r.status, 2);
  assert.match(
    r.stderr,
    /^stackscope: cannot tell the output format from ".*out\.json": name it \.folded, \.pb\.gz, \.speedscope\.json or \.cpuprofile, or give --format/,
  );
  assert.equal(r.stderr.trimEnd().split('\n').length, 1);
  assert.equal(fs.existsSync(at('out.json')), false);
  const help = run(['convert', '--help']).stdout;
  assert.match(help, /→ folded: counts only/);
  assert.match(help, /→ \.cpuprofile: from folded or pprof, sample times are made up/);
  assert.match(help, /Lossless round trips/);
  for (const [args, re] of [
    [[at('hot.folded'), at('x.folded'), { format: 'svg' }], /^bad format "svg": use one of folded, pprof, speedscope, cpuprofile$/],
    [[at('nope.folded'), at('x.folded'), {}], /nope\.folded: no such file$/],
    [[at('hot.folded'), path.join(tmp, 'no/such/dir/x.folded'), {}], /^cannot write the output to .*x\.folded \(ENOENT: no folder /],
    [[at('hot.folded'), at('x.folded'), { process: 'a' }], /hot\.folded: a process can only be chosen in a trace/],
  ] as const) {
    assert.throws(
      () => convertProfile(args[0], args[1], args[2]),
      (err: Error) => err instanceof UserError && re.test(err.message),
    );
  }
});
