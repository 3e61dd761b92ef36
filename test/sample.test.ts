/**
 * `stackscope sample` end to end: the built CLI runs real fixtures in child processes. Needs
 * `npx tsc -p .` first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseFolded } from '../src/formats/folded.js';
import { decodePprof } from '../src/formats/pprof.js';
import { readCpuProfile, selfTimeShares } from '../src/formats/cpuprofile.js';
import { sampledFunctions } from '../fixtures/sample/trace-samples.js';

const root = path.resolve(import.meta.dirname, '..');
const cli = path.join(root, 'dist/cli/index.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-sample-'));

function sample(args: string[], input?: string) {
  return spawnSync(process.execPath, [cli, 'sample', ...args], { cwd: root, encoding: 'utf8', input, timeout: 30_000 });
}

test('folded output: flamegraph.pl lines with the hot TypeScript functions at their source lines', () => {
  const out = path.join(tmp, 'hot.folded');
  const r = sample(['-o', out, '--', 'fixtures/sample/hot.ts', '500']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'result ok\n', 'program output untouched');
  const said = /^stackscope: (\d+) samples(?: \((\d+) of them idle, not in the folded file\))? over .* → .*hot\.folded \(folded\)\n$/.exec(
    r.stderr,
  );
  assert.ok(said, r.stderr);
  const text = fs.readFileSync(out, 'utf8');
  assert.equal(
    [...parseFolded(text).values()].reduce((a, b) => a + b, 0),
    Number(said[1]) - Number(said[2] ?? 0),
  );
  for (const line of text.trimEnd().split('\n')) assert.match(line, /^\S.* \d+$/);
  const keys = [...parseFolded(text).keys()].join('\n');
  // Lines are the .ts file's (source-mapped through tsx), 1-based, of each function's start.
  assert.match(keys, /drive \(fixtures\/sample\/hot\.ts:17\);crunchNumbers \(fixtures\/sample\/hot\.ts:4\)/);
  assert.match(keys, /drive \(fixtures\/sample\/hot\.ts:17\);hashStrings \(fixtures\/sample\/hot\.ts:8\)/);
});

test('exit code, stdout and stdin of the program are passed through', () => {
  const r = sample(['-o', path.join(tmp, 'x.cpuprofile'), '--', 'fixtures/sample/hot.ts', '100', '7']);
  assert.equal(r.status, 7);
  assert.equal(r.stdout, 'result ok\n');
  const script = path.join(tmp, 'echo.js');
  fs.writeFileSync(
    script,
    'process.stdin.pipe(process.stdout); process.stdin.on("end", () => { process.stderr.write("err\\n"); process.exitCode = 5; });',
  );
  const e = sample(['-o', path.join(tmp, 'y.folded'), '--', script], 'hello\n');
  assert.equal(e.status, 5);
  assert.equal(e.stdout, 'hello\n');
  assert.match(e.stderr, /^err\nstackscope: /, 'stackscope speaks after the program');
});

test('a program killed by a signal is reported as killed by that signal, with its profile', () => {
  const script = path.join(tmp, 'term.js');
  fs.writeFileSync(
    script,
    'let x = 0; const e = Date.now() + 200; while (Date.now() < e) x++; process.kill(process.pid, "SIGTERM"); setTimeout(() => {}, 5000);',
  );
  const out = path.join(tmp, 'term.cpuprofile');
  const r = sample(['-o', out, '--', script]);
  assert.equal(r.signal, 'SIGTERM');
  assert.ok(readCpuProfile(out).nodes.length > 1);
});

test('pprof output decodes with the right functions', () => {
  const out = path.join(tmp, 'hot.pb.gz');
  const r = sample(['-o', out, '--', 'fixtures/sample/hot.ts', '400']);
  assert.equal(r.status, 0, r.stderr);
  const p = decodePprof(fs.readFileSync(out));
  const str = (i: unknown) => p.stringTable.strings[Number(i)];
  const fns = new Map(p.function.map((f) => [str(f.name), { file: str(f.filename), line: Number(f.startLine) }]));
  // Names are the shared labels (relative to where sample ran); files are absolute, so
  // `go tool pprof -list` finds the source from any folder.
  assert.deepEqual(fns.get('crunchNumbers (fixtures/sample/hot.ts:4)'), { file: path.join(root, 'fixtures/sample/hot.ts'), line: 4 });
  assert.deepEqual(fns.get('hashStrings (fixtures/sample/hot.ts:8)'), { file: path.join(root, 'fixtures/sample/hot.ts'), line: 8 });
  assert.equal(str(p.sampleType[0]!.type), 'samples');
  const total = p.sample.reduce((s, x) => s + Number(x.value[0]), 0);
  assert.ok(total > 100, `samples ${total}`);
});

test('trace output: the DevTools engine draws the sampled functions on a track', async () => {
  const out = path.join(tmp, 'hot.json');
  const r = sample(['--interval', '500us', '-o', out, '--', 'fixtures/sample/hot.ts', '400']);
  assert.equal(r.status, 0, r.stderr);
  const tracks = await sampledFunctions(JSON.parse(fs.readFileSync(out, 'utf8')) as { traceEvents: unknown[] });
  const t = tracks.find((x) => x.functions.size > 0);
  assert.ok(t, 'a track with samples');
  assert.equal(t.thread, 'main thread (sampled)');
  assert.ok((t.functions.get('crunchNumbers') ?? 0) > 10);
  assert.ok((t.functions.get('hashStrings') ?? 0) > 5);
});

test('cpuprofile output: self-time shares by shared frame label', () => {
  const out = path.join(tmp, 'agree.cpuprofile');
  const r = sample(['-o', out, '--', 'fixtures/sample/agree.js']);
  assert.equal(r.status, 0, r.stderr);
  const shares = selfTimeShares(readCpuProfile(out));
  const top = shares.slice(0, 3).map((s) => s.label.replace(/ \(.*/, ''));
  assert.deepEqual(top, ['heavy', 'medium', 'light'], JSON.stringify(shares.slice(0, 5)));
});

test("no stackscope frames: the preload's own work (starting and stopping the profiler) is not in the profile", () => {
  const out = path.join(tmp, 'own.cpuprofile'),
    folded = path.join(tmp, 'own.folded');
  for (const file of [out, folded]) {
    const r = sample(['-o', file, '--', 'fixtures/sample/agree.js', '1', '2']);
    assert.equal(r.status, 0, r.stderr);
  }
  const profile = JSON.parse(fs.readFileSync(out, 'utf8')) as {
    nodes: { id: number; callFrame: { url: string } }[];
    samples: number[];
    timeDeltas: number[];
    startTime: number;
    endTime: number;
  };
  const own = profile.nodes.filter((n) => n.callFrame.url.includes('/dist/') || n.callFrame.url.includes('run-preload'));
  assert.deepEqual(
    own.map((n) => n.callFrame.url),
    [],
    'no frame of stackscope in the .cpuprofile',
  );
  assert.doesNotMatch(fs.readFileSync(folded, 'utf8'), /run-preload|\/dist\//, 'none in folded stacks');
  const ids = new Set(profile.nodes.map((n) => n.id));
  assert.ok(profile.samples.length > 0 && profile.samples.every((id) => ids.has(id)), 'every sample names a frame that is there');
  const last = profile.timeDeltas.reduce((a, b) => a + b, 0);
  assert.ok(last <= profile.endTime - profile.startTime, 'samples keep their times');
});

test('bad input: one line on stderr, non-zero exit', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--', 'no/such/script.js'], /^stackscope: script not found: no\/such\/script\.js\n$/],
    [['--format', 'svg', '--', 'fixtures/sample/hot.ts'], /^stackscope: bad format "svg": use one of/],
    [['--interval', 'fast', '--', 'fixtures/sample/hot.ts'], /^stackscope: bad interval "fast"/],
    [['--interval', '0ms', '--', 'fixtures/sample/hot.ts'], /^stackscope: bad interval "0ms"/],
    [['--duration', 'x', '--', 'fixtures/sample/hot.ts'], /^stackscope: bad duration "x"/],
    [[], /^stackscope: missing script/],
  ];
  for (const [args, re] of cases) {
    const r = sample(args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  }
});
