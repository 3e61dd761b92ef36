/**
 * V8 `.cpuprofile` (what `node --cpu-prof` and the inspector's Profiler.stop produce; DevTools
 * loads it by drag-and-drop): a node tree plus a sample list with time deltas in µs.
 */
import fs from 'node:fs';

export interface CallFrame {
  functionName: string;
  scriptId: string | number;
  url: string;
  lineNumber: number; // 0-based
  columnNumber: number; // 0-based
}

export interface CpuProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
  positionTicks?: { line: number; ticks: number }[];
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number; // µs
  endTime: number; // µs
  samples?: number[];
  timeDeltas?: number[];
}

export function readCpuProfile(path: string): CpuProfile {
  const data = JSON.parse(fs.readFileSync(path, 'utf8')) as CpuProfile;
  if (!data || !Array.isArray(data.nodes)) throw new Error(`${path} is not a .cpuprofile (no nodes array)`);
  return data;
}

export function writeCpuProfile(path: string, profile: CpuProfile): void {
  fs.writeFileSync(path, JSON.stringify(profile));
}

/**
 * Walks every sample's stack (root first, V8's "(root)" node excluded) with the time it stands for
 * (µs, from timeDeltas: each delta is the time until the next sample). Nodes whose frame `keep`
 * rejects are skipped, so the stack can hide internals like "(program)".
 */
export function forEachSampleStack(
  profile: CpuProfile,
  visit: (stack: CpuProfileNode[], weightUs: number) => void,
): void {
  const byId = new Map<number, CpuProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const stackCache = new Map<number, CpuProfileNode[]>();
  const stackOf = (id: number): CpuProfileNode[] => {
    let s = stackCache.get(id);
    if (s) return s;
    s = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (n && parent.has(cur)) s.push(n); // the root node has no parent: leave it out
    }
    s.reverse();
    stackCache.set(id, s);
    return s;
  };
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the gap before sample i; the sample's weight is the gap after it.
    const next = i + 1 < deltas.length ? deltas[i + 1]! : 0;
    visit(stackOf(samples[i]!), Math.max(0, next));
  }
}
