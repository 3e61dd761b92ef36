/**
 * Reads a trace the way the Chrome DevTools Performance panel does: the panel's own trace engine
 * (`@paulirish/trace_engine`, published from the DevTools sources) runs in plain Node here, with
 * all its handlers, exactly as the panel does on load. We then read the tracks the flame chart is
 * drawn from: `Threads.threadsInTrace` (one per pid/tid of a generic trace) and each thread's tree
 * built by `TreeHelpers.treify`. An entry the engine could not place in the tree (a slice crossing
 * another) is one the panel silently does not draw; we count those as dropped.
 *
 * Not covered by the engine: the panel's track order (decided in UI code, not in this package).
 */
import fs from 'node:fs';
import * as Trace from '@paulirish/trace_engine';
// @ts-expect-error: plain .mjs without types; DevTools expects a browser's DOMRect.
import { polyfillDOMRect } from '@paulirish/trace_engine/analyze-trace.mjs';

polyfillDOMRect();

export interface DtEntry {
  name: string;
  ph: string;
  cat?: string;
  /** µs, as in the file */
  ts: number;
  dur: number;
  /** 0 = root of the track */
  depth: number;
  args?: Record<string, unknown>;
  /** names of the enclosing entries, root first */
  path: string[];
  /** sampled entries (name "ProfileCall"): the function the panel draws, as V8 named it */
  sampled?: { functionName: string; url: string; lineNumber: number };
}

export interface DtTrack {
  pid: number;
  tid: number;
  processName: string | null;
  threadName: string | null;
  /** entries drawn, in tree order (pre-order) */
  entries: DtEntry[];
  /** entries the engine could not nest: the panel silently drops them */
  dropped: DtEntry[];
  maxDepth: number;
}

export interface DtFlowPoint {
  name: string;
  ts: number;
  pid: number;
  tid: number;
}

export interface DtTrace {
  generic: boolean;
  tracks: DtTrack[];
  /** total entries not drawn because of bad nesting, over all tracks */
  dropped: number;
  /** each flow: the slices it binds, in time order (only flows bound to >= 2 slices) */
  flows: DtFlowPoint[][];
  bounds: { min: number; max: number };
  metadata: Record<string, unknown>;
  /** raw events of the file, for assertions on what the engine does not model (M events) */
  raw: Array<Record<string, unknown>>;
}

type AnyEvent = {
  name: string;
  ph: string;
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  cat?: string;
  args?: Record<string, unknown>;
  callFrame?: { functionName: string; url: string; lineNumber: number };
};

// The engine's handlers keep their state in module-level variables, and parse() yields between
// chunks: two parses in flight corrupt each other. One at a time.
let queue: Promise<unknown> = Promise.resolve();

/** Parses a trace file (or its events) with the DevTools engine. */
export function parseWithDevTools(input: string | { traceEvents: unknown[]; metadata?: Record<string, unknown> }): Promise<DtTrace> {
  const next = queue.then(() => parseNow(input));
  queue = next.catch(() => undefined);
  return next;
}

async function parseNow(input: string | { traceEvents: unknown[]; metadata?: Record<string, unknown> }): Promise<DtTrace> {
  const file =
    typeof input === 'string'
      ? (JSON.parse(fs.readFileSync(input, 'utf8')) as { traceEvents: unknown[]; metadata?: Record<string, unknown> })
      : input;
  const events = file.traceEvents as Array<Record<string, unknown>>;
  const model = Trace.TraceModel.Model.createWithAllHandlers();
  // The engine mutates events (adds fields); give it copies so `raw` stays the file's.
  await model.parse(events.map((e) => ({ ...e })) as never);
  const parsed = model.parsedTrace();
  if (!parsed) throw new Error('DevTools trace engine produced no data');
  const data = parsed.data;
  const threads = Trace.Handlers.Threads.threadsInTrace(data);
  const processNames = data.Meta.processNames as Map<number, { args: { name: string } }>;
  const tracks: DtTrack[] = [];
  let dropped = 0;
  for (const t of threads) {
    const entryToNode = t.entryToNode as Map<unknown, { depth: number; children: unknown[] }>;
    const entries: DtEntry[] = [];
    const walk = (node: { entry: AnyEvent; depth: number; children: unknown[] }, path: string[]): void => {
      const e = node.entry;
      const sampled =
        e.name === 'ProfileCall' && e.callFrame
          ? { functionName: e.callFrame.functionName, url: e.callFrame.url, lineNumber: e.callFrame.lineNumber }
          : undefined;
      entries.push({
        name: e.name,
        ph: e.ph,
        cat: e.cat,
        ts: e.ts,
        dur: e.dur ?? 0,
        depth: node.depth,
        args: e.args,
        path,
        ...(sampled ? { sampled } : {}),
      });
      const next = [...path, e.name];
      for (const c of node.children) walk(c as never, next);
    };
    for (const root of t.tree.roots) walk(root as never, []);
    const lost = (t.entries as unknown as AnyEvent[])
      .filter((e) => !entryToNode.has(e))
      .map((e) => ({ name: e.name, ph: e.ph, cat: e.cat, ts: e.ts, dur: e.dur ?? 0, depth: -1, args: e.args, path: [] }));
    dropped += lost.length;
    tracks.push({
      pid: t.pid,
      tid: t.tid,
      processName: processNames.get(t.pid)?.args.name ?? null,
      threadName: t.name ?? null,
      entries,
      dropped: lost,
      maxDepth: t.tree.maxDepth,
    });
  }
  const flows = (data.Flows.flows as unknown as AnyEvent[][]).map((f) =>
    f.map((e) => ({ name: e.name, ts: e.ts, pid: e.pid, tid: e.tid })),
  );
  const b = data.Meta.traceBounds;
  return {
    generic: data.Meta.traceIsGeneric,
    tracks,
    dropped,
    flows,
    bounds: { min: b.min, max: b.max },
    metadata: file.metadata ?? {},
    raw: events,
  };
}

/** The track with this thread name (first match), or throws listing what exists. */
export function track(trace: DtTrace, threadName: string, pid?: number): DtTrack {
  const t = trace.tracks.find((x) => x.threadName === threadName && (pid === undefined || x.pid === pid));
  if (!t) throw new Error(`no track "${threadName}"; tracks: ${trace.tracks.map((x) => `${x.pid}/${x.tid} ${x.threadName}`).join(', ')}`);
  return t;
}

/** Indented text of a track's tree (name per line), handy for asserting a call tree. */
export function treeText(t: DtTrack, filter: (e: DtEntry) => boolean = () => true): string {
  return t.entries
    .filter(filter)
    .map((e) => `${'  '.repeat(e.depth)}${e.name}`)
    .join('\n');
}
