/**
 * Chrome trace-event JSON into the profile model (the writer is trace-event.ts).
 *
 * A sampled trace (`stackscope sample -o trace.json`, or Chrome's own recording) carries its
 * samples in `ProfileChunk` events: those are read by the cpuprofile reader, and the slice that
 * covers them is not data. Otherwise each track's `X` call slices become self-time samples
 * (model/slices.ts: weight = duration less direct children, calls counted). Left out, because their
 * time overlaps the calls that did the work: slices on async-lifetime lanes ("async 3", "worker 2 ·
 * async 1", call-to-settle spans), the request lanes ("requests", "requests 2": HTTP requests
 * served, written without a category) and slices that are not calls (Node's other events, such as
 * http clients or gc, carry a category of their own). A continuation (`resumed: fn`) adds time to its call, not a call.
 * A call whose first running segment is missing (shorter than the minimum duration) is counted by
 * its lifetime, when that lasted the minimum.
 * A trace with samples under its exact slices (`trace --sample`, marked on its `Profile` events) is
 * read by its slices: they are exact, and the samples only fill in below them.
 */
import { ProfileBuilder, addTrackSlices, parseFrameLabel, type Frame, type Profile, type Slice } from '../model/index.js';
import { UserError } from '../util/errors.js';
import { decimal, thousands } from '../util/numbers.js';
import { addCpuProfile, type CpuProfile, type CpuProfileNode } from './cpuprofile.js';
import type { TraceEvent } from './trace-event.js';

/** The tracer's conventions: async running segments carry this category; continuations this prefix. */
export const ASYNC_CAT = 'async';
export const RESUMED_PREFIX = 'resumed: ';

/** Field of a `Profile` event's args.data: its samples are drawn under the thread's exact slices. */
export const UNDER_SLICES = 'underSlices';

/** True when a trace's samples are `trace --sample`'s, under exact slices (which are then the data). */
export function hasSamplesUnderSlices(events: TraceEvent[]): boolean {
  return events.some(
    (e) => e.ph === 'P' && e.name === 'Profile' && (e.args?.data as Record<string, unknown> | undefined)?.[UNDER_SLICES] === true,
  );
}

/** Title of the request lane: each HTTP request served, arrival to response (no cat: see the tracer). */
export const REQUESTS_TRACK = 'requests';

/**
 * Lanes of async lifetimes ("async 3", "worker 2 async 1"): call-to-settle spans, not CPU; and the
 * request lanes ("requests", "requests 2"), whose slices carry no cat either.
 */
const ASYNC_LANE = new RegExp(`(^|\\s)(async \\d+|${REQUESTS_TRACK}( \\d+)?)$`);
/** The async lanes proper ("async 2", "worker 1 · async 3"): an async call's lifetime each, from call to settle. */
const LIFETIME_LANE = /(^|\s)async \d+$/;

/**
 * The tracer writes calls and async running segments without a category (before async tracing,
 * segments carried cat "async"); Node's own events (http clients, gc, net...) carry their own
 * category and sit on their own tracks, except the request lanes, left out by their title.
 */
function isCallSlice(e: TraceEvent): boolean {
  return e.ph === 'X' && typeof e.dur === 'number' && typeof e.ts === 'number' && (!e.cat || e.cat === ASYNC_CAT);
}

/**
 * The sampled profiles inside a trace: `ProfileChunk` events carry nodes (with parent links) and
 * samples, per pid and profile id; the `Profile` event gives the start time.
 */
export function profilesInTrace(events: TraceEvent[]): CpuProfile[] {
  type Acc = { nodes: Map<number, CpuProfileNode>; parents: Map<number, number>; samples: number[]; deltas: number[]; start: number };
  const byId = new Map<string, Acc>();
  const starts = new Map<string, number>();
  for (const e of events) {
    if (e.ph !== 'P') continue;
    const key = `${e.pid}:${e.id}`;
    if (e.name === 'Profile') {
      const start = (e.args?.data as { startTime?: unknown } | undefined)?.startTime;
      if (typeof start === 'number') starts.set(key, start);
      continue;
    }
    if (e.name !== 'ProfileChunk') continue;
    let acc = byId.get(key);
    if (!acc) byId.set(key, (acc = { nodes: new Map(), parents: new Map(), samples: [], deltas: [], start: 0 }));
    const data = (e.args?.data ?? {}) as {
      cpuProfile?: { nodes?: (CpuProfileNode & { parent?: number })[]; samples?: number[] };
      timeDeltas?: number[];
    };
    for (const n of data.cpuProfile?.nodes ?? []) {
      acc.nodes.set(n.id, { id: n.id, callFrame: n.callFrame, children: [] });
      if (n.parent !== undefined) acc.parents.set(n.id, n.parent);
    }
    for (const s of data.cpuProfile?.samples ?? []) acc.samples.push(s);
    for (const d of data.timeDeltas ?? []) acc.deltas.push(d);
  }
  return [...byId].map(([key, acc]) => {
    for (const [child, parent] of acc.parents) acc.nodes.get(parent)?.children!.push(child);
    const startTime = starts.get(key) ?? 0;
    let end = startTime;
    for (const d of acc.deltas) end += d;
    return { nodes: [...acc.nodes.values()], startTime, endTime: end, samples: acc.samples, timeDeltas: acc.deltas };
  });
}

export interface TraceProcess {
  pid: number;
  name: string | undefined;
  /** `name (pid N)`, or `pid N` when unnamed */
  label: string;
}

/** A trace's processes, in order of pid. */
export function processesIn(events: TraceEvent[]): TraceProcess[] {
  const names = new Map<number, string>();
  const pids = new Set<number>();
  for (const e of events) {
    if (typeof e.pid !== 'number') continue;
    pids.add(e.pid);
    if (e.ph === 'M' && e.name === 'process_name' && typeof e.args?.name === 'string') names.set(e.pid, e.args.name);
  }
  return [...pids]
    .sort((a, b) => a - b)
    .map((pid) => {
      const name = names.get(pid);
      return { pid, name, label: name === undefined ? `pid ${pid}` : `${name} (pid ${pid})` };
    });
}

/**
 * One process of a trace, chosen by name or pid (a bench's compare.trace.json holds one process per
 * strategy; without a choice their times add up, which compares nothing). UserError when none or
 * several match.
 */
export function pickProcess(file: string, events: TraceEvent[], want: string): TraceProcess {
  const all = processesIn(events);
  const named = all.filter((p) => p.name === want);
  if (named.length > 1)
    throw new UserError(`${file}: ${named.length} processes are named "${want}" (pids ${named.map((p) => p.pid).join(', ')}): give a pid`);
  const hit = named[0] ?? (/^\d+$/.test(want) ? all.find((p) => p.pid === Number(want)) : undefined);
  if (!hit) throw new UserError(`${file}: no process "${want}" (the trace has: ${all.map((p) => p.label).join(', ') || 'none'})`);
  return hit;
}

/**
 * Whether a trace covers only part of its run: the tracer's ring buffer overflowed (it records
 * where in `metadata.cut`; older traces only count `droppedRecords`). A sentence to follow the
 * file's name (`… was cut (ring buffer full): …`), or undefined for a whole trace.
 */
export function traceCut(metadata: unknown, pid?: number): string | undefined {
  const said = [ringCut(metadata, pid), shortCallsOmitted(metadata, pid), throttledFunctions(metadata, pid)].filter(
    (s): s is string => s !== undefined,
  );
  return said.length ? said.map((s, k) => (k === 0 ? s : `it also ${s}`)).join('; ') : undefined;
}

/** Whether the tracer stopped timing some functions (`metadata.throttled`): a sentence, or undefined. */
function throttledFunctions(metadata: unknown, pid?: number): string | undefined {
  const md = (metadata ?? {}) as { throttled?: { pid?: number; functions?: { name?: unknown; file?: unknown; line?: unknown }[] }[] };
  const threads = Array.isArray(md.throttled)
    ? md.throttled.filter((t) => (pid === undefined || t.pid === pid) && Array.isArray(t.functions))
    : [];
  // One function throttled in several threads is one function.
  const n = new Set(threads.flatMap((t) => t.functions!.map((f) => JSON.stringify([f.name, f.file, f.line])))).size;
  if (n === 0) return undefined;
  return n === 1
    ? "stopped timing a function (throttled after many short calls in a row): a longer call of it after that is counted as its caller's self time"
    : `stopped timing ${thousands(n)} functions (throttled after many short calls in a row): a longer call of one of them after that is counted as its caller's self time`;
}

/**
 * Whether a trace lacks its short calls because a full ring buffer raised the minimum duration
 * (`metadata.minDuration`): a sentence to follow the file's name, or undefined.
 */
function shortCallsOmitted(metadata: unknown, pid?: number): string | undefined {
  const md = (metadata ?? {}) as { minDuration?: { pid?: number; minDurationUs?: number; raisedAt?: unknown[] }[] };
  const raised = Array.isArray(md.minDuration)
    ? md.minDuration.filter((t) => (pid === undefined || t.pid === pid) && Array.isArray(t.raisedAt) && t.raisedAt.length > 0)
    : [];
  if (raised.length === 0) return undefined;
  const us = Math.max(...raised.map((t) => Number(t.minDurationUs) || 0));
  return `omits calls shorter than ${decimal(us, 1)} µs (its ring buffer filled): their time is counted as their callers' self time`;
}

function ringCut(metadata: unknown, pid?: number): string | undefined {
  const md = (metadata ?? {}) as { cut?: { pid?: number; droppedRecords?: number; completeFrom?: number }[]; droppedRecords?: number };
  const cuts = Array.isArray(md.cut) ? md.cut.filter((c) => pid === undefined || c.pid === pid) : [];
  if (cuts.length > 0) {
    const lost = cuts.reduce((n, c) => n + (Number(c.droppedRecords) || 0), 0);
    const from = Math.max(...cuts.map((c) => Number(c.completeFrom) || 0));
    return `was cut (ring buffer full): ${thousands(lost)} earlier call records were dropped; its times cover only the run from ${(from / 1000).toFixed(1)} ms on`;
  }
  if (!Array.isArray(md.cut) && Number(md.droppedRecords) > 0) {
    return `was cut (ring buffer full): ${thousands(Number(md.droppedRecords))} earlier call records were dropped; its times cover only the end of the run`;
  }
  return undefined;
}

export interface TraceModel {
  profile: Profile;
  /** 'samples' when the trace carried sampled profiles, 'slices' when its calls were read */
  source: 'samples' | 'slices';
  /** the processes read: the one chosen, or all of the trace's */
  processes: TraceProcess[];
  /** slices dropped because they cross their parent's end (DevTools drops them too) */
  crossing: number;
  /** traceCut's sentence when the trace covers only part of its run */
  cut?: string;
}

/** A trace's events in the model; `process` (name or pid) keeps one process (see pickProcess). */
export function traceToModel(events: TraceEvent[], opts: { file?: string; process?: string; metadata?: unknown } = {}): TraceModel {
  const picked = opts.process === undefined ? undefined : pickProcess(opts.file ?? 'trace', events, opts.process);
  const mine = picked ? events.filter((e) => e.pid === picked.pid) : events;
  const processes = picked ? [picked] : processesIn(events);
  const cut = traceCut(opts.metadata, picked?.pid);
  const cutNote = cut ? [`the trace ${cut}`] : [];
  const sampled = hasSamplesUnderSlices(mine) ? [] : profilesInTrace(mine);
  if (sampled.length > 0) {
    const b = new ProfileBuilder('samples');
    for (const p of sampled) addCpuProfile(b, p);
    b.meta = { clock: 'relative', ...(cutNote.length ? { notes: cutNote } : {}) };
    return { profile: b.build(), source: 'samples', processes, crossing: 0, ...(cut ? { cut } : {}) };
  }
  // Tracks named as async lanes hold call lifetimes that overlap the segments on the main track;
  // request lanes hold requests, not calls.
  const asyncTracks = new Set<string>(),
    lifetimeTracks = new Set<string>();
  for (const e of mine) {
    if (e.ph !== 'M' || e.name !== 'thread_name') continue;
    const name = String(e.args?.name ?? '');
    if (ASYNC_LANE.test(name)) asyncTracks.add(`${e.pid}:${e.tid}`);
    if (LIFETIME_LANE.test(name)) lifetimeTracks.add(`${e.pid}:${e.tid}`);
  }
  const frames = new Map<string, Frame>();
  const frameOf = (label: string) => {
    let f = frames.get(label);
    if (!f) frames.set(label, (f = parseFrameLabel(label)));
    return f;
  };
  // A call is counted by its first running segment; an async call whose first segment was shorter
  // than the minimum duration (so is missing) is counted by its lifetime, which begins at the same
  // ts. (Async spans share the lanes: named by the user, with no file, they are left out.)
  const lifetimes = mine.filter((e) => isCallSlice(e) && lifetimeTracks.has(`${e.pid}:${e.tid ?? 0}`) && frameOf(e.name).file);
  const lifetimeLabels = new Set(lifetimes.map((e) => e.name));
  const firsts = new Set<string>();
  const tracks = new Map<string, Slice[]>();
  for (const e of mine) {
    if (!isCallSlice(e)) continue;
    const key = `${e.pid}:${e.tid ?? 0}`;
    if (asyncTracks.has(key)) continue;
    let list = tracks.get(key);
    if (!list) tracks.set(key, (list = []));
    const continuation = e.name.startsWith(RESUMED_PREFIX);
    const label = continuation ? e.name.slice(RESUMED_PREFIX.length) : e.name;
    if (!continuation && lifetimeLabels.has(label)) firsts.add(`${e.pid}\n${e.ts}\n${label}`);
    list.push({ frame: frameOf(label), ts: e.ts!, dur: e.dur!, ...(continuation ? { continuation } : {}) });
  }
  const b = new ProfileBuilder('microseconds');
  for (const e of lifetimes) if (!firsts.has(`${e.pid}\n${e.ts}\n${e.name}`)) b.countCalls(b.frame(frameOf(e.name)));
  let crossing = 0;
  let start = Infinity;
  let end = -Infinity;
  for (const slices of tracks.values()) {
    crossing += addTrackSlices(b, slices).crossing;
    for (const s of slices) {
      start = Math.min(start, s.ts);
      end = Math.max(end, s.ts + s.dur);
    }
  }
  const notes = [
    ...cutNote,
    ...(crossing ? [`${crossing} slices that cross their parent's end are left out (DevTools drops them too)`] : []),
  ];
  b.meta = {
    clock: 'relative',
    ...(start !== Infinity ? { startUs: start, endUs: end } : {}),
    ...(notes.length ? { notes } : {}),
  };
  return { profile: b.build(), source: 'slices', processes, crossing, ...(cut ? { cut } : {}) };
}
