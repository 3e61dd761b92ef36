/**
 * What the page draws, computed on the server from the profile model: the pruned call tree of a
 * flamegraph (plain or differential), the table of functions, a function's callers and callees
 * (sandwich), the share of a search, and the exports. Sent as JSON with frames as data (names are
 * never markup: the page draws them with fillText and textContent).
 */
import {
  callTree,
  diffFunctions,
  displayPath,
  fileResolver,
  frameKey,
  functionWeights,
  modelFrameLabel,
  NO_STACK,
  OTHER_FRAME,
  ProfileBuilder,
  prune,
  totalWeight,
  type Frame,
  type Profile,
} from '../model/index.js';
import { renderModel } from '../formats/write.js';
import { modelToCpuProfile, cpuProfileToTraceEvents } from '../formats/cpuprofile.js';

/** The flamegraph's node budget: the heaviest nodes are kept, the rest folded into "(other)". */
export const MAX_NODES = 20_000;

export interface FrameTable {
  /** function name as drawn */
  name: string[];
  /** `name (file:line)`, the key a function is chosen by */
  label: string[];
  /** what the colour is chosen by: the package (node_modules/…), `node:`, or the file */
  group: string[];
}

export interface FlameTree {
  unit: string;
  frames: FrameTable;
  /**
   * per node, depth first with siblings ordered by label: frame index, parent node (-1 for a
   * root-level node)
   */
  frame: number[];
  parent: number[];
  self: number[];
  total: number[];
  /** sum of every sample's weight */
  sum: number;
  notes: string[];
}

export interface DiffTree extends Omit<FlameTree, 'self' | 'total' | 'sum'> {
  selfA: number[];
  totalA: number[];
  selfB: number[];
  totalB: number[];
  sumA: number;
  sumB: number;
}

/**
 * What a frame's colour says: its package (node_modules/@scope/pkg), `node` for Node's own modules,
 * else its file; a frame without a file (folded stacks of other tools) by the first part of its name.
 */
export function frameGroup(f: Frame, cwd: string): string {
  if (!f.file) return f.name.startsWith('(') ? f.name : f.name.split(/[.:/ #]/)[0] || f.name;
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f.file.replace(/\\/g, '/'));
  if (m) return m[1]!;
  if (f.file.startsWith('node:')) return 'node';
  return displayPath(f.file, cwd);
}

class Frames {
  readonly table: FrameTable = { name: [], label: [], group: [] };
  private readonly ids = new Map<string, number>();
  constructor(private readonly cwd: string) {}
  id(f: Frame): number {
    const k = frameKey(f);
    let id = this.ids.get(k);
    if (id === undefined) {
      id = this.table.name.length;
      this.ids.set(k, id);
      this.table.name.push(f.name);
      this.table.label.push(modelFrameLabel(f, this.cwd));
      this.table.group.push(frameGroup(f, this.cwd));
    }
    return id;
  }
}

/**
 * The nodes in the order the page lays them out: depth first, siblings by label, so the page places
 * each node in one pass with no sorting (nodes of one depth come left to right). `cols` are
 * re-indexed alike, parents re-pointed.
 */
function preorder<T extends { frame: number[]; parent: number[] }>(t: T, labels: readonly string[], cols: Array<keyof T>): T {
  const n = t.frame.length;
  const kids: number[][] = Array.from({ length: n + 1 }, () => []);
  for (let i = 0; i < n; i++) kids[t.parent[i]! + 1]!.push(i);
  const byLabel = (a: number, b: number) => {
    const x = labels[t.frame[a]!]!;
    const y = labels[t.frame[b]!]!;
    return x < y ? -1 : x > y ? 1 : 0;
  };
  const order: number[] = [];
  const stack = [...kids[0]!.sort(byLabel)].reverse();
  while (stack.length) {
    const i = stack.pop()!;
    order.push(i);
    const k = kids[i + 1]!.sort(byLabel);
    for (let j = k.length - 1; j >= 0; j--) stack.push(k[j]!);
  }
  const at = new Int32Array(n);
  order.forEach((old, pos) => {
    at[old] = pos;
  });
  const out = { ...t };
  for (const c of cols) out[c] = order.map((old) => (t[c] as number[])[old]!) as T[keyof T];
  out.parent = order.map((old) => (t.parent[old]! < 0 ? -1 : at[t.parent[old]!]!));
  return out;
}

/** The flamegraph of `p`, pruned to `maxNodes` nodes. */
export function flameTree(p: Profile, notes: readonly string[], cwd: string, maxNodes = MAX_NODES): FlameTree {
  const q = prune(p, maxNodes);
  const { self, total } = callTree(q);
  const frames = new Frames(cwd);
  const frame: number[] = [];
  const parent: number[] = [];
  const selfOut: number[] = [];
  const totalOut: number[] = [];
  const node = new Int32Array(q.stackParent.length).fill(-1);
  for (let s = 0; s < q.stackParent.length; s++) {
    if (!(total[s]! > 0)) continue;
    const ps = q.stackParent[s]!;
    node[s] = frame.length;
    frame.push(frames.id(q.frames[q.stackFrame[s]!]!));
    parent.push(ps === NO_STACK ? -1 : node[ps]!);
    selfOut.push(self[s]!);
    totalOut.push(total[s]!);
  }
  const tree: FlameTree = {
    unit: p.unit,
    frames: frames.table,
    frame,
    parent,
    self: selfOut,
    total: totalOut,
    sum: totalWeight(p),
    notes: unique([...notes, ...(q.meta.notes ?? [])]),
  };
  return preorder(tree, frames.table.label, ['frame', 'self', 'total']);
}

const unique = (xs: readonly string[]) => [...new Set(xs)];

/**
 * The differential flamegraph of A (before) and B (after): one tree over the stacks of both, pruned
 * by the sum of each node's shares of its own profile, with both weights per node.
 */
export function diffTree(a: Profile, b: Profile, notes: readonly string[], cwd: string, maxNodes = MAX_NODES): DiffTree {
  const sumA = totalWeight(a);
  const sumB = totalWeight(b);
  // One profile over the stacks of both (frames paired like diffFunctions pairs them), weighted by
  // shares, so pruning keeps what matters in either; the two weights are kept beside it.
  const resolve = fileResolver([...a.frames, ...b.frames].map((f) => f.file));
  const both = new ProfileBuilder('samples');
  const wA: number[] = [];
  const wB: number[] = [];
  const add = (p: Profile, side: 'a' | 'b', sum: number) => {
    const map = new Int32Array(p.stackParent.length);
    for (let s = 0; s < map.length; s++) {
      const f = p.frames[p.stackFrame[s]!]!;
      const ps = p.stackParent[s]!;
      map[s] = both.stack(ps === NO_STACK ? NO_STACK : map[ps]!, both.frame({ ...f, file: resolve(f.file), col: 0 }));
    }
    for (let i = 0; i < p.sampleStack.length; i++) {
      const w = p.sampleWeight[i]!;
      both.sample(map[p.sampleStack[i]!]!, sum > 0 ? w / sum : 0);
      wA.push(side === 'a' ? w : 0);
      wB.push(side === 'b' ? w : 0);
    }
  };
  add(a, 'a', sumA);
  add(b, 'b', sumB);
  const full = both.build();
  const kept = prune(full, maxNodes);
  // Each full stack lands on its kept node, or on the "(other)" child of its nearest kept ancestor.
  const keptIndex = new Map<number, number>();
  for (let s = 0; s < kept.stackParent.length; s++) keptIndex.set((kept.stackParent[s]! + 1) * 67_108_864 + kept.stackFrame[s]!, s);
  const keptFrame = new Map(kept.frames.map((f, i) => [frameKey(f), i]));
  const otherFrame = keptFrame.get(frameKey(OTHER_FRAME));
  const target = new Int32Array(full.stackParent.length);
  const isKept = new Uint8Array(full.stackParent.length);
  const otherUnder = (k: number) => (otherFrame === undefined ? -1 : (keptIndex.get((k + 1) * 67_108_864 + otherFrame) ?? -1));
  for (let s = 0; s < full.stackParent.length; s++) {
    const ps = full.stackParent[s]!;
    if (ps !== NO_STACK && !isKept[ps]) {
      target[s] = target[ps]!; // inside a folded subtree: the same "(other)"
      continue;
    }
    const anchor = ps === NO_STACK ? NO_STACK : target[ps]!;
    const fid = keptFrame.get(frameKey(full.frames[full.stackFrame[s]!]!));
    const k = fid === undefined ? undefined : keptIndex.get((anchor + 1) * 67_108_864 + fid);
    if (k !== undefined) {
      target[s] = k;
      isKept[s] = 1;
    } else {
      target[s] = otherUnder(anchor);
    }
  }
  const n = kept.stackParent.length;
  const selfA = new Float64Array(n);
  const selfB = new Float64Array(n);
  for (let i = 0; i < full.sampleStack.length; i++) {
    const t = target[full.sampleStack[i]!]!;
    if (t < 0) continue;
    selfA[t]! += wA[i]!;
    selfB[t]! += wB[i]!;
  }
  const totalA = Float64Array.from(selfA);
  const totalB = Float64Array.from(selfB);
  for (let s = n - 1; s >= 0; s--) {
    const ps = kept.stackParent[s]!;
    if (ps !== NO_STACK) {
      totalA[ps]! += totalA[s]!;
      totalB[ps]! += totalB[s]!;
    }
  }
  const frames = new Frames(cwd);
  const out: DiffTree = {
    unit: a.unit,
    frames: frames.table,
    frame: [],
    parent: [],
    selfA: [],
    totalA: [],
    selfB: [],
    totalB: [],
    sumA,
    sumB,
    notes: unique([...notes, ...(kept.meta.notes ?? [])]),
  };
  const node = new Int32Array(n).fill(-1);
  for (let s = 0; s < n; s++) {
    if (!(totalA[s]! > 0 || totalB[s]! > 0)) continue;
    const ps = kept.stackParent[s]!;
    node[s] = out.frame.length;
    out.frame.push(frames.id(kept.frames[kept.stackFrame[s]!]!));
    out.parent.push(ps === NO_STACK ? -1 : node[ps]!);
    out.selfA.push(selfA[s]!);
    out.totalA.push(totalA[s]!);
    out.selfB.push(selfB[s]!);
    out.totalB.push(totalB[s]!);
  }
  return preorder(out, frames.table.label, ['frame', 'selfA', 'totalA', 'selfB', 'totalB']);
}

export interface FunctionRow {
  label: string;
  name: string;
  group: string;
  self: number;
  total: number;
}

/** Every function with its self and total weight, heaviest self first (at most `limit`). */
export function functionTable(p: Profile, cwd: string, limit = 5000): { rows: FunctionRow[]; sum: number; unit: string; more: number } {
  const all = functionWeights(p);
  const rows = all.slice(0, limit).map((f) => ({
    label: modelFrameLabel(f.frame, cwd),
    name: f.frame.name,
    group: frameGroup(f.frame, cwd),
    self: f.self,
    total: f.total,
  }));
  return { rows, sum: totalWeight(p), unit: p.unit, more: Math.max(0, all.length - limit) };
}

export interface ChangeRow {
  label: string;
  name: string;
  selfA: number;
  selfB: number;
  totalA: number;
  totalB: number;
  shareA: number;
  shareB: number;
}

/** Functions of A and B, largest change in their share of self weight first. */
export function changeTable(
  a: Profile,
  b: Profile,
  cwd: string,
  limit = 500,
): { rows: ChangeRow[]; sumA: number; sumB: number; unit: string } {
  const sumA = totalWeight(a);
  const sumB = totalWeight(b);
  const share = (w: number, sum: number) => (sum > 0 ? w / sum : 0);
  const rows = diffFunctions(a, b, cwd).map((c) => ({
    label: c.label,
    name: c.frame.name,
    selfA: c.selfA,
    selfB: c.selfB,
    totalA: c.totalA,
    totalB: c.totalB,
    shareA: share(c.selfA, sumA),
    shareB: share(c.selfB, sumB),
  }));
  rows.sort((x, y) => Math.abs(y.shareB - y.shareA) - Math.abs(x.shareB - x.shareA));
  return { rows: rows.slice(0, limit), sumA, sumB, unit: a.unit };
}

/**
 * One function's sandwich: its callees (every stack through it, from its outermost call down) and
 * its callers (every stack through it, from it up to the root), as two profiles rooted at it.
 */
export function sandwich(p: Profile, label: string, cwd: string): { callers: Profile; callees: Profile; found: boolean } {
  const match = new Uint8Array(p.frames.length);
  let found = false;
  p.frames.forEach((f, i) => {
    if (modelFrameLabel(f, cwd) === label) {
      match[i] = 1;
      found = true;
    }
  });
  const callers = new ProfileBuilder(p.unit);
  const callees = new ProfileBuilder(p.unit);
  const frameIds = (b: ProfileBuilder) => p.frames.map((f) => b.frame(f));
  const inCallers = frameIds(callers);
  const inCallees = frameIds(callees);
  for (let i = 0; found && i < p.sampleStack.length; i++) {
    const path: number[] = [];
    for (let s = p.sampleStack[i]!; s !== NO_STACK; s = p.stackParent[s]!) path.push(p.stackFrame[s]!);
    path.reverse();
    const first = path.findIndex((f) => match[f]);
    if (first < 0) continue;
    const w = p.sampleWeight[i]!;
    callees.sample(callees.stackOf(path.slice(first).map((f) => inCallees[f]!)), w);
    const last = path.length - 1 - [...path].reverse().findIndex((f) => match[f]);
    callers.sample(
      callers.stackOf(
        path
          .slice(0, last + 1)
          .reverse()
          .map((f) => inCallers[f]!),
      ),
      w,
    );
  }
  return { callers: callers.build(), callees: callees.build(), found };
}

/**
 * Weight of the samples with a function whose name contains `q` (case-insensitive) anywhere in their
 * stack, counted once however many frames match: the share of the whole the search stands for.
 */
export function searchShare(p: Profile, q: string): { matched: number; sum: number; functions: number } {
  const needle = q.toLowerCase();
  const hit = p.frames.map((f) => f.name.toLowerCase().includes(needle));
  const memo = new Int8Array(p.stackParent.length).fill(-1);
  const has = (s: number): boolean => {
    // Parents have smaller ids, so memo[parent] is known when children are asked in id order.
    if (memo[s] !== -1) return memo[s] === 1;
    const ps = p.stackParent[s]!;
    const v = hit[p.stackFrame[s]!]! || (ps !== NO_STACK && has(ps));
    memo[s] = v ? 1 : 0;
    return v;
  };
  for (let s = 0; s < memo.length; s++) has(s);
  let matched = 0;
  let sum = 0;
  for (let i = 0; i < p.sampleStack.length; i++) {
    const w = p.sampleWeight[i]!;
    sum += w;
    if (memo[p.sampleStack[i]!] === 1) matched += w;
  }
  return { matched, sum, functions: hit.filter(Boolean).length };
}

export const EXPORT_FORMATS = ['folded', 'pprof', 'speedscope', 'trace'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** The profile in an export format: bytes, a file name extension, a media type, what was lost. */
export function exportProfile(p: Profile, format: ExportFormat, cwd: string): { bytes: Buffer; ext: string; type: string; lost: string[] } {
  if (format === 'trace') {
    const { profile, notes } = modelToCpuProfile(p);
    const events = cpuProfileToTraceEvents(profile, { pid: 1, processName: p.meta.name ?? 'stackscope ui', threadName: 'samples' });
    return { bytes: Buffer.from(JSON.stringify({ traceEvents: events })), ext: 'trace.json', type: 'application/json', lost: notes };
  }
  const r = renderModel(p, format, { cwd });
  const ext = format === 'pprof' ? 'pb.gz' : format === 'speedscope' ? 'speedscope.json' : 'folded';
  const type = format === 'pprof' ? 'application/octet-stream' : format === 'speedscope' ? 'application/json' : 'text/plain; charset=utf-8';
  return { bytes: r.bytes, ext, type, lost: r.lost };
}
