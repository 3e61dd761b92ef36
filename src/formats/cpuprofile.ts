/**
 * V8 `.cpuprofile` (what `node --cpu-prof` and the inspector's Profiler.stop produce; DevTools
 * loads it by drag-and-drop): a node tree plus a sample list with time deltas in µs.
 */
import fs from 'node:fs';
import { displayPath, frameLabel } from '../model/frame.js';
import { foldedKey, type FoldedStacks } from './folded.js';
import { processNameEvent, threadNameEvent, type TraceEvent } from './trace-event.js';

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
 * Resolves a node id to its stack (root first, V8's "(root)" node left out), memoised per node:
 * samples of the same node share one array, so callers must not mutate it.
 */
function stackResolver(profile: CpuProfile): (id: number) => CpuProfileNode[] {
  const byId = new Map<number, CpuProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const cache = new Map<number, CpuProfileNode[]>();
  return (id) => {
    let s = cache.get(id);
    if (s) return s;
    s = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (n && parent.has(cur)) s.push(n); // the root node has no parent: leave it out
    }
    s.reverse();
    cache.set(id, s);
    return s;
  };
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
  const stackOf = stackResolver(profile);
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the gap before sample i; the sample's weight is the gap after it.
    const next = i + 1 < deltas.length ? deltas[i + 1]! : 0;
    visit(stackOf(samples[i]!), Math.max(0, next));
  }
}

/** V8's pseudo-frames: not functions, so they carry no file. */
const PSEUDO = new Set(['(root)', '(program)', '(idle)', '(garbage collector)']);

/** True for samples where the thread was waiting, not computing: not CPU, so left out of stacks. */
export function isIdleFrame(frame: CallFrame): boolean {
  return frame.functionName === '(idle)' && !frame.url;
}

/**
 * The shared frame name (`name (file:line)`, see model/frame.ts) of a V8 call frame. The frame is
 * expected to be source-mapped already (sample/source-maps.ts), so its url and 0-based line are the
 * original source's; V8 gives the function's own position, which becomes the 1-based start line.
 */
export function callFrameLabel(frame: CallFrame, cwd: string = process.cwd()): string {
  const name = frame.functionName || '(anonymous)';
  if (PSEUDO.has(frame.functionName) || !frame.url) return name;
  return frameLabel({ name, file: displayPath(frame.url, cwd), line: frame.lineNumber + 1 });
}

/** One sample: its stack (node ids, root excluded, root first) and its time (µs, profile clock). */
export interface TimedSample {
  stack: CpuProfileNode[];
  ts: number;
}

/**
 * Walks every sample with its absolute timestamp (startTime plus the running sum of timeDeltas).
 * Stacks are shared between samples of the same node, so callers must not mutate them.
 */
export function forEachTimedSample(profile: CpuProfile, visit: (s: TimedSample) => void): void {
  const stackOf = stackResolver(profile);
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let ts = profile.startTime;
  for (let i = 0; i < samples.length; i++) {
    ts += deltas[i] ?? 0;
    visit({ stack: stackOf(samples[i]!), ts });
  }
}

/** The shared label of a node's frame (callFrameLabel), memoised per node. */
export function nodeLabeller(cwd: string = process.cwd()): (n: CpuProfileNode) => string {
  const labels = new Map<CpuProfileNode, string>();
  return (n) => {
    let l = labels.get(n);
    if (l === undefined) labels.set(n, (l = callFrameLabel(n.callFrame, cwd)));
    return l;
  };
}

/**
 * The folded key of a sample's stack (labels root first), or null for an idle sample, memoised per
 * stack: the walkers above hand samples of the same node one shared array.
 */
export function foldedKeyResolver(cwd: string = process.cwd()): (stack: CpuProfileNode[]) => string | null {
  const label = nodeLabeller(cwd);
  const keys = new Map<CpuProfileNode[], string | null>();
  return (stack) => {
    let key = keys.get(stack);
    if (key === undefined) {
      const leaf = stack[stack.length - 1];
      key = !leaf || isIdleFrame(leaf.callFrame) ? null : foldedKey(stack.map(label));
      keys.set(stack, key);
    }
    return key;
  };
}

/**
 * Folded stacks (sample counts) of a profile, named by the shared rule. Idle samples are left out
 * (the thread was waiting, which is not where the CPU went); `(program)` and GC stay.
 */
export function cpuProfileToFolded(profile: CpuProfile, cwd: string = process.cwd()): FoldedStacks {
  const keyOf = foldedKeyResolver(cwd);
  const out: FoldedStacks = new Map();
  forEachSampleStack(profile, (stack) => {
    const key = keyOf(stack);
    if (key !== null) out.set(key, (out.get(key) ?? 0) + 1);
  });
  return out;
}

/** Self time (µs) and its share of all non-idle time, per function label. Heaviest first. */
export interface SelfShare { label: string; selfUs: number; share: number }

/**
 * Self time by function: each sample's weight (the gap to the next sample) goes to its leaf
 * frame. Used to hold a sampled profile against a trace of the same program.
 */
export function selfTimeShares(profile: CpuProfile, cwd: string = process.cwd()): SelfShare[] {
  const label = nodeLabeller(cwd);
  const self = new Map<string, number>();
  let total = 0;
  forEachSampleStack(profile, (stack, w) => {
    const leaf = stack[stack.length - 1];
    if (!leaf || isIdleFrame(leaf.callFrame)) return;
    const l = label(leaf);
    self.set(l, (self.get(l) ?? 0) + w);
    total += w;
  });
  return [...self].map(([label, selfUs]) => ({ label, selfUs, share: total ? selfUs / total : 0 }))
    .sort((a, b) => b.selfUs - a.selfUs);
}

const PROFILE_CHUNK_SAMPLES = 50_000;

/**
 * A sampled profile as Chrome trace events, so the Performance panel draws the sampled call tree:
 * one `Profile` and `ProfileChunk` events (ph "P", same pid and id) on the thread, plus an `X` slice
 * covering the profile, because the panel only draws samples inside the bounds of slices on that
 * thread (see ../shared/DESIGN.md). Nodes go out once, in the first chunk, with `parent` links.
 */
export function cpuProfileToTraceEvents(profile: CpuProfile, opts: { pid: number; tid?: number; threadName?: string; processName?: string }): TraceEvent[] {
  const pid = opts.pid;
  const tid = opts.tid ?? 1;
  const id = '0x1';
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  // ts must be >= 1 µs for DevTools bounds; V8's clock is far past that, but keep it safe.
  const start = Math.max(1, profile.startTime);
  const end = Math.max(start + 1, profile.endTime);
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  const nodes = profile.nodes.map((n) => {
    const p = parentOf.get(n.id);
    const { functionName, url, scriptId, lineNumber, columnNumber } = n.callFrame;
    return { id: n.id, callFrame: { functionName, url, scriptId: Number(scriptId) || 0, lineNumber, columnNumber }, ...(p === undefined ? {} : { parent: p }) };
  });
  const events: TraceEvent[] = [
    processNameEvent(pid, opts.processName ?? 'stackscope sample'),
    threadNameEvent(pid, tid, opts.threadName ?? 'main thread (sampled)'),
    { name: 'Profile', ph: 'P', cat: 'disabled-by-default-v8.cpu_profiler', id, pid, tid, ts: start, args: { data: { startTime: start } } },
  ];
  for (let i = 0; i === 0 || i < samples.length; i += PROFILE_CHUNK_SAMPLES) {
    const cpuProfile: Record<string, unknown> = { samples: samples.slice(i, i + PROFILE_CHUNK_SAMPLES) };
    if (i === 0) cpuProfile.nodes = nodes;
    events.push({
      name: 'ProfileChunk', ph: 'P', cat: 'disabled-by-default-v8.cpu_profiler', id, pid, tid, ts: start,
      args: { data: { cpuProfile, timeDeltas: deltas.slice(i, i + PROFILE_CHUNK_SAMPLES) } },
    });
  }
  events.push({ name: 'CPU profile', ph: 'X', pid, tid, ts: start, dur: end - start, args: { samples: samples.length } });
  return events;
}
