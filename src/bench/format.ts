/** The bench report as text: tables, verdicts, failures, and where the outputs are. */
import path from 'node:path';
import type { BenchReport, TimingTable } from './report.js';

function ms(v: number): string {
  if (!Number.isFinite(v)) return '-';
  return v >= 100 ? `${v.toFixed(0)} ms` : v >= 10 ? `${v.toFixed(1)} ms` : `${v.toFixed(2)} ms`;
}

function table(t: TimingTable, overhead?: Record<string, number>): string[] {
  const header = ['strategy', 'median', 'mean', 'p95', 'min', 'stddev', 'runs', 'ops/s', 'vs fastest'];
  if (overhead) header.push('observer cost');
  const rows = t.strategies.map((s) => {
    const vs = s.vsFastest;
    const detail = vs ? ` (×${s.ratio.toFixed(2)}, 95% CI ${vs.ci[0].toFixed(2)}–${vs.ci[1].toFixed(2)}, ${vs.p < 0.001 ? 'p<0.001' : `p=${vs.p.toFixed(3)}`})` : '';
    const cells = [s.strategy, ms(s.median), ms(s.mean), ms(s.p95), ms(s.min), ms(s.stddev), String(s.runs), s.opsPerSec.toFixed(1), s.verdict + detail];
    if (overhead) cells.push(overhead[s.strategy] !== undefined ? `×${overhead[s.strategy]!.toFixed(2)}` : '-');
    return cells;
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const left = new Set([0, 8]);
  const line = (cells: string[]) => cells.map((c, i) => (left.has(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

export function formatReport(r: BenchReport, cwd = process.cwd()): string {
  const rel = (p: string) => {
    const r = path.relative(cwd, p);
    return r && !r.startsWith('..') && !path.isAbsolute(r) ? r : p;
  };
  const out: string[] = [];
  out.push(`${r.bench} (${r.file}): ${r.runs} runs per strategy after ${r.warmup} warm-up, order ${r.order}`);
  out.push('');
  out.push(r.observed ? 'Untraced timings (the comparison that counts):' : 'Timings:');
  out.push(...table(r.untraced));
  if (r.observed) {
    out.push('');
    out.push(`${r.mode === 'trace' ? 'Traced' : 'Sampled'} timings, same invocation (observer cost = ${r.mode === 'trace' ? 'traced' : 'sampled'} median / untraced median):`);
    out.push(...table(r.observed, r.observed.overhead));
  }
  out.push('');
  out.push('"slower" is claimed only when the 95% bootstrap CI of the ratio of medians is above 1.01 and a Mann-Whitney U test gives p < 0.05.');
  for (const f of r.failures) out.push(`FAILED ${f.strategy}: ${f.error}`);
  for (const w of r.warnings) out.push(`warning: ${w}`);
  const o = r.outputs;
  if (o.combinedTrace || o.traces) {
    out.push('');
    if (o.combinedTrace) out.push(`Combined trace (one process per strategy, aligned): ${rel(o.combinedTrace)}`);
    for (const [s, f] of Object.entries(o.traces ?? {})) out.push(`  ${s}: ${rel(f)}`);
    out.push('Open in Chrome DevTools: Performance panel → "Load profile…" (or drag the file in). Perfetto (ui.perfetto.dev) opens it too.');
    const fastest = r.untraced.fastest;
    const other = r.untraced.strategies.find((s) => s.strategy !== fastest)?.strategy;
    if (fastest && other && o.traces?.[fastest] && o.traces[other]) {
      out.push(`Function by function: stackscope compare ${rel(o.traces[fastest]!)} ${rel(o.traces[other]!)}`);
    }
  }
  if (o.folded) {
    out.push('');
    out.push('Folded stacks per strategy (flamegraph.pl input) and CPU profiles (drag into DevTools Performance panel):');
    for (const [s, f] of Object.entries(o.folded)) out.push(`  ${s}: ${rel(f)}${o.cpuprofiles?.[s] ? `, ${rel(o.cpuprofiles[s]!)}` : ''}`);
    const diffs = Object.entries(o.diffFolded ?? {});
    if (diffs.length) {
      out.push('Differential folded stacks vs the fastest (difffolded.pl format: `flamegraph.pl FILE > diff.svg`):');
      for (const [s, f] of diffs) out.push(`  ${s}: ${rel(f)}`);
    }
  }
  return out.join('\n') + '\n';
}
