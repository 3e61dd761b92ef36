/** Text table for `stackscope compare`. */
import type { FunctionDiff, ProfileDiff } from './diff.js';

function fmt(v: number | undefined, unit: ProfileDiff['unit']): string {
  if (v === undefined) return '-';
  if (unit === 'share') return `${(v * 100).toFixed(1)}%`;
  if (unit === 'samples') return String(Math.round(v));
  return v >= 1000 ? `${(v / 1000).toFixed(1)}ms` : `${v.toFixed(0)}µs`;
}

function signed(v: number, unit: ProfileDiff['unit']): string {
  if (unit === 'share') return `${v >= 0 ? '+' : '−'}${Math.abs(v * 100).toFixed(1)}pt`;
  return `${v >= 0 ? '+' : '−'}${fmt(Math.abs(v), unit)}`;
}

export function formatCompare(d: ProfileDiff, top: number): string {
  const u = d.unit;
  const val = (r: FunctionDiff, side: 'a' | 'b', k: 'self' | 'total') => {
    const f = r[side];
    if (!f) return undefined;
    return u === 'share' ? f[k] / (d[side].grandTotal || 1) : f[k];
  };
  const calls = (r: FunctionDiff, side: 'a' | 'b') => (r[side] ? (r[side]!.calls === null ? '?' : String(r[side]!.calls)) : '-');
  const header = ['function', 'calls A', 'calls B', 'self A', 'self B', 'Δ self', 'total A', 'total B', 'Δ total'];
  const rows = d.rows
    .slice(0, top)
    .map((r) => [
      r.label,
      calls(r, 'a'),
      calls(r, 'b'),
      fmt(val(r, 'a', 'self'), u),
      fmt(val(r, 'b', 'self'), u),
      signed(r.selfDelta, u),
      fmt(val(r, 'a', 'total'), u),
      fmt(val(r, 'b', 'total'), u),
      signed(r.totalDelta, u),
    ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  const unitNote = u === 'share' ? 'share of each profile (their units differ)' : u === 'us' ? 'time' : 'samples';
  const about = (side: 'a' | 'b') => {
    const p = d[side];
    const which = p.process ? `, process ${p.process}` : '';
    return `${side.toUpperCase()}: ${p.file} (${p.kind}${which}, ${fmt(p.grandTotal, p.unit === 'samples' ? 'samples' : 'us')}${p.unit === 'samples' ? ' samples' : ''})`;
  };
  // Several processes added up (a bench's compare.trace.json) are rarely what was meant.
  const summed = (['a', 'b'] as const)
    .filter((side) => !d[side].process && (d[side].processes?.length ?? 0) > 1)
    .map((side) => {
      const names = d[side].processes!;
      return `note: ${side.toUpperCase()} adds up ${names.length} processes (${names.join(', ')}); choose one with --${side}-process NAME`;
    });
  return (
    [
      about('a'),
      about('b'),
      ...summed,
      `by largest change in self ${unitNote}; top ${rows.length} of ${d.rows.length} functions`,
      '',
      line(header),
      ...rows.map(line),
    ].join('\n') + '\n'
  );
}
