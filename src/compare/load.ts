/**
 * Loads a trace.json, .cpuprofile or folded file into per-function times (model.ts).
 *
 * Traces: per track (pid, tid), `X` slices nest; self = dur - direct children's dur, and total
 * skips a slice nested in a slice of the same function so recursion is not counted twice. Slices
 * that are not function calls (async lifetimes drawn on their own lanes, Node events such as
 * http or gc) are left out, since their time overlaps the calls that did the work.
 * Sampled profiles: each sample's weight goes to its leaf's self time and to the total of every
 * function on its stack.
 */
import fs from 'node:fs';
import { forEachSampleStack, nodeLabeller, type CpuProfile, type CpuProfileNode } from '../formats/cpuprofile.js';
import { addStack, parseFolded, type FoldedStacks } from '../formats/folded.js';
import type { TraceEvent } from '../formats/trace-event.js';
import { ASYNC_CAT, RESUMED_PREFIX } from '../trace/build.js';
import { UserError } from '../util/errors.js';
import { addStackTimes, entry, type FunctionTimes, type ProfileTimes } from './model.js';

/** V8 pseudo-frames that are not CPU spent in JavaScript functions. */
const NOT_CPU = new Set(['(idle)', '(root)']);

/** Folded stacks from a cpuprofile, weighted by µs, added to `into`; frames named by the sampler's rule, like the tracer's. */
export function cpuProfileFolded(profile: CpuProfile, into: FoldedStacks = new Map()): FoldedStacks {
  const label = nodeLabeller(); // each node named once, not once per sample
  forEachSampleStack(profile, (stack, us) => {
    const frames = stack.map(label);
    if (frames.length === 0 || NOT_CPU.has(frames[frames.length - 1]!)) return;
    addStack(into, frames, us);
  });
  return into;
}

/**
 * The sampled profiles inside a trace (`stackscope sample -o trace.json`, or Chrome's own):
 * `ProfileChunk` events carry nodes (with parent links) and samples, per pid and profile id.
 */
export function profilesInTrace(events: TraceEvent[]): CpuProfile[] {
  type Acc = { nodes: Map<number, CpuProfileNode>; parents: Map<number, number>; samples: number[]; deltas: number[] };
  const byId = new Map<string, Acc>();
  for (const e of events) {
    if (e.ph !== 'P' || e.name !== 'ProfileChunk') continue;
    const key = `${e.pid}:${e.id}`;
    let acc = byId.get(key);
    if (!acc) byId.set(key, (acc = { nodes: new Map(), parents: new Map(), samples: [], deltas: [] }));
    const data = (e.args?.data ?? {}) as { cpuProfile?: { nodes?: (CpuProfileNode & { parent?: number })[]; samples?: number[] }; timeDeltas?: number[] };
    for (const n of data.cpuProfile?.nodes ?? []) {
      acc.nodes.set(n.id, { id: n.id, callFrame: n.callFrame, children: [] });
      if (n.parent !== undefined) acc.parents.set(n.id, n.parent);
    }
    acc.samples.push(...(data.cpuProfile?.samples ?? []));
    acc.deltas.push(...(data.timeDeltas ?? []));
  }
  return [...byId.values()].map((acc) => {
    for (const [child, parent] of acc.parents) acc.nodes.get(parent)?.children!.push(child);
    return { nodes: [...acc.nodes.values()], startTime: 0, endTime: 0, samples: acc.samples, timeDeltas: acc.deltas };
  });
}

function fromStacks(file: string, kind: ProfileTimes['kind'], unit: ProfileTimes['unit'], stacks: FoldedStacks): ProfileTimes {
  const functions = new Map<string, FunctionTimes>();
  let grandTotal = 0;
  for (const [key, count] of stacks) {
    addStackTimes(functions, key.split(';'), count);
    grandTotal += count;
  }
  return { file, kind, unit, grandTotal, functions };
}

/**
 * The tracer writes calls without a category and async running segments with cat "async" (a
 * continuation named "resumed: <label>"); Node's own events (http, gc, net...) carry their own
 * category and sit on their own tracks.
 */
function isCallSlice(e: TraceEvent): boolean {
  return e.ph === 'X' && typeof e.dur === 'number' && typeof e.ts === 'number' && (!e.cat || e.cat === ASYNC_CAT);
}

/** Lanes of async lifetimes ("async 3", "worker 2 · async 1"): call-to-settle spans, not CPU. */
const ASYNC_LANE = /(^|\s)async \d+$/;

export function traceTimes(file: string, events: TraceEvent[]): ProfileTimes {
  // Tracks named as async lanes hold call lifetimes that overlap the segments on the main track.
  const asyncTracks = new Set<string>();
  for (const e of events) {
    if (e.ph === 'M' && e.name === 'thread_name' && ASYNC_LANE.test(String(e.args?.name ?? ''))) asyncTracks.add(`${e.pid}:${e.tid}`);
  }
  const tracks = new Map<string, TraceEvent[]>();
  for (const e of events) {
    if (!isCallSlice(e)) continue;
    const key = `${e.pid}:${e.tid ?? 0}`;
    if (asyncTracks.has(key)) continue;
    let list = tracks.get(key);
    if (!list) tracks.set(key, (list = []));
    list.push(e);
  }
  const labelOf = (e: TraceEvent) => (e.name.startsWith(RESUMED_PREFIX) ? e.name.slice(RESUMED_PREFIX.length) : e.name);
  const functions = new Map<string, FunctionTimes>();
  let grandTotal = 0;
  for (const slices of tracks.values()) {
    // DevTools order: by start, the longer first on ties, so parents come before children.
    slices.sort((a, b) => a.ts! - b.ts! || b.dur! - a.dur!);
    const stack: { e: TraceEvent; label: string; end: number; childDur: number }[] = [];
    const open = new Map<string, number>(); // label -> how many of it are on the stack
    const close = () => {
      const top = stack.pop()!;
      const f = entry(functions, top.label, true);
      const self = Math.max(0, top.e.dur! - top.childDur);
      f.self += self;
      grandTotal += self;
      const n = open.get(top.label)! - 1;
      if (n === 0) { open.delete(top.label); f.total += top.e.dur!; } else open.set(top.label, n);
    };
    for (const e of slices) {
      const end = e.ts! + e.dur!;
      while (stack.length && e.ts! >= stack[stack.length - 1]!.end) close();
      const parent = stack[stack.length - 1];
      if (parent && end > parent.end + 0.002) continue; // crosses its parent: DevTools drops it too
      if (parent) parent.childDur += e.dur!;
      const label = labelOf(e);
      // A continuation is the same call resumed, not a new call.
      if (label === e.name) entry(functions, label, true).calls!++;
      else entry(functions, label, true);
      stack.push({ e, label, end, childDur: 0 });
      open.set(label, (open.get(label) ?? 0) + 1);
    }
    while (stack.length) close();
  }
  return { file, kind: 'trace', unit: 'us', grandTotal, functions };
}

/** A trace's processes, in order of pid, as `name (pid N)` (or `pid N` when unnamed). */
function processesIn(events: TraceEvent[]): { pid: number; name: string | undefined; label: string }[] {
  const names = new Map<number, string>();
  const pids = new Set<number>();
  for (const e of events) {
    if (typeof e.pid !== 'number') continue;
    pids.add(e.pid);
    if (e.ph === 'M' && e.name === 'process_name' && typeof e.args?.name === 'string') names.set(e.pid, e.args.name);
  }
  return [...pids].sort((a, b) => a - b).map((pid) => {
    const name = names.get(pid);
    return { pid, name, label: name === undefined ? `pid ${pid}` : `${name} (pid ${pid})` };
  });
}

/**
 * Keeps the events of one process, chosen by name or pid (a bench's compare.trace.json holds one
 * process per strategy; without a choice their times add up, which compares nothing).
 */
function pickProcess(file: string, events: TraceEvent[], want: string): { events: TraceEvent[]; label: string; pid: number } {
  const all = processesIn(events);
  const named = all.filter((p) => p.name === want);
  if (named.length > 1) throw new UserError(`${file}: ${named.length} processes are named "${want}" (pids ${named.map((p) => p.pid).join(', ')}): give a pid`);
  const hit = named[0] ?? (/^\d+$/.test(want) ? all.find((p) => p.pid === Number(want)) : undefined);
  if (!hit) {
    throw new UserError(`${file}: no process "${want}" (the trace has: ${all.map((p) => p.label).join(', ') || 'none'})`);
  }
  return { events: events.filter((e) => e.pid === hit.pid), label: hit.label, pid: hit.pid };
}

export interface LoadOptions {
  /** traces only: compare this process (name or pid) instead of all of them added up */
  process?: string;
  /** where a warning about the input goes (one line each; default: stderr) */
  warn?: (line: string) => void;
}

/**
 * A trace whose ring buffer overflowed covers only part of the run (the tracer records where in
 * `metadata.cut`; older traces only count `droppedRecords`): said once, since every time compared
 * from it is a time of that part.
 */
function warnIfCut(file: string, metadata: unknown, pid: number | undefined, warn: (line: string) => void): void {
  const md = (metadata ?? {}) as { cut?: { pid?: number; droppedRecords?: number; completeFrom?: number }[]; droppedRecords?: number };
  const cuts = Array.isArray(md.cut) ? md.cut.filter((c) => pid === undefined || c.pid === pid) : [];
  if (cuts.length > 0) {
    const lost = cuts.reduce((n, c) => n + (Number(c.droppedRecords) || 0), 0);
    const from = Math.max(...cuts.map((c) => Number(c.completeFrom) || 0));
    warn(`stackscope: warning: ${file} was cut (ring buffer full): ${lost.toLocaleString('en-US')} earlier call records were dropped; its times cover only the run from ${(from / 1000).toFixed(1)} ms on`);
  } else if (!Array.isArray(md.cut) && Number(md.droppedRecords) > 0) {
    warn(`stackscope: warning: ${file} was cut (ring buffer full): ${Number(md.droppedRecords).toLocaleString('en-US')} earlier call records were dropped; its times cover only the end of the run`);
  }
}

/** Reads any of the three formats, telling them apart by content rather than by extension. */
export function loadProfile(file: string, opts: LoadOptions = {}): ProfileTimes {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a folder, not a file' : (err as Error).message.split('\n')[0];
    throw new UserError(`${file}: ${why}`);
  }
  // An empty file is no profile of anything (a typo'd or truncated file), not a profile with no samples.
  if (text.trim() === '') throw new UserError(`${file}: empty file, not a trace, .cpuprofile or folded stacks`);
  const head = text.trimStart()[0];
  if (head === '{' || head === '[') {
    let data: unknown;
    try { data = JSON.parse(text); } catch (err) { throw new UserError(`${file}: not valid JSON: ${(err as Error).message}`); }
    const obj = data as Record<string, unknown>;
    const allEvents = Array.isArray(data) ? (data as TraceEvent[]) : Array.isArray(obj.traceEvents) ? (obj.traceEvents as TraceEvent[]) : undefined;
    if (allEvents) {
      const picked = opts.process === undefined ? undefined : pickProcess(file, allEvents, opts.process);
      if (!Array.isArray(data)) warnIfCut(file, obj.metadata, picked?.pid, opts.warn ?? ((line) => process.stderr.write(line + '\n')));
      const events = picked?.events ?? allEvents;
      const which = picked ? { process: picked.label, processes: [picked.label] } : { processes: processesIn(allEvents).map((p) => p.label) };
      // A sampled trace: its only slice covers the profile; the samples are the data.
      const sampled = profilesInTrace(events);
      if (sampled.length === 0) return { ...traceTimes(file, events), ...which };
      const stacks: FoldedStacks = new Map();
      for (const p of sampled) cpuProfileFolded(p, stacks);
      return { ...fromStacks(file, 'cpuprofile', 'us', stacks), kind: 'trace', ...which };
    }
    if (opts.process !== undefined) throw new UserError(`${file}: a process can only be chosen in a trace, and this is a .cpuprofile`);
    if (Array.isArray(obj.nodes)) return fromStacks(file, 'cpuprofile', 'us', cpuProfileFolded(obj as unknown as CpuProfile));
    throw new UserError(`${file}: JSON but neither a trace (traceEvents) nor a .cpuprofile (nodes)`);
  }
  if (opts.process !== undefined) throw new UserError(`${file}: a process can only be chosen in a trace, and this is not one`);
  try {
    return fromStacks(file, 'folded', 'samples', parseFolded(text));
  } catch (err) {
    throw new UserError(`${file}: not a trace, .cpuprofile or folded file (${(err as Error).message})`);
  }
}
