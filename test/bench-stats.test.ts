/** Bench statistics against known values. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarize, mannWhitneyP, bootstrapRatioCI, compareSamples } from '../src/bench/stats.js';
import { formatDiffFolded } from '../src/bench/outputs.js';

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
  const text = formatDiffFolded(new Map([['a;b', 5], ['a;c', 2]]), new Map([['a;b', 1], ['a;d', 4]]));
  assert.deepEqual(text.trimEnd().split('\n').sort(), ['a;b 5 1', 'a;c 2 0', 'a;d 0 4']);
});
