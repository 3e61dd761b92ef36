/**
 * Statistics for bench timings. Comparisons rest on two independent checks, because a harness
 * that calls noise a win is worse than none: a bootstrap confidence interval of the ratio of
 * medians (robust to the outliers a shared machine produces) and a Mann-Whitney U rank test (no
 * assumption about the shape of the distributions).
 */
import { rng } from '../util/random.js';

export interface Summary {
  runs: number;
  median: number;
  mean: number;
  p95: number;
  min: number;
  max: number;
  stddev: number;
}

export function summarize(xs: readonly number[]): Summary {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return { runs: 0, median: NaN, mean: NaN, p95: NaN, min: NaN, max: NaN, stddev: NaN };
  const mean = s.reduce((a, b) => a + b, 0) / n;
  // One run says nothing about spread: NaN (shown as "-"), not a reassuring 0.
  const variance = n > 1 ? s.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : NaN;
  return {
    runs: n,
    median: quantileSorted(s, 0.5),
    mean,
    p95: quantileSorted(s, 0.95),
    min: s[0]!,
    max: s[n - 1]!,
    stddev: Math.sqrt(variance),
  };
}

/** Linear interpolation between closest ranks (the R-7 / numpy default). */
export function quantileSorted(s: readonly number[], q: number): number {
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export function median(xs: readonly number[]): number {
  return quantileSorted(
    [...xs].sort((a, b) => a - b),
    0.5,
  );
}

/**
 * Percentile bootstrap CI of median(slow) / median(fast). With few runs the interval is wide,
 * which is the point: it says "cannot tell" instead of inventing a winner.
 */
export function bootstrapRatioCI(
  slow: readonly number[],
  fast: readonly number[],
  { resamples = 2000, confidence = 0.95, seed = 1 } = {},
): [number, number] {
  if (slow.length === 0 || fast.length === 0) return [NaN, NaN];
  const rand = rng(seed);
  const pick = (xs: readonly number[]) => {
    const r = new Array<number>(xs.length);
    for (let i = 0; i < xs.length; i++) r[i] = xs[Math.floor(rand() * xs.length)]!;
    return median(r);
  };
  const ratios: number[] = [];
  for (let i = 0; i < resamples; i++) ratios.push(pick(slow) / pick(fast));
  ratios.sort((a, b) => a - b);
  const tail = (1 - confidence) / 2;
  return [quantileSorted(ratios, tail), quantileSorted(ratios, 1 - tail)];
}

/**
 * Two-sided Mann-Whitney U test p-value. Exact (by counting rank-sum arrangements) for small
 * samples without ties, where the normal approximation is poor; normal approximation with tie
 * correction otherwise.
 */
export function mannWhitneyP(a: readonly number[], b: readonly number[]): number {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) return 1;
  const all = [...a.map((v) => ({ v, g: 0 })), ...b.map((v) => ({ v, g: 1 }))].sort((x, y) => x.v - y.v);
  const ranks = new Array<number>(all.length);
  let tieTerm = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j + 1 < all.length && all[j + 1]!.v === all[i]!.v) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[k] = r;
    const t = j - i + 1;
    tieTerm += t ** 3 - t;
    i = j + 1;
  }
  let r1 = 0;
  all.forEach((x, i) => {
    if (x.g === 0) r1 += ranks[i]!;
  });
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  const u = Math.min(u1, n1 * n2 - u1);
  if (tieTerm === 0 && n1 * n2 <= 400) return Math.min(1, 2 * exactUCdf(n1, n2, u));
  const n = n1 + n2;
  const mu = (n1 * n2) / 2;
  const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1))));
  if (sigma === 0) return 1;
  const z = (u - mu + 0.5) / sigma; // continuity correction; u <= mu so z <= 0.5/sigma
  return Math.min(1, 2 * normalCdf(z));
}

/** P(U <= u) under H0, by the classic recurrence on the number of arrangements. */
function exactUCdf(n1: number, n2: number, u: number): number {
  // f[i][j][k]: arrangements of i and j items with U = k; computed row by row in k.
  const memo = new Map<string, number>();
  const count = (i: number, j: number, k: number): number => {
    if (k < 0) return 0;
    if (i === 0 || j === 0) return k === 0 ? 1 : 0;
    const key = `${i},${j},${k}`;
    let v = memo.get(key);
    if (v === undefined) memo.set(key, (v = count(i - 1, j, k - j) + count(i, j - 1, k)));
    return v;
  };
  let total = 1;
  for (let i = 1; i <= n1; i++) total = (total * (n2 + i)) / i; // C(n1+n2, n1)
  let cum = 0;
  for (let k = 0; k <= Math.floor(u); k++) cum += count(n1, n2, k);
  return cum / total;
}

function normalCdf(z: number): number {
  // Abramowitz-Stegun 7.1.26 erf approximation: error < 1.5e-7, plenty for a p-value.
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/**
 * When "slower" is claimed: the CI's lower bound clears 1 + MIN_EFFECT (gaps under ~1% are within
 * what CPU frequency and scheduling do on a shared machine) and the rank test, Holm-adjusted for
 * the number of strategies compared with the fastest, gives p < ALPHA.
 */
export const ALPHA = 0.05;
export const MIN_EFFECT = 0.01;
export const CONFIDENCE = 0.95;

export interface Comparison {
  /** median(this) / median(baseline) */
  ratio: number;
  /** 95% bootstrap CI of the ratio */
  ci: [number, number];
  /** Mann-Whitney two-sided p-value of this comparison alone */
  p: number;
  /** p adjusted (Holm) for all the comparisons made against the same baseline */
  pAdjusted: number;
  /** true only when both checks agree the gap is real and larger than MIN_EFFECT */
  significant: boolean;
}

/**
 * Holm's step-down adjustment: with one test per strategy against the fastest, p < 0.05 on each
 * would claim a false difference far more often than 5% of the time as strategies are added
 * (and the fastest is itself picked from the same noisy data). Controls that family-wise error.
 */
export function holmAdjust(ps: readonly number[]): number[] {
  const order = ps.map((p, i) => [p, i] as const).sort((a, b) => a[0] - b[0]);
  const out = new Array<number>(ps.length);
  let running = 0;
  order.forEach(([p, i], rank) => {
    running = Math.max(running, Math.min(1, (ps.length - rank) * p));
    out[i] = running;
  });
  return out;
}

/**
 * Is each of `others` really slower than `baseline`? One family of comparisons, so the rank
 * test's p-values are adjusted together (see holmAdjust).
 */
export function compareToBaseline(
  baseline: readonly number[],
  others: readonly (readonly number[])[],
  { alpha = ALPHA, minEffect = MIN_EFFECT, seed = 1 } = {},
): Comparison[] {
  const raw = others.map((xs) => ({
    ratio: median(xs) / median(baseline),
    ci: bootstrapRatioCI(xs, baseline, { seed, confidence: CONFIDENCE }),
    p: mannWhitneyP(xs, baseline),
  }));
  const adjusted = holmAdjust(raw.map((r) => r.p));
  return raw.map((r, i) => ({
    ...r,
    pAdjusted: adjusted[i]!,
    significant: others[i]!.length >= 2 && baseline.length >= 2 && r.ci[0] > 1 + minEffect && adjusted[i]! < alpha,
  }));
}

/** One comparison on its own: is `slow` really slower than `fast`? */
export function compareSamples(
  slow: readonly number[],
  fast: readonly number[],
  opts: { alpha?: number; minEffect?: number; seed?: number } = {},
): Comparison {
  return compareToBaseline(fast, [slow], opts)[0]!;
}

/** Smallest two-sided Mann-Whitney p with n runs on each side: complete separation, 2 / C(2n, n). */
export function minRankP(n: number): number {
  let c = 1;
  for (let i = 1; i <= n; i++) c = (c * (n + i)) / i;
  return Math.min(1, 2 / c);
}

/** Fewest runs per strategy with which `comparisons` Holm-adjusted rank tests can reach ALPHA. */
export function runsNeeded(comparisons: number): number {
  let n = 1;
  while (minRankP(n) * Math.max(1, comparisons) >= ALPHA) n++;
  return n;
}
