/**
 * Joins the profiles of consecutive Profiler.start/stop runs of one session into one profile. attach
 * samples in short chunks so that a target that dies or closes its inspector mid-sample still leaves
 * every finished chunk behind.
 *
 * Node ids are per run, so nodes are matched by their path of call frames from the root. The short
 * gap between two runs (one protocol round trip) holds no samples; like any gap it adds to the time
 * of the sample before it.
 */
import type { CallFrame, CpuProfile, CpuProfileNode } from '../formats/cpuprofile.js';

const frameKey = (f: CallFrame): string => `${f.functionName}\0${f.scriptId}\0${f.url}\0${f.lineNumber}\0${f.columnNumber}`;

export function joinProfiles(chunks: readonly CpuProfile[]): CpuProfile {
  if (chunks.length === 1) return chunks[0]!;
  if (chunks.length === 0) throw new Error('no profile to join');
  const nodes: CpuProfileNode[] = [];
  const byPath = new Map<string, CpuProfileNode>();
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  let lastTs = chunks[0]!.startTime;

  const nodeFor = (parent: CpuProfileNode | null, src: CpuProfileNode): CpuProfileNode => {
    const key = `${parent?.id ?? 0}\0${frameKey(src.callFrame)}`;
    let n = byPath.get(key);
    if (!n) {
      n = { id: nodes.length + 1, callFrame: src.callFrame, hitCount: 0, children: [] };
      nodes.push(n);
      byPath.set(key, n);
      parent?.children!.push(n.id);
    }
    n.hitCount! += src.hitCount ?? 0;
    if (src.positionTicks?.length) {
      const ticks = new Map((n.positionTicks ?? []).map((t) => [t.line, t.ticks]));
      for (const t of src.positionTicks) ticks.set(t.line, (ticks.get(t.line) ?? 0) + t.ticks);
      n.positionTicks = [...ticks].map(([line, count]) => ({ line, ticks: count }));
    }
    return n;
  };

  for (const chunk of chunks) {
    const byId = new Map(chunk.nodes.map((n) => [n.id, n]));
    const isChild = new Set(chunk.nodes.flatMap((n) => n.children ?? []));
    const newId = new Map<number, number>();
    // Depth-first from the root(s), parents before children.
    const stack: Array<[CpuProfileNode, CpuProfileNode | null]> = chunk.nodes.filter((n) => !isChild.has(n.id)).map((n) => [n, null]);
    while (stack.length) {
      const [src, parent] = stack.pop()!;
      const n = nodeFor(parent, src);
      newId.set(src.id, n.id);
      for (const c of src.children ?? []) {
        const child = byId.get(c);
        if (child) stack.push([child, n]);
      }
    }
    let ts = chunk.startTime;
    const deltas = chunk.timeDeltas ?? [];
    (chunk.samples ?? []).forEach((id, i) => {
      ts += deltas[i] ?? 0;
      samples.push(newId.get(id) ?? id);
      timeDeltas.push(ts - lastTs);
      lastTs = ts;
    });
  }
  return { nodes, startTime: chunks[0]!.startTime, endTime: chunks[chunks.length - 1]!.endTime, samples, timeDeltas };
}
