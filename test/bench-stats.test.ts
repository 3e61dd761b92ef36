/** Bench statistics against known values. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  summarize,
  mannWhitneyP,
  bootstrapRatioCI,
  compareSamples,
  compareToBaseline,
  holmAdjust,
  runsNeeded,
} from '../src/bench/stats.js';
import { formatDiffFolded } from '../src/bench/outputs.js';
import { buildReport } from '../src/bench/report.js';
import { formatReport } from '../src/bench/format.js';
import { findBench } from '../src/bench/define.js';
import type { RawResults } from '../src/bench/runner.js';

/** The same heap figure (bytes) for every strategy. */
const heap = (times: Record<string, number[]>, bytes: number) => Object.fromEntries(Object.keys(times).map((s) => [s, bytes]));

function raw(times: Record<string, number[]>, extra: Partial<RawResults> = {}): RawResults {
  const strategies = Object.keys(times);
  return {
    name: 'b',
    file: 'b.bench.ts',
    mode: 'off',
    runs: Math.max(...Object.values(times).map((t) => t.length)),
    warmup: 1,
    timeout: 60,
    order: 'shuffled every round',
    strategies,
    untraced: times,
    heapPeak: heap(times, 2.5e6),
    errors: {},
    files: {},
    outDir: null,
    warnings: [],
    ...extra,
  };
}

test('summary statistics', () => {
  const s = summarize([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(s.median, 5.5);
  assert.equal(s.mean, 5.5);
  assert.equal(s.min, 1);
  assert.ok(Math.abs(s.p95 - 9.55) < 1e-9);
  assert.ok(Math.abs(s.stddev - 3.0276503540974917) < 1e-12);
});

test('Mann-Whitney U: exact p-values match R wilcox.test', () => {
  assert.ok(Math.abs(mannWhitneyP([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) - 0.007937) < 1e-5);
  assert.ok(Math.abs(mannWhitneyP([1, 3, 5, 7, 9], [2, 4, 6, 8, 10]) - 0.6905) < 1e-4);
  assert.equal(mannWhitneyP([1, 2, 3], [4, 5, 6]), 0.1, 'three runs can never reach p < 0.05');
  assert.ok(mannWhitneyP([1, 1, 2, 2], [1, 1, 2, 2]) > 0.9, 'ties: normal approximation');
});

test('bootstrap CI of the ratio of medians is deterministic and brackets the ratio', () => {
  const slow = [10, 10.2, 10.1, 9.9, 10.3, 10.05];
  const fast = [5, 5.1, 5.05, 4.9, 5.2, 5.02];
  const ci = bootstrapRatioCI(slow, fast);
  assert.deepEqual(ci, bootstrapRatioCI(slow, fast));
  assert.ok(ci[0] < 2.0 && ci[1] > 1.95 && ci[0] > 1.8 && ci[1] < 2.2, String(ci));
});

test('significance: a real gap is claimed, noise and tiny gaps are not', () => {
  assert.equal(compareSamples([10, 10.2, 10.1, 9.9, 10.3], [5, 5.1, 5.05, 4.9, 5.2]).significant, true);
  assert.equal(compareSamples([5, 5.1, 5.05, 4.9, 5.2], [5.01, 5.11, 5.04, 4.95, 5.15]).significant, false);
  // Perfectly separated but only 0.4% apart: below the 1% floor.
  assert.equal(compareSamples([5.02, 5.021, 5.022, 5.023, 5.024], [5.0, 5.001, 5.002, 5.003, 5.004]).significant, false);
});

test('differential folded output is difffolded.pl format', () => {
  const text = formatDiffFolded(
    new Map([
      ['a;b', 5],
      ['a;c', 2],
    ]),
    new Map([
      ['a;b', 1],
      ['a;d', 4],
    ]),
  );
  assert.deepEqual(text.trimEnd().split('\n').sort(), ['a;b 5 1', 'a;c 2 0', 'a;d 0 4']);
});

test('one run: no spread is claimed (stddev "-"), nothing is significant, and the report says how many runs it takes', () => {
  assert.ok(Number.isNaN(summarize([5]).stddev));
  const r = buildReport(raw({ a: [5], b: [10] }));
  assert.equal(r.untraced.fastest, 'a');
  assert.equal(r.untraced.strategies[1]!.vsFastest!.significant, false);
  assert.match(r.warnings.join('\n'), /with 1 run per strategy no difference can be shown significant.*use --runs 4 or more/);
  const text = formatReport(r);
  assert.match(text, /^b +10\.0 +10\.0 +10\.0 +10\.0 +- +1 +100\.0 +2\.50 +2\.00×, n\.s\. +2\.00–2\.00$/m);
});

test('all strategies failing: no table, every failure in the bench order', () => {
  const r = buildReport(raw({ first: [], second: [] }, { errors: { second: 'timed out after 60 s', first: 'boom' } }));
  assert.equal(r.untraced.fastest, null);
  assert.deepEqual(
    r.failures.map((f) => f.strategy),
    ['first', 'second'],
  );
  const text = formatReport(r);
  assert.match(text, /No strategy completed its runs\.\n\nFAILED first: boom\nFAILED second: timed out after 60 s\n/);
  assert.doesNotMatch(text, /Mann-Whitney/);
});

test("the text table fits in 100 columns with the README's strategies; --json keeps the full comparison", () => {
  const spread = (m: number) => [0.9, 0.95, 1, 1.05, 1.3].map((f) => m * f);
  const observed = { 'batched-fixed': spread(21), batched: spread(35), concurrent: spread(125), 'one-at-a-time': spread(700) };
  // Heap figures as wide as they come: a strategy leaking 2 GB a run.
  const r = buildReport(
    raw(
      { 'batched-fixed': spread(20.2), batched: spread(32.6), concurrent: spread(120), 'one-at-a-time': spread(611) },
      { mode: 'trace', observed, heapPeak: heap(observed, 2.1e9) },
    ),
  );
  const text = formatReport(r);
  for (const line of text.split('\n')) assert.ok(line.length <= 100, `${line.length} columns: ${line}`);
  assert.match(text, /^one-at-a-time +611 .* 2100 +30\.25× slower +\d+\.\d\d–\d+\.\d\d$/m);
  assert.match(text, /^one-at-a-time +700 .* ×1\.15$/m, 'the traced table gives the cost against the untraced run');
  assert.match(text, /Holm-adjusted for 3 comparisons/);
  const json = JSON.parse(JSON.stringify(r)) as typeof r;
  const slow = json.untraced.strategies.find((s) => s.strategy === 'one-at-a-time')!;
  assert.deepEqual(Object.keys(slow.vsFastest!).sort(), ['ci', 'p', 'pAdjusted', 'ratio', 'significant']);
  assert.equal(slow.verdict, '30.25× slower');
  assert.equal(slow.timesMs.length, 5);
  assert.equal(slow.heapPeak, 2.1e9);
  assert.equal(json.observed!.strategies[0]!.heapPeak, null, 'the heap is measured in the untraced process only');
});

test('Holm adjustment over the comparisons with the fastest', () => {
  assert.deepEqual(holmAdjust([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06]);
  assert.deepEqual(holmAdjust([0.5]), [0.5]);
  assert.equal(runsNeeded(1), 4);
  assert.equal(runsNeeded(3), 5);
  // 4 runs: p = 0.029 alone is enough, but not once adjusted for two comparisons.
  const fast = [1, 1.01, 1.02, 1.03];
  const slow = [2, 2.01, 2.02, 2.03];
  assert.equal(compareSamples(slow, fast).significant, true);
  const two = compareToBaseline(fast, [slow, slow.map((x) => x + 1)]);
  assert.ok(two.every((c) => Math.abs(c.p - 0.0286) < 1e-3 && Math.abs(c.pAdjusted - 0.0571) < 1e-3 && !c.significant));
});

test('bench file defaults are checked: runs, warmup, timeout', () => {
  const bench = (extra: object) => findBench({ default: { strategies: { a: () => {} }, ...extra } });
  assert.equal(bench({ runs: 0 }), '`runs` must be an integer >= 1');
  assert.equal(bench({ warmup: 1.5 }), '`warmup` must be an integer >= 0');
  assert.equal(bench({ timeout: -1 }), '`timeout` must be a number of seconds > 0');
  assert.equal(typeof bench({ runs: 3, warmup: 0, timeout: 0.5 }), 'object');
});
