/**
 * V8 `.cpuprofile` (what `node --cpu-prof` and the inspector's Profiler.stop produce; DevTools
 * loads it by drag-and-drop): a node tree plus a sample list with time deltas in µs.
 *
 * Reader: the one walker from V8's node tree to the profile model's stacks. Writer: the model as a
 * node tree again (lossy, see modelToCpuProfile).
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  NO_STACK,
  ProfileBuilder,
  type StackSink,
  frameRole,
  framePath,
  modelFrameLabel,
  functionWeights,
  type Frame,
  type Profile,
} from '../model/index.js';
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
 * The model frame of a V8 call frame, normalised once: file: URLs become absolute paths, V8's
 * 0-based line and column become 1-based (0 when V8 gives none, as for pseudo-frames and builtins).
 */
export function callFrameToFrame(cf: CallFrame, pathOf: (url: string) => string = framePath): Frame {
  const file = cf.url ? pathOf(cf.url) : '';
  return {
    name: cf.functionName || '(anonymous)',
    file,
    line: file ? Math.max(0, cf.lineNumber + 1) : 0,
    col: file ? Math.max(0, cf.columnNumber + 1) : 0,
  };
}

/** A node whose samples are dropped (an idle thread, per frameRole), and everything under it. */
const DROPPED = -2;

/**
 * Adds a profile's samples to `b`: the one walk from V8's node tree to stacks. `(root)` is left out
 * and `(idle)` samples are dropped (model/frame.ts frameRole); each sample weighs 1, carries its time
 * (startTime plus the running sum of timeDeltas, µs on V8's clock) and its duration (the gap to the
 * next sample; for the last one, to endTime). Returns how many samples were idle.
 */
export function addCpuProfile(b: StackSink, profile: CpuProfile): { idle: number } {
  const byId = new Map<number, CpuProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const stackOfNode = new Map<number, number>();
  const chain: CpuProfileNode[] = [];
  // Per script, not per node: a profile has thousands of nodes over a few dozen scripts.
  const files = new Map<string, string>();
  const pathOf = (url: string): string => {
    let file = files.get(url);
    if (file === undefined) files.set(url, (file = framePath(url)));
    return file;
  };
  const stackOf = (id: number): number => {
    const known = stackOfNode.get(id);
    if (known !== undefined) return known;
    // Up to the nearest node already resolved (iteratively: stacks can be thousands deep), then down.
    let base = NO_STACK;
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = stackOfNode.get(cur);
      if (k !== undefined) {
        base = k;
        break;
      }
      const n = byId.get(cur);
      if (!n) break;
      chain.push(n);
    }
    while (chain.length) {
      const n = chain.pop()!;
      if (base !== DROPPED) {
        const frame = callFrameToFrame(n.callFrame, pathOf);
        const role = frameRole(n.callFrame.functionName, frame.file);
        if (role === 'idle') base = DROPPED;
        else if (role === 'cpu') base = b.stack(base, b.frame(frame));
      }
      stackOfNode.set(n.id, base);
    }
    return base;
  };
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  b.reserve?.(samples.length);
  let idle = 0;
  let ts = (Number.isFinite(profile.startTime) ? profile.startTime : 0) + (deltas[0] ?? 0);
  for (let i = 0; i < samples.length; i++) {
    // (a file without endTime: the last sample's duration is unknown, so 0)
    const next = i + 1 < samples.length ? ts + (deltas[i + 1] ?? 0) : Number.isFinite(profile.endTime) ? profile.endTime : ts;
    const s = stackOf(samples[i]!);
    if (s === DROPPED || s === NO_STACK) {
      idle++;
      b.idle?.(ts);
    } else {
      b.sample(s, 1, ts, Math.max(0, next - ts));
    }
    ts = next;
  }
  return { idle };
}

/** A `.cpuprofile` in the model: one sample per V8 sample (weight 1) with its time and duration. */
export function cpuProfileToModel(profile: CpuProfile, name?: string): Profile {
  const b = new ProfileBuilder('samples');
  addCpuProfile(b, profile);
  b.meta = { ...(name !== undefined ? { name } : {}), startUs: profile.startTime, endUs: profile.endTime, clock: 'relative' };
  return b.build();
}

/** A frame's file as a V8 url: absolute paths become file: URLs, anything else stays. */
function frameUrl(file: string): string {
  return path.isAbsolute(file) ? pathToFileURL(file).href : file;
}

/**
 * The model as a `.cpuprofile` (a node per stack under a `(root)` node). Lossy, and `notes` says how:
 * - always: V8's node ids, hit counts and positionTicks are not kept (the model has none), nor
 *   `(idle)` samples (dropped when read);
 * - samples of weight 1 with known times and durations (a profile read from V8) keep their times;
 * - other sampled profiles (folded, pprof) have no times: each weight-n sample becomes n samples
 *   spaced by its known duration, else by the interval (1 ms when unknown), from time 0;
 * - time-weighted profiles (traces) become one sample per slice, its self time the gap to the next.
 */
export function modelToCpuProfile(p: Profile, opts: { intervalUs?: number } = {}): { profile: CpuProfile; notes: string[] } {
  if (p.unit !== 'samples' && p.unit !== 'microseconds' && p.unit !== 'nanoseconds') {
    throw new Error(`a profile weighted in ${p.unit} cannot be written as a .cpuprofile (it holds CPU samples)`);
  }
  const nodes: CpuProfileNode[] = [
    { id: 1, callFrame: { functionName: '(root)', scriptId: 0, url: '', lineNumber: -1, columnNumber: -1 }, hitCount: 0, children: [] },
  ];
  for (let s = 0; s < p.stackParent.length; s++) {
    const f = p.frames[p.stackFrame[s]!]!;
    nodes.push({
      id: s + 2,
      callFrame: {
        functionName: f.name,
        scriptId: 0,
        url: f.file ? frameUrl(f.file) : '',
        lineNumber: f.line - 1,
        columnNumber: f.col - 1,
      },
      hitCount: 0,
      children: [],
    });
    nodes[p.stackParent[s]! + 1]!.children!.push(s + 2);
  }
  const samples: number[] = [];
  const times: number[] = [];
  const notes: string[] = [];
  const n = p.sampleStack.length;
  const d = p.sampleDurationUs;
  let exact = p.unit === 'samples' && n > 0 && !!d;
  for (let i = 0; exact && i < n; i++) {
    const t = p.sampleTime[i]!;
    // (V8 itself writes a sample now and then a µs before the one preceding it: kept as it came)
    exact = p.sampleWeight[i] === 1 && Number.isFinite(t) && Number.isFinite(d![i]!);
  }
  const metaStart = Number.isFinite(p.meta.startUs) ? p.meta.startUs! : undefined;
  let t = exact ? p.sampleTime[0]! : (metaStart ?? 0);
  // V8's startTime precedes the first sample; keep it when the model has it.
  const start = metaStart !== undefined && metaStart <= t ? metaStart : t;
  const interval = opts.intervalUs ?? p.meta.intervalUs ?? 1000;
  let rounded = false;
  for (let i = 0; i < n; i++) {
    const node = p.sampleStack[i]! + 2;
    const w = p.sampleWeight[i]!;
    if (exact) {
      t = p.sampleTime[i]!;
      samples.push(node);
      times.push(t);
      t += d![i]!;
      // A gap before the next sample (an idle sample was dropped): a sample of the root, which
      // readers take as no stack, keeps this sample's duration.
      if (i + 1 < n && t < p.sampleTime[i + 1]!) {
        samples.push(1);
        times.push(t);
      }
    } else if (p.unit === 'samples') {
      const k = Math.round(w);
      if (k !== w) rounded = true;
      const gap = d && Number.isFinite(d[i]!) && k > 0 ? d[i]! / k : interval;
      for (let j = 0; j < k; j++) {
        samples.push(node);
        times.push(t);
        t += gap;
      }
    } else {
      samples.push(node);
      times.push(t);
      t += p.unit === 'nanoseconds' ? w / 1000 : w;
    }
  }
  for (const s of samples) nodes[s - 1]!.hitCount!++;
  const timeDeltas = times.map((x, i) => x - (i === 0 ? start : times[i - 1]!));
  if (!exact && n > 0) {
    notes.push(
      p.unit === 'samples'
        ? `sample times are not in the input: samples are spaced ${d ? 'by their durations' : `every ${interval} µs`} from time 0`
        : 'one sample per slice of the input, its self time the gap to the next sample',
    );
  }
  if (rounded) notes.push('fractional sample counts were rounded to whole samples');
  return { profile: { nodes, startTime: start, endTime: t, samples, timeDeltas }, notes };
}

/** Self time (µs) and its share of all non-idle time, per function label. Heaviest first. */
export interface SelfShare {
  label: string;
  selfUs: number;
  share: number;
}

/**
 * Self time by function: each sample's duration (the gap to the next sample) goes to its leaf
 * frame. Used to hold a sampled profile against a trace of the same program.
 */
export function selfTimeShares(profile: CpuProfile, cwd: string = process.cwd()): SelfShare[] {
  const p = cpuProfileToModel(profile);
  const self = new Map<string, number>();
  let total = 0;
  for (const f of functionWeights(p, p.sampleDurationUs ?? [])) {
    const label = modelFrameLabel(f.frame, cwd);
    self.set(label, (self.get(label) ?? 0) + f.self);
    total += f.self;
  }
  return [...self].map(([label, selfUs]) => ({ label, selfUs, share: total ? selfUs / total : 0 })).sort((a, b) => b.selfUs - a.selfUs);
}

const PROFILE_CHUNK_SAMPLES = 50_000;

/**
 * A sampled profile as Chrome trace events, so the Performance panel draws the sampled call tree:
 * one `Profile` and `ProfileChunk` events (ph "P", same pid and id) on the thread, plus an `X` slice
 * covering the profile, because the panel only draws samples inside the bounds of slices on that
 * thread. Nodes go out once, in the first chunk, with `parent` links.
 */
export function cpuProfileToTraceEvents(
  profile: CpuProfile,
  opts: { pid: number; tid?: number; threadName?: string; processName?: string },
): TraceEvent[] {
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
    return {
      id: n.id,
      callFrame: { functionName, url, scriptId: Number(scriptId) || 0, lineNumber, columnNumber },
      ...(p === undefined ? {} : { parent: p }),
    };
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
      name: 'ProfileChunk',
      ph: 'P',
      cat: 'disabled-by-default-v8.cpu_profiler',
      id,
      pid,
      tid,
      ts: start,
      args: { data: { cpuProfile, timeDeltas: deltas.slice(i, i + PROFILE_CHUNK_SAMPLES) } },
    });
  }
  events.push({ name: 'CPU profile', ph: 'X', pid, tid, ts: start, dur: end - start, args: { samples: samples.length } });
  return events;
}
