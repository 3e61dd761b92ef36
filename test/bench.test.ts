/**
 * The bench harness end to end, through the real CLI in child processes: statistics on
 * strategies of known cost, failures, bad bench files, and the combined trace as DevTools reads it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseWithDevTools, treeText } from './helpers/devtools.js';
import type { BenchReport, StrategyResult } from '../src/bench/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist/cli/index.js');

function stackscope(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function benchJson(...args: string[]): { report: BenchReport; code: number | null; stderr: string } {
  const r = stackscope('bench', ...args, '--json');
  assert.ok(r.stdout.trim().startsWith('{'), `no JSON report; stderr: ${r.stderr}`);
  return { report: JSON.parse(r.stdout) as BenchReport, code: r.code, stderr: r.stderr };
}

const byName = (rows: StrategyResult[], name: string) => {
  const row = rows.find((r) => r.strategy === name);
  assert.ok(row, `no row for ${name}`);
  return row;
};

test('5 ms vs 10 ms: ranked right, ratio ~2 and significant; two identical strategies are not different', () => {
  const { report, code } = benchJson('fixtures/bench/synthetic.bench.ts', '--runs', '8', '--warmup', '1');
  assert.equal(code, 0);
  const rows = report.untraced.strategies;
  assert.equal(rows.length, 3);
  assert.equal(rows[2]!.strategy, 'ten-ms', 'the 10 ms strategy ranks last');
  assert.ok(['five-ms', 'five-ms-again'].includes(report.untraced.fastest!));
  const ten = byName(rows, 'ten-ms');
  // ~2 by construction; the margin absorbs preemption on a shared 2-core machine (1.49 was seen
  // with a CPU hog on both cores beside the suite: preempted 5 ms runs measure longer).
  assert.ok(ten.ratio > 1.4 && ten.ratio < 2.6, `ratio ${ten.ratio}`);
  assert.equal(ten.vsFastest!.significant, true);
  // (1.2, not 1.5: under a CPU hog beside the suite, preempted runs widened the interval below 1.5)
  assert.ok(ten.vsFastest!.ci[0] > 1.2, `CI of a 2x gap stays well above 1: ${ten.vsFastest!.ci.join('–')}`);
  assert.match(ten.verdict, /slower/);
  const twinOf = (rep: BenchReport) =>
    rep.untraced.strategies.find((r) => r.strategy !== rep.untraced.fastest && r.strategy.startsWith('five'))!;
  let twin = twinOf(report);
  if (twin.vsFastest!.significant) {
    // A sound test still calls identical strategies different at its false-positive rate (≤ 5 %):
    // one retry tells a defect (a claim every time) from that rate (twice in a row: ≤ 0.25 %).
    twin = twinOf(
      benchJson('fixtures/bench/synthetic.bench.ts', '--runs', '8', '--warmup', '1', '--strategy', 'five-ms', '--strategy', 'five-ms-again')
        .report,
    );
  }
  assert.equal(twin.vsFastest!.significant, false, `identical strategies reported different: ${JSON.stringify(twin.vsFastest)}`);
  assert.equal(twin.verdict, 'no significant difference');
  for (const r of rows) {
    assert.equal(r.runs, 8);
    assert.equal(r.timesMs.length, 8);
    assert.ok(r.min <= r.median && r.median <= r.p95, 'min <= median <= p95');
    assert.ok(Math.abs(r.opsPerSec - 1000 / r.mean) < 1e-6);
  }
  const five = byName(rows, 'five-ms').median;
  // A spin on the wall clock ends late by however long its thread waits for a core at the end:
  // 7.5 ms in a full run with a CPU hog on both cores, still short of the 10 ms strategy.
  assert.ok(five >= 4.95 && five < 9, `a 5 ms strategy measures ~5 ms: ${five}`);
});

test('a text report names the winner, gives the ratio and its CI in short columns, and says once how significance is decided', () => {
  const r = stackscope('bench', 'fixtures/bench/synthetic.bench.ts', '--runs', '9', '--strategy', 'five-ms', '--strategy', 'ten-ms');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^strategy +median +mean +p95 +min +stddev +runs +ops\/s +heap MB +vs fastest +95% CI$/m);
  assert.match(r.stdout, /^five-ms .*fastest$/m);
  assert.match(r.stdout, /^ten-ms .* [12]\.\d\d× slower +\d+\.\d\d–\d+\.\d\d$/m);
  assert.equal(r.stdout.match(/Mann-Whitney/g)?.length, 1, 'the rule is stated once, under the table');
  assert.doesNotMatch(r.stdout, /five-ms-again/, '--strategy filters');
  for (const line of r.stdout.split('\n')) assert.ok(line.length <= 100, `fits in 100 columns: ${line}`);
});

test('a run that never finishes fails its strategy as timed out; its process is replaced and the others are measured', () => {
  const started = Date.now();
  const { report, code } = benchJson('fixtures/bench/hangs.bench.ts', '--runs', '2');
  assert.ok(Date.now() - started < 30_000, 'the bench ends');
  assert.equal(code, 1, 'a timed-out strategy fails the command');
  assert.equal(report.timeout, 1, 'the bench file sets the timeout');
  // In the bench's order; the promise that rejects after its timeout is charged to no one.
  assert.deepEqual(report.failures, [
    { strategy: 'endless-loop', error: 'timed out after 1 s' },
    { strategy: 'never-settles', error: 'timed out after 1 s' },
  ]);
  assert.deepEqual(report.untraced.strategies.map((s) => s.strategy).sort(), ['also-ok', 'ok']);
  for (const s of report.untraced.strategies) assert.equal(s.runs, 2, `${s.strategy} ran every round`);
  const text = stackscope(
    'bench',
    'fixtures/bench/hangs.bench.ts',
    '--runs',
    '1',
    '--timeout',
    '0.5',
    '--strategy',
    'ok',
    '--strategy',
    'endless-loop',
  );
  assert.equal(text.code, 1);
  assert.match(text.stdout, /^FAILED endless-loop: timed out after 0\.5 s$/m, '--timeout wins over the bench file');
  assert.match(text.stdout, /^ok +\d.* 1 +[\d.]+ +[\d.]+ +fastest$/m, 'the other strategy is measured');
});

test('trace mode: a strategy recorded by a process that is then replaced still gets its trace', async () => {
  const { runBench } = (await import('../dist/bench/index.js')) as typeof import('../src/bench/index.js');
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-replaced-'));
  try {
    const raw = await runBench({
      file: path.join(root, 'fixtures/bench/hangs.bench.ts'),
      mode: 'trace',
      runs: 1,
      warmup: 0,
      outDir: out,
      strategies: ['ok', 'endless-loop'],
      // The traced process records "ok", then hangs and is replaced: its recording of "ok" is lost.
      order: (runs) =>
        [...runs].sort(
          (a, b) =>
            Number(a.process === 'untraced') - Number(b.process === 'untraced') ||
            Number(a.strategy !== 'ok') - Number(b.strategy !== 'ok'),
        ),
    });
    assert.deepEqual(raw.errors, { 'endless-loop': 'timed out after 1 s' });
    assert.equal(raw.untraced.ok!.length, 1);
    assert.equal(raw.observed!.ok!.length, 1);
    assert.ok(fs.existsSync(raw.files.traces!.ok!), 'the replacement recorded "ok" again');
    assert.deepEqual(Object.keys(raw.files.traces!), ['ok']);
    assert.ok(
      raw.warnings.some((w) => /traced process was replaced .*; the outputs of ok come from one extra run$/.test(w)),
      raw.warnings.join('; '),
    );
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('errors nobody awaited fail their own strategy, during or after its run', () => {
  const { report, code } = benchJson('fixtures/bench/stray.bench.ts', '--runs', '2');
  assert.equal(code, 1);
  assert.deepEqual(report.failures, [
    { strategy: 'forgot-await', error: 'unhandled rejection: forgot to await' },
    { strategy: 'leaves-a-timer', error: 'uncaught exception after its run: late boom' },
  ]);
  assert.deepEqual(
    report.untraced.strategies.map((s) => [s.strategy, s.runs]),
    [['ok', 2]],
  );
});

test('an output folder that cannot be written is a one-line error, found before any run', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bench-out-')), 'a-file');
  fs.writeFileSync(file, '');
  const cases: [string, RegExp][] = [[path.join(file, 'out'), /\(.*a-file is not a folder\)$/]];
  // Under /proc, recursive mkdir never returns (ENOENT on a parent that exists, retried forever).
  if (fs.existsSync('/proc/self')) cases.push(['/proc/stackscope-test/out', /\(cannot create \/proc\/stackscope-test: ENOENT\)$/]);
  for (const [dir, reason] of cases) {
    const started = Date.now();
    const r = stackscope('bench', 'fixtures/bench/synthetic.bench.ts', '--mode', 'trace', '--out', dir);
    assert.ok(Date.now() - started < 10_000, `${dir}: answered at once`);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr.trimEnd(), new RegExp(`^stackscope: cannot write outputs to ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `));
    assert.match(r.stderr.trimEnd(), reason);
  }
});

test('a throwing strategy is reported by name with its error while the others still run', () => {
  const { report, code } = benchJson('fixtures/bench/throws.bench.ts', '--runs', '3');
  assert.equal(code, 1, 'a failed strategy fails the command');
  assert.deepEqual(report.failures, [{ strategy: 'broken', error: 'mailbox exploded' }]);
  assert.deepEqual(
    report.untraced.strategies.map((s) => s.strategy),
    ['ok'],
  );
  assert.equal(report.untraced.strategies[0]!.runs, 3);
  const text = stackscope('bench', 'fixtures/bench/throws.bench.ts', '--runs', '2');
  assert.match(text.stdout, /FAILED broken: mailbox exploded/);
});

test('bad bench files give one line naming the file and the problem, and a non-zero exit', () => {
  const cases: [string[], RegExp][] = [
    [['fixtures/bench/no-export.bench.ts'], /^stackscope: fixtures\/bench\/no-export\.bench\.ts: no bench exported/],
    [
      ['fixtures/bench/setup-throws.bench.ts'],
      /^stackscope: fixtures\/bench\/setup-throws\.bench\.ts: setup failed: cannot reach the mail server$/,
    ],
    [
      ['fixtures/bench/synthetic.bench.ts', '--strategy', 'nope'],
      /^stackscope: fixtures\/bench\/synthetic\.bench\.ts: no strategy named "nope" \(the bench has: five-ms, ten-ms, five-ms-again\)$/,
    ],
    [['fixtures/bench/missing.bench.ts'], /^stackscope: fixtures\/bench\/missing\.bench\.ts: no such bench file$/],
    [
      ['fixtures/bench/syntax-error.bench.ts'],
      /^stackscope: fixtures\/bench\/syntax-error\.bench\.ts: failed to load: syntax error: Unexpected "}" \(line 3:36\)$/,
    ],
  ];
  for (const [args, expected] of cases) {
    const r = stackscope('bench', ...args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line for ${args[0]}: ${r.stderr}`);
    assert.match(r.stderr.trimEnd(), expected);
    assert.equal(r.stdout, '');
  }
});

test('trace mode: untraced timings alongside, one trace per strategy, and a combined trace with one aligned process per strategy', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-test-'));
  try {
    const { report, code } = benchJson('fixtures/bench/synthetic.bench.ts', '--mode', 'trace', '--runs', '3', '--out', out);
    assert.equal(code, 0);
    assert.ok(report.observed, 'traced timings are reported');
    assert.equal(report.observed!.label, 'traced');
    assert.equal(report.untraced.strategies.length, 3, 'untraced timings from the same invocation');
    for (const s of ['five-ms', 'ten-ms', 'five-ms-again']) {
      assert.ok(report.observed!.overhead[s]! > 0.5, `observer cost for ${s}`);
      assert.ok(fs.existsSync(report.outputs.traces![s]!), `trace of ${s}`);
    }
    assert.equal(report.outputs.combinedTrace, path.join(out, 'compare.trace.json'));

    const dt = await parseWithDevTools(report.outputs.combinedTrace!);
    assert.equal(dt.dropped, 0, 'no slice dropped for bad nesting');
    const mains = dt.tracks.filter((t) => t.threadName === 'main');
    assert.deepEqual(mains.map((t) => t.processName).sort(), ['five-ms', 'five-ms-again', 'ten-ms']);
    assert.equal(new Set(mains.map((t) => t.pid)).size, 3, 'one process per strategy');
    for (const t of mains) {
      const tree = treeText(t);
      const body = t.processName === 'ten-ms' ? 'tenMs' : 'fiveMs';
      const other = body === 'tenMs' ? 'fiveMs' : 'tenMs';
      assert.match(
        tree,
        new RegExp(
          `^${t.processName} \\(fixtures/bench/synthetic\\.bench\\.ts:\\d+\\)\\n  ${body} \\(fixtures/bench/busy\\.ts:\\d+\\)\\n    spin \\(fixtures/bench/busy\\.ts:2\\)`,
        ),
        tree,
      );
      assert.doesNotMatch(tree, new RegExp(other), `${t.processName} holds only its own calls`);
      const top = t.entries.find((e) => e.depth === 0)!;
      const expected = body === 'tenMs' ? 10_000 : 5_000;
      // A busy-wait cannot end early; on a loaded machine it can end late (preempted at its end).
      assert.ok(top.dur >= expected * 0.98 && top.dur < expected * 1.6, `${t.processName} lasts ~${expected} µs: ${top.dur}`);
    }
    const starts = mains.map((t) => Math.min(...t.entries.map((e) => e.ts)));
    assert.ok(Math.max(...starts) - Math.min(...starts) < 1000, `strategies start together: ${starts}`);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
