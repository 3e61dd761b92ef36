/**
 * End to end through the real CLI: each fixture runs untraced and under `stackscope trace`; the
 * program must not notice (same stdout, stderr, exit code) and the DevTools trace engine must find
 * the expected call tree in the file, with nothing dropped for bad nesting.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { parseWithDevTools, track, treeText, type DtTrace, type DtTrack } from './helpers/devtools.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const CLI = path.join(ROOT, 'dist/cli/index.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-e2e-'));

interface Run {
  stdout: string;
  stderr: string;
  code: number | null;
}
function run(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, NODE_OPTIONS: '' } });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code }));
  });
}

interface Pair {
  plain: Run;
  traced: Run;
  trace: DtTrace;
  summary: Record<string, unknown>;
}
const pairs = new Map<string, Promise<Pair>>();

/** Untraced and traced runs of one fixture, compared by the caller. */
function pair(fixture: string, ...args: string[]): Promise<Pair> {
  const key = [fixture, ...args].join(' ');
  let p = pairs.get(key);
  if (!p) {
    p = (async () => {
      const script = `fixtures/trace/${fixture}`;
      const out = path.join(tmp, `${fixture.replaceAll('/', '-')}.json`);
      const tsx = /\.[cm]?ts$/.test(fixture) ? ['--import', 'tsx'] : [];
      const plainArgs = args.map((a) => a.replace('{run}', 'plain'));
      const tracedArgs = args.map((a) => a.replace('{run}', 'traced'));
      const [plain, traced] = await Promise.all([
        run([...tsx, script, ...plainArgs]),
        run([CLI, 'trace', '--json', '-o', out, script, ...tracedArgs]),
      ]);
      // --json: stackscope's own summary is the last stderr line, after the program's output.
      const lines = traced.stderr.split('\n');
      const summaryLine = lines.at(-2) ?? '';
      let summary: Record<string, unknown> = {};
      try {
        summary = JSON.parse(summaryLine) as Record<string, unknown>;
      } catch {
        /* asserted below */
      }
      traced.stderr = lines.slice(0, -2).join('\n') + (lines.length > 2 ? '\n' : '');
      assert.equal(summary.trace, out, `no summary line from stackscope; stderr:\n${traced.stderr}\n${summaryLine}`);
      return { plain, traced, trace: await parseWithDevTools(out), summary };
    })();
    pairs.set(key, p);
  }
  return p;
}

/** The program cannot tell it was traced, and DevTools draws every slice. */
async function checked(fixture: string, ...args: string[]): Promise<Pair> {
  const p = await pair(fixture, ...args);
  assert.equal(p.traced.stdout, p.plain.stdout, 'stdout');
  assert.equal(p.traced.stderr, p.plain.stderr, 'stderr');
  assert.equal(p.traced.code, p.plain.code, 'exit code');
  assert.equal(p.trace.generic, true);
  assert.equal(p.trace.dropped, 0, `dropped by DevTools: ${JSON.stringify(p.trace.tracks.flatMap((t) => t.dropped))}`);
  assert.equal(p.trace.metadata.overflowSlices, 0);
  assert.ok(p.trace.bounds.min >= 1);
  return p;
}

const F = (s: string): string => s.replace(/\(([\w./-]+):(\d+)\)/g, '(fixtures/trace/$1:$2)');
const count = (t: DtTrack, name: string): number => t.entries.filter((e) => e.name === F(name)).length;
const main0 = (p: Pair): DtTrack => p.trace.tracks.find((t) => t.tid === 0)!;

before(async () => {
  assert.ok(fs.existsSync(CLI), 'build first (npm test does)');
  // Start every fixture now, two at a time per CPU: the whole file stays well under a minute.
  for (const f of [
    'cjs.cjs',
    'esm.mjs',
    'typescript.ts',
    'classes.mjs',
    'generators.mjs',
    'async.mjs',
    'errors.mjs',
    'uncaught.mjs',
    'commonjs/ts-async-throw.ts',
    'cts-entry.cts',
    'exit.mjs',
    'worker.mjs',
    'http.mjs',
  ])
    void pair(f).catch(() => {});
});

test('CommonJS: require, arrows, nested calls', async () => {
  const p = await checked('cjs.cjs');
  assert.equal(
    treeText(main0(p)),
    F(
      [
        'main (cjs.cjs:3)',
        '  sumOf (cjs-lib.cjs:6)',
        '    cube (cjs-lib.cjs:5)',
        '      square (cjs-lib.cjs:2)',
        '    cube (cjs-lib.cjs:5)',
        '      square (cjs-lib.cjs:2)',
        '    cube (cjs-lib.cjs:5)',
        '      square (cjs-lib.cjs:2)',
      ].join('\n'),
    ),
  );
  assert.equal(main0(p).processName, 'node fixtures/trace/cjs.cjs');
  assert.equal(main0(p).threadName, 'main');
});

test('ESM: imports and live bindings', async () => {
  const p = await checked('esm.mjs');
  assert.equal(
    treeText(main0(p)),
    F(
      [
        'run (esm.mjs:3)',
        '  twice (esm-lib.mjs:6)',
        '    double (esm-lib.mjs:5)',
        '      bump (esm-lib.mjs:2)',
        '    double (esm-lib.mjs:5)',
        '      bump (esm-lib.mjs:2)',
      ].join('\n'),
    ),
  );
});

test('TypeScript via tsx: names and lines of the .ts source', async () => {
  const p = await checked('typescript.ts');
  const m = main0(p);
  assert.equal(
    treeText(m, (e) => e.ph === 'X' && !e.name.startsWith('(anonymous) (fixtures/trace/typescript.ts:3)')),
    F(
      [
        'Square (typescript.ts:5)',
        'Square (typescript.ts:5)',
        'largest (typescript.ts:10)',
        '  (anonymous) (typescript.ts:11)',
        '    Square.area (typescript.ts:6)',
        '  (anonymous) (typescript.ts:11)',
        '    Square.area (typescript.ts:6)',
        'describe (typescript.ts:13)',
      ].join('\n'),
    ),
  );
});

test('classes: constructor, static, getters/setters, private, super', async () => {
  const p = await checked('classes.mjs');
  const m = main0(p);
  assert.equal(count(m, 'Account (classes.mjs:5)'), 2);
  assert.equal(count(m, 'Savings (classes.mjs:28)'), 1);
  assert.equal(count(m, 'Account.create (classes.mjs:9)'), 1);
  assert.equal(count(m, 'Account.get balance (classes.mjs:12)'), 6);
  assert.equal(count(m, 'Account.set balance (classes.mjs:15)'), 3);
  assert.equal(count(m, 'Account.#check (classes.mjs:19)'), 3);
  const sav = m.entries.find((e) => e.name === F('Savings (classes.mjs:28)'))!;
  assert.equal(m.entries[m.entries.indexOf(sav) + 1]!.name, F('Account (classes.mjs:5)'), 'super() runs inside the subclass constructor');
  const check = m.entries.filter((e) => e.name === F('Account.#check (classes.mjs:19)'));
  assert.ok(check.every((e) => e.path.at(-1) === F('Account.set balance (classes.mjs:15)')));
});

test('generators: lazy segments as calls; async generator resumes with flows', async () => {
  const p = await checked('generators.mjs');
  const m = main0(p);
  assert.equal(m.entries.filter((e) => e.name === F('range (generators.mjs:2)') && e.path.length === 1).length, 4);
  assert.equal(count(m, 'ticks (generators.mjs:5)'), 1);
  // two awaits and two yields, each followed by a resumption
  assert.equal(count(m, 'resumed: ticks (generators.mjs:5)'), 4);
  assert.equal(p.trace.flows.length, 2);
  assert.equal(treeText(track(p.trace, 'async 1')), F('main (generators.mjs:11)\n  ticks (generators.mjs:5)'));
});

test('async/await with Promise.all: segments, lanes that never cross, flows', async () => {
  const p = await checked('async.mjs');
  const m = main0(p);
  assert.equal(count(m, 'fetchOne (async.mjs:3)'), 3);
  assert.equal(count(m, 'resumed: fetchOne (async.mjs:3)'), 6);
  assert.equal(count(m, 'transform (async.mjs:9)'), 3);
  assert.ok(
    m.entries.filter((e) => e.name === F('transform (async.mjs:9)')).every((e) => e.path.at(-1) === F('resumed: fetchOne (async.mjs:3)')),
  );
  const lanes = p.trace.tracks.filter((t) => t.threadName?.startsWith('async '));
  const lifetimes = lanes.flatMap((t) => t.entries.map((e) => e.name)).sort();
  assert.deepEqual(
    lifetimes,
    F('fetchAll (async.mjs:12)|fetchOne (async.mjs:3)|fetchOne (async.mjs:3)|fetchOne (async.mjs:3)|main (async.mjs:16)').split('|'),
  );
  assert.equal(treeText(track(p.trace, 'async 1')).split('\n').slice(0, 2).join('\n'), F('main (async.mjs:16)\n  fetchAll (async.mjs:12)'));
  // main, fetchAll and each fetchOne: first segment → continuations
  assert.equal(p.trace.flows.length, 5);
  for (const f of p.trace.flows) {
    assert.ok(!f[0]!.name.startsWith('resumed: ') && f.slice(1).every((x) => x.name.startsWith('resumed: ')), JSON.stringify(f));
  }
});

test('errors thrown and caught, sync and async', async () => {
  const p = await checked('errors.mjs');
  assert.equal(
    treeText(main0(p)),
    F(
      [
        'main (errors.mjs:21)',
        '  safe (errors.mjs:5)',
        '    fail (errors.mjs:2)',
        '    cleanup (errors.mjs:14)',
        '  rejectLater (errors.mjs:17)',
        'resumed: rejectLater (errors.mjs:17)',
        'resumed: main (errors.mjs:21)',
      ].join('\n'),
    ),
  );
});

test('uncaught error: same report and exit code, trace still written', async () => {
  const p = await checked('uncaught.mjs');
  assert.equal(p.plain.code, 1);
  assert.equal(treeText(main0(p)), F('compute (uncaught.mjs:2)\nexplode (uncaught.mjs:5)'));
});

test('TypeScript: an uncaught error after an await, the same report as under tsx (no extra frame)', async () => {
  const p = await checked('commonjs/ts-async-throw.ts');
  assert.equal(p.plain.code, 1);
  assert.match(p.plain.stderr, /Error: ts async boom 42\n {4}at main \(.*ts-async-throw\.ts:11:9\)\n\nNode\.js/);
  assert.equal(
    treeText(main0(p)),
    F(
      'main (commonjs/ts-async-throw.ts:8)\n  load (commonjs/ts-async-throw.ts:3)\nresumed: load (commonjs/ts-async-throw.ts:3)\nresumed: main (commonjs/ts-async-throw.ts:8)',
    ),
  );
});

test('TypeScript: a .cts entry and the .cts it requires are traced', async () => {
  const p = await checked('cts-entry.cts');
  assert.equal(p.plain.stdout, 'cts 42\n');
  assert.equal(treeText(main0(p)), F('twice (cts-entry.cts:5)\n  triple (cts-lib.cts:2)'));
});

test('early process.exit(n) with async work pending', async () => {
  const p = await checked('exit.mjs');
  assert.equal(p.plain.code, 4);
  const m = main0(p);
  assert.equal(count(m, 'neverFinishes (exit.mjs:5)'), 1);
  assert.equal(count(m, 'step (exit.mjs:2)'), 1);
});

test('worker thread: its own track with its own call tree', async () => {
  const p = await checked('worker.mjs');
  const w = p.trace.tracks.find((t) => t.tid !== 0 && t.entries.some((e) => e.name === F('inWorker (worker.mjs:6)')))!;
  assert.ok(w, 'worker track');
  assert.equal(w.pid, main0(p).pid);
  assert.match(w.threadName ?? '', /worker/);
  assert.equal(count(w, 'fib (worker.mjs:3)'), 177, 'fib(10) makes 177 calls');
  assert.equal(count(main0(p), 'fib (worker.mjs:3)'), 67, 'fib(8) makes 67 calls');
  assert.equal(count(main0(p), 'inWorker (worker.mjs:6)'), 0);
});

test('HTTP server and client on loopback: handler calls and Node tracks', async () => {
  const p = await checked('http.mjs');
  const m = main0(p);
  assert.equal(count(m, 'handle (http.mjs:3)'), 2);
  assert.ok(m.entries.filter((e) => e.name === F('render (http.mjs:7)')).every((e) => e.path.at(-1) === F('handle (http.mjs:3)')));
  assert.deepEqual(
    track(p.trace, 'requests').entries.map((e) => e.name),
    ['HTTP GET /a', 'HTTP GET /b'],
  );
  assert.equal(track(p.trace, 'HTTP client').entries.length, 2);
});

test('timing fidelity: busy-waits within 5 % (or 0.2 ms); the async lifetime covers the sleep', async () => {
  const truthFile = path.join(tmp, 'truth-{run}.json');
  const p = await checked('timing.mjs', truthFile);
  const truth = JSON.parse(fs.readFileSync(truthFile.replace('{run}', 'traced'), 'utf8')) as { spin: number[]; sleep: number[] };
  const m = main0(p);
  const spins = m.entries.filter((e) => e.name === F('spin (timing.mjs:7)')).map((e) => e.dur / 1000);
  assert.equal(spins.length, 3);
  spins.forEach((ms, i) => {
    const want = truth.spin[i]!;
    assert.ok(Math.abs(ms - want) <= Math.max(0.05 * want, 0.2), `spin #${i}: trace ${ms} ms, measured ${want} ms`);
    assert.ok(ms >= [20, 5, 5][i]!, `spin #${i} shorter than planted: ${ms} ms`);
  });
  const sleep = p.trace.tracks
    .filter((t) => t.threadName?.startsWith('async '))
    .flatMap((t) => t.entries)
    .find((e) => e.name === F('sleep30 (timing.mjs:22)'))!;
  assert.ok(sleep, 'sleep30 lifetime');
  // Against the fixture's own clock: libuv may fire a 30 ms timer a little early.
  assert.ok(sleep.dur / 1000 >= truth.sleep[0]! - 0.001, `lifetime ${sleep.dur / 1000} ms covers the ${truth.sleep[0]} ms sleep`);
  assert.ok(Math.abs(sleep.dur / 1000 - truth.sleep[0]!) <= Math.max(0.05 * truth.sleep[0]!, 0.2));
  // the segments around the await are short: the sleep itself is not on the main track
  const segs = m.entries.filter((e) => e.name.includes('sleep30'));
  assert.equal(segs.length, 2);
  assert.ok(segs.every((e) => e.dur < 5000));
});
