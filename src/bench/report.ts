/** Turns raw timings into the bench report: statistics per strategy, ranking, significance. */
import { compareToBaseline, minRankP, runsNeeded, summarize, type Comparison, type Summary } from './stats.js';
import type { RawResults } from './runner.js';
import type { ChildFiles } from './protocol.js';

export interface StrategyResult extends Summary {
  strategy: string;
  opsPerSec: number;
  /** median / fastest's median (1 for the fastest) */
  ratio: number;
  /** against the fastest; null for the fastest itself */
  vsFastest: Comparison | null;
  /** human verdict: "fastest", "1.92× slower", "no significant difference" */
  verdict: string;
  timesMs: number[];
  /**
   * bytes: the most the heap (V8 used heap plus external memory: Buffers, ArrayBuffers) grew during
   * one extra, untimed run above where it stood at the run's start; null: not measured (the
   * observed table)
   */
  heapPeak: number | null;
}

export interface TimingTable {
  label: string;
  fastest: string | null;
  strategies: StrategyResult[];
}

export interface BenchReport {
  bench: string;
  file: string;
  mode: RawResults['mode'];
  runs: number;
  warmup: number;
  /** seconds a run may take before its strategy fails as timed out */
  timeout: number;
  order: string;
  /** untraced timings (the real comparison) */
  untraced: TimingTable;
  /** timings under the tracer or sampler, with the slowdown it caused per strategy */
  observed?: TimingTable & { overhead: Record<string, number> };
  failures: { strategy: string; error: string }[];
  outputs: ChildFiles & { dir?: string; diffFolded?: Record<string, string> };
  warnings: string[];
}

export function buildTable(
  label: string,
  times: Record<string, number[]>,
  failed: Record<string, string>,
  heap: Record<string, number> = {},
): TimingTable {
  const ok = Object.keys(times).filter((s) => failed[s] === undefined && times[s]!.length > 0);
  const stats = new Map(ok.map((s) => [s, summarize(times[s]!)]));
  // The first of equal medians, in the bench's order, so ties resolve the same way every time.
  const fastest = ok.length ? ok.reduce((a, b) => (stats.get(b)!.median < stats.get(a)!.median ? b : a)) : null;
  const others = ok.filter((s) => s !== fastest);
  const vsFastest = new Map(
    fastest === null
      ? []
      : compareToBaseline(
          times[fastest]!,
          others.map((s) => times[s]!),
        ).map((c, i) => [others[i]!, c]),
  );
  const strategies = ok.map((s): StrategyResult => {
    const st = stats.get(s)!;
    const vs = vsFastest.get(s) ?? null;
    const verdict = vs === null ? 'fastest' : vs.significant ? `${vs.ratio.toFixed(2)}× slower` : 'no significant difference';
    return {
      strategy: s,
      ...st,
      opsPerSec: 1000 / st.mean,
      ratio: vs ? vs.ratio : 1,
      vsFastest: vs,
      verdict,
      timesMs: times[s]!,
      heapPeak: heap[s] ?? null,
    };
  });
  // A stable sort: equal medians keep the bench's order, so the fastest is still first on a tie.
  strategies.sort((a, b) => a.median - b.median);
  return { label, fastest, strategies };
}

export function buildReport(raw: RawResults): BenchReport {
  const untraced = buildTable('untraced', raw.untraced, raw.errors, raw.heapPeak);
  let observed: BenchReport['observed'];
  if (raw.observed) {
    const t = buildTable(raw.mode === 'trace' ? 'traced' : 'sampled', raw.observed, raw.errors);
    const overhead: Record<string, number> = {};
    for (const s of t.strategies) {
      const base = untraced.strategies.find((u) => u.strategy === s.strategy);
      if (base) overhead[s.strategy] = s.median / base.median;
    }
    observed = { ...t, overhead };
  }
  const warnings = [...raw.warnings];
  const comparisons = untraced.strategies.length - 1;
  if (comparisons > 0 && raw.runs < runsNeeded(comparisons)) {
    warnings.push(
      `with ${raw.runs} run${raw.runs === 1 ? '' : 's'} per strategy no difference can be shown significant (the rank test's smallest p is ${minRankP(raw.runs).toFixed(3)}${comparisons > 1 ? `, before adjusting for ${comparisons} comparisons` : ''}): use --runs ${runsNeeded(comparisons)} or more`,
    );
  }
  return {
    bench: raw.name,
    file: raw.file,
    mode: raw.mode,
    runs: raw.runs,
    warmup: raw.warmup,
    timeout: raw.timeout,
    order: raw.order,
    untraced,
    observed,
    // In the bench's order, not in the order the failures happened to occur.
    failures: raw.strategies.filter((s) => raw.errors[s] !== undefined).map((strategy) => ({ strategy, error: raw.errors[strategy]! })),
    outputs: { ...raw.files, ...(raw.outDir ? { dir: raw.outDir } : {}) },
    warnings,
  };
}
