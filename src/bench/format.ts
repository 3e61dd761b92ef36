/** The bench report as text: tables, verdicts, failures, and where the outputs are. */
import path from 'node:path';
import type { BenchReport, StrategyResult, TimingTable } from './report.js';
import { ALPHA, CONFIDENCE, MIN_EFFECT } from './stats.js';

/** A figure (ms, MB) with three significant digits; the unit is said once, with the table. */
function sig(v: number): string {
  if (!Number.isFinite(v)) return '-';
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3);
}

/** Short enough for a column: the full verdict, p-values included, is in --json. */
function versus(s: StrategyResult): string {
  if (!s.vsFastest) return 'fastest';
  return s.vsFastest.significant ? `${s.ratio.toFixed(2)}× slower` : `${s.ratio.toFixed(2)}×, n.s.`;
}

/**
 * Columns sized to their content, times in ms, heap in MB. The untraced table carries the heap and
 * the CI of each ratio; the observed one the observer's cost instead, so each stays within 100 columns.
 */
function table(t: TimingTable, overhead?: Record<string, number>): string[] {
  const header = [
    'strategy',
    'median',
    'mean',
    'p95',
    'min',
    'stddev',
    'runs',
    'ops/s',
    ...(overhead ? [] : ['heap MB']),
    'vs fastest',
    overhead ? 'vs untraced' : `${CONFIDENCE * 100}% CI`,
  ];
  const rows = t.strategies.map((s) => {
    const ci = s.vsFastest ? `${s.vsFastest.ci[0].toFixed(2)}–${s.vsFastest.ci[1].toFixed(2)}` : '';
    const cost = overhead?.[s.strategy] !== undefined ? `×${overhead[s.strategy]!.toFixed(2)}` : '-';
    const heap = overhead ? [] : [s.heapPeak === null ? '-' : sig(s.heapPeak / 1e6)];
    return [
      s.strategy,
      sig(s.median),
      sig(s.mean),
      sig(s.p95),
      sig(s.min),
      sig(s.stddev),
      String(s.runs),
      s.opsPerSec.toFixed(1),
      ...heap,
      versus(s),
      overhead ? cost : ci,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const left = new Set([0, header.indexOf('vs fastest')]);
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (left.has(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** How "slower" is decided, said once under the tables. */
function significanceNote(t: TimingTable): string[] {
  const comparisons = t.strategies.length - 1;
  const adjusted = comparisons > 1 ? ` (Holm-adjusted for ${comparisons} comparisons)` : '';
  return [
    `"slower" only when the ${CONFIDENCE * 100}% bootstrap CI of the ratio of medians is above ${1 + MIN_EFFECT}`,
    `and a Mann-Whitney U test gives p < ${ALPHA}${adjusted}.`,
    'n.s. = no significant difference; p-values are in --json.',
  ];
}

export function formatReport(r: BenchReport, cwd = process.cwd()): string {
  const rel = (p: string) => {
    const r = path.relative(cwd, p);
    return r && !r.startsWith('..') && !path.isAbsolute(r) ? r : p;
  };
  const out: string[] = [];
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const order = r.order.startsWith('shuffled') ? ', in random order' : '';
  out.push(`${r.bench} (${r.file}): ${plural(r.runs, 'run')} + ${r.warmup} warm-up per strategy${order}`);
  out.push('');
  if (r.untraced.strategies.length === 0) {
    out.push('No strategy completed its runs.');
  } else {
    out.push(r.observed ? 'Untraced timings in ms (the comparison that counts):' : 'Timings in ms:');
    out.push(...table(r.untraced));
    if (r.observed) {
      const observed = r.mode === 'trace' ? 'traced' : 'sampled';
      out.push('');
      out.push(
        `${observed[0]!.toUpperCase()}${observed.slice(1)} timings in ms, same invocation (vs untraced = ${observed} median / untraced median):`,
      );
      out.push(...table(r.observed, r.observed.overhead));
    }
    out.push('', "heap MB: the most the heap (V8's, Buffers included) grew in one extra, untimed run.");
    if (r.untraced.strategies.length > 1) out.push(...significanceNote(r.untraced));
  }
  if (r.failures.length) out.push('');
  for (const f of r.failures) out.push(`FAILED ${f.strategy}: ${f.error}`);
  for (const w of r.warnings) out.push(`warning: ${w}`);
  const o = r.outputs;
  if (o.combinedTrace || o.traces) {
    out.push('');
    if (o.combinedTrace) out.push(`Combined trace (one process per strategy, aligned): ${rel(o.combinedTrace)}`);
    for (const [s, f] of Object.entries(o.traces ?? {})) out.push(`  ${s}: ${rel(f)}`);
    out.push('Open in Chrome DevTools: Performance panel → "Load profile…" (or drag the file in),');
    out.push('or at https://ui.perfetto.dev.');
    // The most telling pair: the fastest against the first one that is really slower.
    const fastest = r.untraced.fastest;
    const rest = r.untraced.strategies.filter((s) => s.strategy !== fastest);
    const other = (rest.find((s) => s.vsFastest?.significant) ?? rest[0])?.strategy;
    if (fastest && other && o.traces?.[fastest] && o.traces[other]) {
      out.push(`Function by function: npx stackscope compare ${rel(o.traces[fastest]!)} ${rel(o.traces[other]!)}`);
    }
  }
  if (o.folded) {
    out.push('');
    out.push('Folded stacks per strategy (flamegraph.pl input) and CPU profiles (DevTools Performance panel):');
    for (const [s, f] of Object.entries(o.folded)) out.push(`  ${s}: ${rel(f)}${o.cpuprofiles?.[s] ? `, ${rel(o.cpuprofiles[s]!)}` : ''}`);
    const diffs = Object.entries(o.diffFolded ?? {});
    if (diffs.length) {
      out.push('Differential folded stacks vs the fastest (difffolded.pl format: `flamegraph.pl FILE > diff.svg`):');
      for (const [s, f] of diffs) out.push(`  ${s}: ${rel(f)}`);
    }
  }
  return out.join('\n') + '\n';
}
