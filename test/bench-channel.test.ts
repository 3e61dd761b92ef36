/**
 * The harness talks to its bench processes on a channel of its own: what the bench's code sends
 * with process.send, or forges, never stands in for a reply. And the table says how much memory
 * each strategy takes, beside its times.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { formatReport } from '../src/bench/format.js';
import type { BenchReport, StrategyResult } from '../src/bench/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist/cli/index.js');

function stackscope(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function benchJson(...args: string[]): { report: BenchReport; code: number | null } {
  const r = stackscope('bench', ...args, '--json');
  assert.ok(r.stdout.trim().startsWith('{'), `no JSON report (exit ${r.code}); stderr: ${r.stderr}`);
  return { report: JSON.parse(r.stdout) as BenchReport, code: r.code };
}

const row = (report: BenchReport, name: string): StrategyResult => {
  const found = report.untraced.strategies.find((s) => s.strategy === name);
  assert.ok(found, `no row for ${name}: ${JSON.stringify(report.failures)}`);
  return found;
};

test("process.send('ready') and forged replies leave every strategy's own timings intact", () => {
  const runs = 3;
  const warmup = 1;
  const { report, code } = benchJson('fixtures/bench/ipc.bench.ts', '--runs', String(runs), '--warmup', String(warmup));
  assert.equal(code, 0, JSON.stringify(report.failures));
  assert.deepEqual(report.failures, []);
  // Busy-waits cannot end early: each time is at least the strategy's own work, never the forged 0.001.
  for (const [name, atLeast] of [
    ['honest', 5],
    ['says-ready', 5],
    ['forges', 10],
  ] as const) {
    const r = row(report, name);
    assert.equal(r.timesMs.length, runs, `${name}: every run measured`);
    for (const ms of r.timesMs) assert.ok(ms >= atLeast * 0.99, `${name} measured ${ms} ms, less than its own ${atLeast} ms`);
  }
  // process.send still works for the bench's code: its callback reports success.
  assert.equal(row(report, 'send-callback').runs, runs);
  // Said once each, with the counts the fixture implies (its runs: warm-up, measured, and the untimed heap run).
  const perRun = { 'says-ready': 1, forges: 50 * 3 + 1, 'send-callback': 1 };
  const ipc = Object.values(perRun).reduce((a, b) => a + b) * (runs + warmup + 1);
  const forgedOnChannel = 50 * 3 * (runs + warmup + 1);
  const about = (re: RegExp) => report.warnings.filter((w) => re.test(w));
  assert.deepEqual(about(/process\.send/), [
    `the bench's code sent ${ipc} messages with process.send: the harness does not use that channel and ignored them`,
  ]);
  assert.deepEqual(about(/private channel/), [
    `${forgedOnChannel} messages on the harness's private channel did not come from the harness's code or answered no request, and were ignored`,
  ]);
});

test('the heap column shows a strategy holding 200 MB far above one that allocates nothing, in text and --json', () => {
  const { report, code } = benchJson('fixtures/bench/memory.bench.ts', '--runs', '2', '--warmup', '0');
  assert.equal(code, 0);
  const buffer = row(report, 'buffer-200mb');
  const array = row(report, 'array-8mb');
  const nothing = row(report, 'nothing');
  assert.ok(buffer.heapPeak! >= 199e6, `a 200 MB Buffer held: ${buffer.heapPeak}`);
  // 1 M doubles are 8 MB; growing the array leaves copies behind until a collection.
  assert.ok(array.heapPeak! >= 7.9e6 && array.heapPeak! < 80e6, `a ~8 MB array: ${array.heapPeak}`);
  assert.ok(nothing.heapPeak! < 2e6, `a loop on small integers allocates nothing: ${nothing.heapPeak}`);

  // The text report of the same results, as the CLI prints it.
  const text = formatReport(report);
  const lines = text.split('\n');
  const header = lines.find((l) => l.startsWith('strategy '))!.split(/ {2,}/);
  const col = header.indexOf('heap MB');
  assert.ok(col > 0, `a heap MB column: ${header.join(' | ')}`);
  const mb = (name: string) => Number(lines.find((l) => l.startsWith(`${name} `))!.split(/ {2,}/)[col]);
  assert.ok(mb('buffer-200mb') >= 199 && mb('buffer-200mb') < 250, text);
  assert.ok(mb('nothing') < 2, text);
  assert.match(text, /^heap MB: the most the heap \(V8's, Buffers included\) grew in one extra, untimed run\.$/m);
});

test('a strategy that fails in its untimed heap run fails, and the report says which run it was', () => {
  const { report, code } = benchJson('fixtures/bench/fails-late.bench.ts');
  assert.equal(code, 1);
  assert.deepEqual(report.failures, [{ strategy: 'fails-late', error: 'in its untimed heap run: fourth run' }]);
  assert.deepEqual(
    report.untraced.strategies.map((s) => [s.strategy, s.runs, typeof s.heapPeak]),
    [['ok', 2, 'number']],
  );
});
