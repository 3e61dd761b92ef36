/**
 * Operations on the profile model: merge, time-range filter, call tree (self/total per node),
 * per-function times, prune to the heaviest nodes with an "other" node, and diff of two profiles.
 * Each returns new data and leaves its inputs as they were.
 */
import { frameKey, modelFrameLabel, type Frame } from './frame.js';
import { NO_STACK, ProfileBuilder, stackDepths, type Profile } from './profile.js';

/** Copies `p`'s stacks into `b`, returning the map from p's stack ids to b's. */
function importStacks(b: ProfileBuilder, p: Profile): Int32Array {
  const frameMap = p.frames.map((f) => b.frame(f));
  const stackMap = new Int32Array(p.stackParent.length);
  for (let s = 0; s < stackMap.length; s++) {
    const parent = p.stackParent[s]!;
    stackMap[s] = b.stack(parent === NO_STACK ? NO_STACK : stackMap[parent]!, frameMap[p.stackFrame[s]!]!);
  }
  return stackMap;
}

function copyMeta(b: ProfileBuilder, p: Profile): void {
  b.meta = { ...p.meta, notes: [...(p.meta.notes ?? [])] };
}

/**
 * Profiles merged into one (same unit required): frames and stacks re-interned, samples appended in
 * order, the recorded period widened to cover all, notes kept once each.
 */
export function merge(profiles: readonly Profile[]): Profile {
  const unit = profiles[0]?.unit ?? 'samples';
  const b = new ProfileBuilder(unit);
  const notes = new Set<string>();
  let start = Infinity;
  let end = -Infinity;
  for (const p of profiles) {
    if (p.unit !== unit) throw new Error(`cannot merge a profile in ${p.unit} with one in ${unit}`);
    const map = importStacks(b, p);
    for (let i = 0; i < p.sampleStack.length; i++) {
      b.sample(map[p.sampleStack[i]!]!, p.sampleWeight[i]!, p.sampleTime[i]!, p.sampleDurationUs?.[i]);
    }
    p.frameCalls?.forEach((n, f) => {
      if (n) b.countCalls(b.frame(p.frames[f]!), n);
    });
    for (const n of p.meta.notes ?? []) notes.add(n);
    if (p.meta.startUs !== undefined) start = Math.min(start, p.meta.startUs);
    if (p.meta.endUs !== undefined) end = Math.max(end, p.meta.endUs);
  }
  const first = profiles[0]?.meta ?? {};
  b.meta = {
    ...(first.name !== undefined && profiles.length === 1 ? { name: first.name } : {}),
    ...(first.intervalUs !== undefined ? { intervalUs: first.intervalUs } : {}),
    ...(first.clock ? { clock: first.clock } : {}),
    ...(start !== Infinity ? { startUs: start } : {}),
    ...(end !== -Infinity ? { endUs: end } : {}),
    ...(notes.size ? { notes: [...notes] } : {}),
  };
  return b.build();
}

/** The samples whose time lies in [fromUs, untilUs); samples without a time are left out. */
export function filterTime(p: Profile, fromUs: number, untilUs: number): Profile {
  const b = new ProfileBuilder(p.unit);
  const map = importStacks(b, p);
  for (let i = 0; i < p.sampleStack.length; i++) {
    const t = p.sampleTime[i]!;
    if (t >= fromUs && t < untilUs) b.sample(map[p.sampleStack[i]!]!, p.sampleWeight[i]!, t, p.sampleDurationUs?.[i]);
  }
  copyMeta(b, p);
  b.meta.startUs = Math.max(fromUs, p.meta.startUs ?? fromUs);
  b.meta.endUs = Math.min(untilUs, p.meta.endUs ?? untilUs);
  return b.build();
}

/** Per stack id (a node of the call tree): weight of samples exactly there, and with descendants. */
export interface CallTree {
  self: Float64Array;
  total: Float64Array;
}

export function callTree(p: Profile, weights: readonly number[] = p.sampleWeight): CallTree {
  const n = p.stackParent.length;
  const self = new Float64Array(n);
  for (let i = 0; i < p.sampleStack.length; i++) self[p.sampleStack[i]!]! += weights[i]!;
  const total = Float64Array.from(self);
  // Children have larger ids than their parents: one backward pass adds every subtree up.
  for (let s = n - 1; s >= 0; s--) {
    const parent = p.stackParent[s]!;
    if (parent !== NO_STACK) total[parent]! += total[s]!;
  }
  return { self, total };
}

/** Self and total weight of one function (a frame), recursion counted once in total. */
export interface FunctionWeight {
  frame: Frame;
  self: number;
  total: number;
  /** calls made, where the profile knows them (Profile.frameCalls) */
  calls?: number;
}

/** Per-function weights, keyed by frame id, heaviest self first. */
export function functionWeights(p: Profile, weights: readonly number[] = p.sampleWeight): FunctionWeight[] {
  const self = new Float64Array(p.frames.length);
  const total = new Float64Array(p.frames.length);
  const byStack = new Map<number, number>();
  for (let i = 0; i < p.sampleStack.length; i++) {
    const s = p.sampleStack[i]!;
    byStack.set(s, (byStack.get(s) ?? 0) + weights[i]!);
  }
  const seen = new Set<number>();
  for (const [stack, w] of byStack) {
    self[p.stackFrame[stack]!]! += w;
    seen.clear();
    for (let s = stack; s !== NO_STACK; s = p.stackParent[s]!) {
      const f = p.stackFrame[s]!;
      if (seen.has(f)) continue; // a recursive function takes the sample once
      seen.add(f);
      total[f]! += w;
    }
  }
  const out: FunctionWeight[] = [];
  for (let f = 0; f < p.frames.length; f++) {
    const calls = p.frameCalls?.[f];
    if (total[f]! > 0 || self[f]! > 0)
      out.push({ frame: p.frames[f]!, self: self[f]!, total: total[f]!, ...(calls !== undefined ? { calls } : {}) });
  }
  return out.sort((a, b) => b.self - a.self || b.total - a.total);
}

/**
 * The profile with the frames `keep` rejects taken out of every stack (a sample whose stack loses
 * all its frames is dropped), like pprof's `-hide`. Samples keep their order, times and durations.
 */
export function filterFrames(p: Profile, keep: (f: Frame) => boolean): Profile {
  const b = new ProfileBuilder(p.unit);
  const kept = p.frames.map((f) => (keep(f) ? b.frame(f) : NO_STACK));
  const map = new Int32Array(p.stackParent.length);
  for (let s = 0; s < map.length; s++) {
    const parent = p.stackParent[s]!;
    const base = parent === NO_STACK ? NO_STACK : map[parent]!;
    const f = kept[p.stackFrame[s]!]!;
    map[s] = f === NO_STACK ? base : b.stack(base, f);
  }
  for (let i = 0; i < p.sampleStack.length; i++) {
    b.sample(map[p.sampleStack[i]!]!, p.sampleWeight[i]!, p.sampleTime[i]!, p.sampleDurationUs?.[i]);
  }
  p.frameCalls?.forEach((n, f) => {
    if (n && kept[f] !== NO_STACK) b.countCalls(kept[f]!, n);
  });
  copyMeta(b, p);
  return b.build();
}

/**
 * The profile weighted by time in µs, or null when it does not know time: a time-weighted profile
 * as it is (nanoseconds become µs), a sampled one by each sample's duration (all must be known).
 */
export function timeWeighted(p: Profile): Profile | null {
  if (p.unit === 'microseconds') return p;
  if (p.unit === 'nanoseconds') return { ...p, unit: 'microseconds', sampleWeight: p.sampleWeight.map((w) => w / 1000) };
  const d = p.sampleDurationUs;
  if (p.unit !== 'samples' || !d || d.some((x) => !Number.isFinite(x))) return null;
  return { ...p, unit: 'microseconds', sampleWeight: d };
}

/** The frame that stands for the nodes a pruned profile folded away. */
export const OTHER_FRAME: Frame = { name: '(other)', file: '', line: 0, col: 0 };

/**
 * The call tree cut to its `maxNodes` heaviest nodes (by total weight). The weight of every node
 * left out moves to an "(other)" child of its nearest kept ancestor (or a root-level "(other)"), so
 * totals are unchanged. The result has one sample per kept stack (times are dropped) and a note
 * saying how many nodes were folded.
 */
export function prune(p: Profile, maxNodes: number): Profile {
  const { self, total } = callTree(p);
  const n = p.stackParent.length;
  const used: number[] = [];
  for (let s = 0; s < n; s++) if (total[s]! > 0) used.push(s);
  const depth = stackDepths(p);
  // Heaviest first; on equal totals the shallower first, so a parent is never cut before its child.
  used.sort((a, b) => total[b]! - total[a]! || depth[a]! - depth[b]! || a - b);
  const keep = new Uint8Array(n);
  const budget = Math.max(1, maxNodes);
  for (let i = 0; i < used.length && i < budget; i++) keep[used[i]!] = 1;
  const b = new ProfileBuilder(p.unit);
  const frameMap = p.frames.map((f) => b.frame(f));
  const other = b.frame(OTHER_FRAME);
  const newId = new Int32Array(n).fill(NO_STACK);
  // Weight folded away, per kept ancestor (NO_STACK for root level).
  const folded = new Map<number, number>();
  let foldedNodes = 0;
  for (let s = 0; s < n; s++) {
    const parent = p.stackParent[s]!;
    const newParent = parent === NO_STACK ? NO_STACK : newId[parent]!;
    if (keep[s]) {
      newId[s] = b.stack(newParent, frameMap[p.stackFrame[s]!]!);
      if (self[s]! > 0) b.sample(newId[s]!, self[s]!);
    } else if (total[s]! > 0 && (parent === NO_STACK || keep[parent])) {
      // The top of a cut subtree: its whole weight goes to "(other)" under the kept parent.
      folded.set(newParent, (folded.get(newParent) ?? 0) + total[s]!);
    }
    if (!keep[s] && total[s]! > 0) foldedNodes++;
  }
  for (const [parent, w] of folded) b.sample(b.stack(parent, other), w);
  copyMeta(b, p);
  if (foldedNodes > 0) {
    b.meta.notes!.push(`${foldedNodes} lighter call-tree nodes are folded into "(other)" (kept the ${budget} heaviest)`);
  }
  return b.build();
}

/** One function in two profiles. Shares are of each profile's total weight. */
export interface FunctionChange {
  label: string;
  frame: Frame;
  selfA: number;
  selfB: number;
  totalA: number;
  totalB: number;
  /** calls in each profile; null where that profile does not know calls (sampled profiles) */
  callsA: number | null;
  callsB: number | null;
}

/**
 * Functions of two profiles paired by their shared label (`name (file:line)`), largest change in
 * self weight first. Files are compared as shown relative to `cwd`, and a relative file matches an
 * absolute one that ends with it, so a profile recorded in another folder still pairs up.
 */
export function diffFunctions(a: Profile, b: Profile, cwd: string = process.cwd()): FunctionChange[] {
  const fa = functionWeights(a);
  const fb = functionWeights(b);
  const resolve = fileResolver([...fa, ...fb].map((f) => f.frame.file));
  const out = new Map<string, FunctionChange>();
  const add = (list: FunctionWeight[], side: 'A' | 'B') => {
    for (const f of list) {
      const frame = { ...f.frame, file: resolve(f.frame.file), col: 0 };
      const label = modelFrameLabel(frame, cwd);
      let c = out.get(label);
      if (!c) {
        const calls = (p: Profile) => (p.frameCalls ? 0 : null);
        out.set(label, (c = { label, frame, selfA: 0, selfB: 0, totalA: 0, totalB: 0, callsA: calls(a), callsB: calls(b) }));
      }
      if (side === 'A') {
        c.selfA += f.self;
        c.totalA += f.total;
        if (c.callsA !== null) c.callsA += f.calls ?? 0;
      } else {
        c.selfB += f.self;
        c.totalB += f.total;
        if (c.callsB !== null) c.callsB += f.calls ?? 0;
      }
    }
  };
  add(fa, 'A');
  add(fb, 'B');
  return [...out.values()].sort((x, y) => Math.abs(y.selfB - y.selfA) - Math.abs(x.selfB - x.selfA));
}

/**
 * Maps each relative file to the one absolute file among `files` that ends with it (as a whole
 * path segment), when exactly one does; other files map to themselves.
 */
export function fileResolver(files: readonly string[]): (file: string) => string {
  const absolute = [...new Set(files.filter((f) => f.startsWith('/') || /^[A-Za-z]:[\\/]/.test(f)))];
  const memo = new Map<string, string>();
  return (file) => {
    if (!file || absolute.includes(file)) return file;
    let hit = memo.get(file);
    if (hit === undefined) {
      const tail = '/' + file.replace(/^\.\//, '');
      const matches = absolute.filter((abs) => abs.replace(/\\/g, '/').endsWith(tail));
      hit = matches.length === 1 ? matches[0]! : file;
      memo.set(file, hit);
    }
    return hit;
  };
}

/** A stack present in either of two profiles, with its weight in each (paired by frame labels). */
export interface StackChange {
  frames: Frame[];
  a: number;
  b: number;
}

/**
 * Stacks of two profiles paired by their frames (for differential flamegraphs and
 * `difffolded`-style output). Frames are matched like diffFunctions matches functions.
 */
export function diffStacks(a: Profile, b: Profile): StackChange[] {
  const resolve = fileResolver([...a.frames, ...b.frames].map((f) => f.file));
  const out = new Map<string, StackChange>();
  const add = (p: Profile, side: 'a' | 'b') => {
    const key = new Map<number, string>();
    const keyOf = (s: number): string => {
      let k = key.get(s);
      if (k === undefined) {
        const f = p.frames[p.stackFrame[s]!]!;
        const own = frameKey({ ...f, file: resolve(f.file), col: 0 });
        const parent = p.stackParent[s]!;
        k = parent === NO_STACK ? own : keyOf(parent) + '\u0001' + own;
        key.set(s, k);
      }
      return k;
    };
    for (let i = 0; i < p.sampleStack.length; i++) {
      const s = p.sampleStack[i]!;
      const k = keyOf(s);
      let c = out.get(k);
      if (!c) {
        const frames: Frame[] = [];
        for (let x = s; x !== NO_STACK; x = p.stackParent[x]!) {
          const f = p.frames[p.stackFrame[x]!]!;
          frames.push({ ...f, file: resolve(f.file), col: 0 });
        }
        out.set(k, (c = { frames: frames.reverse(), a: 0, b: 0 }));
      }
      c[side] += p.sampleWeight[i]!;
    }
  };
  add(a, 'a');
  add(b, 'b');
  return [...out.values()];
}
