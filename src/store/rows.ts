/**
 * What both store implementations share: a write's rows added up per (level time, target, stack), so
 * each stored row is written once per transaction (PostgreSQL's upsert requires it, and rollup
 * levels get one row per minute, 10 minutes or hour instead of one per second).
 */
import { LEVELS, type IngestBatch, type LevelName } from './protocol.js';

/** Rows of one level: parallel columns. */
export interface LevelRows {
  ts: number[];
  target: number[];
  stack: number[];
  count: number[];
}

/** Rows of every level for `batches`, given each batch's stored target id. */
export function levelRows(batches: readonly IngestBatch[], targetIds: readonly number[]): Record<LevelName, LevelRows> {
  const out = {} as Record<LevelName, LevelRows>;
  for (const level of LEVELS) {
    const sums = new Map<number, Map<number, Map<number, number>>>(); // target -> ts -> stack -> count
    batches.forEach((b, i) => {
      const target = targetIds[i]!;
      let byTs = sums.get(target);
      if (!byTs) sums.set(target, (byTs = new Map()));
      const r = b.rows;
      for (let j = 0; j < r.length; j += 3) {
        const ts = Math.floor(r[j]! / level.ms) * level.ms;
        let byStack = byTs.get(ts);
        if (!byStack) byTs.set(ts, (byStack = new Map()));
        byStack.set(r[j + 1]!, (byStack.get(r[j + 1]!) ?? 0) + r[j + 2]!);
      }
    });
    const rows: LevelRows = { ts: [], target: [], stack: [], count: [] };
    for (const [target, byTs] of sums) {
      for (const [ts, byStack] of byTs) {
        for (const [stack, count] of byStack) {
          rows.ts.push(ts);
          rows.target.push(target);
          rows.stack.push(stack);
          rows.count.push(count);
        }
      }
    }
    out[level.name] = rows;
  }
  return out;
}

/** A level's rows summed over their targets, in (ts, stack) order (writers lock them in one order). */
export function fleetRows(rows: LevelRows): { ts: number[]; stack: number[]; count: number[] } {
  const sums = new Map<number, Map<number, number>>();
  for (let i = 0; i < rows.ts.length; i++) {
    let byStack = sums.get(rows.ts[i]!);
    if (!byStack) sums.set(rows.ts[i]!, (byStack = new Map()));
    byStack.set(rows.stack[i]!, (byStack.get(rows.stack[i]!) ?? 0) + rows.count[i]!);
  }
  const out = { ts: [] as number[], stack: [] as number[], count: [] as number[] };
  for (const ts of [...sums.keys()].sort((a, b) => a - b)) {
    const byStack = sums.get(ts)!;
    for (const stack of [...byStack.keys()].sort((a, b) => a - b)) {
      out.ts.push(ts);
      out.stack.push(stack);
      out.count.push(byStack.get(stack)!);
    }
  }
  return out;
}

/** The 1 s rows of `batches` as one JSON array of [bucket start, target id, stack id, count]. */
export function rowsJson(batches: readonly IngestBatch[], targetIds: readonly number[]): string {
  const parts: string[] = [];
  batches.forEach((b, i) => {
    const target = targetIds[i]!;
    const r = b.rows;
    for (let j = 0; j < r.length; j += 3) parts.push(`[${r[j]},${target},${r[j + 1]},${r[j + 2]}]`);
  });
  return `[${parts.join(',')}]`;
}

/** A batch's labels as stored: the agent's own, overridden by the targets file's. */
export function targetLabels(b: IngestBatch): Record<string, string> {
  return { ...b.agent.labels, ...b.labels };
}

/** The newest batch per address: its cursor is the one to store. */
export function lastCursors(batches: readonly IngestBatch[]): Map<string, { cursor: string; instance: string; readMs: number }> {
  const out = new Map<string, { cursor: string; instance: string; readMs: number }>();
  for (const b of batches) out.set(b.address, { cursor: b.cursor, instance: b.agent.instance, readMs: b.readMs });
  return out;
}
