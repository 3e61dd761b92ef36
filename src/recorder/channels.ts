/**
 * Everything the recorder learns from diagnostics channels and perf_hooks rather than from
 * instrumented code: user spans (`stackscope:span`), Node's own HTTP/fetch/net/child_process/
 * worker_threads channels, and GC pauses. Events are rare compared with calls, so they are kept
 * as objects (NodeEvent), bounded by the recorder's cap.
 *
 * Every subscriber is wrapped by `guard`: a failure in the profiler must never reach the program.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import v8 from 'node:v8';
import { PerformanceObserver, constants as perfConstants, type PerformanceEntry } from 'node:perf_hooks';
import type { Recorder } from './runtime.js';
import { SPAN_CHANNEL, isThenable, type SpanContext } from './span.js';
import { AsyncTracker } from './async.js';
import { inOwnWork } from '../util/own-work.js';

type Listener = (message: unknown, name: string | symbol) => void;

let reported = false;
function guard<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
  return (...args: A) => {
    try {
      fn(...args);
    } catch (err) {
      if (!reported) {
        reported = true;
        process.stderr.write(`stackscope: event recording failed (${err instanceof Error ? err.message : String(err)}); continuing\n`);
      }
    }
  };
}

export interface ChannelOptions {
  /** async causality through async_hooks (async.ts): flows from scheduling calls, request ids */
  async?: boolean;
}

/** Subscribes the recorder to every event source; returns a function that unsubscribes all. */
export function attachChannels(rec: Recorder, opts: ChannelOptions = {}): () => void {
  const undo: Array<() => void> = [];
  const sub = (name: string, fn: Listener) => {
    const g = guard((message: unknown, channel: string | symbol) => {
      if (!inOwnWork()) fn(message, channel);
    });
    // The module-level subscribe holds the channel strongly (channel objects are weak in Node 20).
    diagnostics_channel.subscribe(name, g);
    undo.push(() => diagnostics_channel.unsubscribe(name, g));
  };

  let nextRequest = 0;
  let beginRequest = () => ++nextRequest;
  let tracker: AsyncTracker | undefined;
  if (opts.async) {
    const t = (tracker = new AsyncTracker(rec));
    t.enable();
    undo.push(() => t.disable());
    beginRequest = () => t.beginRequest();
  }

  attachSpans(rec, undo, tracker);
  attachHttp(rec, sub, beginRequest);
  attachFetch(rec, sub);
  attachInstants(rec, sub);
  attachGc(rec, undo);

  return () => {
    for (const u of undo.splice(0)) {
      try {
        u();
      } catch {
        /* already detached */
      }
    }
  };
}

const START = Symbol('stackscope.start');
const INST = Symbol('stackscope.inst');
const DEPTH = Symbol('stackscope.depth');
const PARENT = Symbol('stackscope.parent');
const SAVED = Symbol('stackscope.saved');

/**
 * User spans. With async tracing, what a span's function schedules runs inside the span, so a span
 * begun in such a callback knows its parent: async spans are drawn nested under it (build.ts).
 */
function attachSpans(rec: Recorder, undo: Array<() => void>, tracker: AsyncTracker | undefined): void {
  const tc = diagnostics_channel.tracingChannel<unknown, SpanContext>(SPAN_CHANNEL);
  const finish = (ctx: SpanContext, async: boolean) => {
    const start = ctx[START];
    if (typeof start !== 'number') return;
    const parent = async ? Number(ctx[PARENT]) || 0 : undefined;
    rec.recordSpan(ctx.name, start, rec.nowUs(), Number(ctx[INST]) || 0, Number(ctx[DEPTH]) || 0, parent);
  };
  const handlers = {
    start: guard((ctx: SpanContext) => {
      const inst = (ctx[INST] = rec.nextInstance());
      // An async span ends wherever its promise settles: keep the depth it started at.
      ctx[DEPTH] = rec.currentDepth;
      if (tracker) {
        const { parent, token } = tracker.enterSpan(inst);
        ctx[PARENT] = parent;
        ctx[SAVED] = token;
      }
      ctx[START] = rec.nowUs();
    }),
    // A span whose function returned a promise ends at asyncEnd instead.
    end: guard((ctx: SpanContext) => {
      if (tracker && INST in ctx) tracker.leaveSpan(ctx[SAVED] as Parameters<AsyncTracker['leaveSpan']>[0]);
      if (!isThenable(ctx.result)) finish(ctx, false);
    }),
    asyncStart: () => {},
    asyncEnd: guard((ctx: SpanContext) => finish(ctx, true)),
    error: () => {},
  };
  tc.subscribe(handlers);
  undo.push(() => tc.unsubscribe(handlers));
}

type Sub = (name: string, fn: Listener) => void;

interface HttpReq {
  method?: string;
  path?: string;
  host?: string;
  url?: string;
}
interface HttpRes {
  statusCode?: number;
}

/**
 * HTTP requests as slices from request start to response finish, one category per side (what we
 * served, what we waited for), so the trace builder puts each on its own track by category alone.
 * Each request served gets an id (`args.request`), which async tracing also puts on the slices
 * that ran for it.
 */
function attachHttp(rec: Recorder, sub: Sub, beginRequest: () => number): void {
  const timed = (
    side: 'server' | 'client',
    describe: (req: HttpReq, res: HttpRes, id: number) => { name: string; args: Record<string, unknown> },
  ) => {
    // Keyed by the request object so concurrent requests never mix; WeakMap so aborted ones vanish.
    const starts = new WeakMap<object, { start: number; id: number }>();
    sub(`http.${side}.request.start`, (m) => {
      const start = rec.nowUs();
      starts.set((m as { request: object }).request, { start, id: side === 'server' ? beginRequest() : 0 });
    });
    sub(`http.${side}.response.finish`, (m) => {
      const { request, response } = m as { request: HttpReq & object; response: HttpRes };
      const s = starts.get(request);
      if (s === undefined) return;
      starts.delete(request);
      const { name, args } = describe(request, response, s.id);
      rec.addNodeEvent({ ph: 'X', name, cat: `http.${side}`, ts: s.start, dur: rec.nowUs() - s.start, args });
    });
  };
  timed('server', (req, res, id) => ({
    name: `HTTP ${req.method ?? ''} ${(req.url ?? '').split('?')[0]}`,
    args: { request: id, status: res.statusCode, url: req.url },
  }));
  timed('client', (req, res) => ({
    name: `HTTP ${req.method ?? ''} ${req.host ?? ''}${req.path ?? ''}`,
    args: { status: res.statusCode },
  }));
}

interface UndiciReq {
  method?: string;
  origin?: string;
  path?: string;
}

function attachFetch(rec: Recorder, sub: Sub): void {
  const starts = new WeakMap<object, { start: number; status?: number }>();
  const finish = (request: UndiciReq & object, error?: unknown) => {
    const s = starts.get(request);
    if (!s) return;
    starts.delete(request);
    const end = rec.nowUs();
    const args: Record<string, unknown> = { status: s.status };
    if (error !== undefined) args.error = error instanceof Error ? error.message : String(error);
    rec.addNodeEvent({
      ph: 'X',
      name: `fetch ${request.method ?? ''} ${request.origin ?? ''}${request.path ?? ''}`,
      cat: 'fetch',
      ts: s.start,
      dur: end - s.start,
      args,
    });
  };
  sub('undici:request:create', (m) => {
    const { request } = m as { request: object };
    starts.set(request, { start: rec.nowUs() });
  });
  sub('undici:request:headers', (m) => {
    const { request, response } = m as { request: object; response?: HttpRes };
    const s = starts.get(request);
    if (s) s.status = response?.statusCode;
  });
  sub('undici:request:trailers', (m) => finish((m as { request: object }).request));
  sub('undici:request:error', (m) => {
    const { request, error } = m as { request: object; error: unknown };
    finish(request, error);
  });
}

function attachInstants(rec: Recorder, sub: Sub): void {
  const instant = (name: string, cat: string, args?: Record<string, unknown>) =>
    rec.addNodeEvent({ ph: 'I', name, cat, ts: rec.nowUs(), args });
  sub('net.client.socket', () => instant('net connect', 'net'));
  sub('net.server.socket', (m) => {
    const { socket } = m as { socket?: { remoteAddress?: string; remotePort?: number } };
    instant('net accept', 'net', { remote: socket?.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : undefined });
  });
  sub('child_process', (m) => {
    const { process: child } = m as { process?: { pid?: number; spawnfile?: string } };
    instant(`spawn ${child?.spawnfile ?? ''}`.trim(), 'child_process', { pid: child?.pid });
  });
  sub('worker_threads', (m) => {
    const { worker } = m as { worker?: { threadId?: number } };
    instant(`worker ${worker?.threadId ?? ''} start`, 'worker', { threadId: worker?.threadId });
  });
}

const GC_KINDS: Record<number, string> = {
  [perfConstants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks',
};

/**
 * GC pauses as slices. Node hands GC entries to observers only from its event loop, so the pauses
 * of a synchronous stretch that ends the process (process.exit() from synchronous code, as tsc
 * does) never arrive, and nothing can tell when they happened. V8's GC profiler sees every pause
 * as it ends (kind and duration, no time): it is kept running to count the pauses Node has not
 * delivered, so at the dump they are reported as what they are, pauses without a time.
 */
let gcObserver: PerformanceObserver | undefined;
let gcRecorder: Recorder | undefined;
let gcProfiler: v8.GCProfiler | undefined;
/** pauses the GC profiler saw whose entries Node has not delivered yet (oldest first) */
let gcUndelivered: { kind: string; us: number }[] = [];

const PROFILER_KINDS: Record<string, string> = {
  Scavenge: 'minor',
  MinorMarkCompact: 'minor',
  MinorMarkSweep: 'minor',
  MarkSweepCompact: 'major',
  IncrementalMarking: 'incremental',
  ProcessWeakCallbacks: 'weak callbacks',
};

/** Moves what the GC profiler saw since the last call into gcUndelivered; the profiler restarts empty. */
function collectProfiled(): void {
  if (!gcProfiler) return;
  const out = gcProfiler.stop() as { statistics?: { gcType?: string; cost?: number }[] } | undefined;
  gcProfiler.start();
  for (const s of out?.statistics ?? []) gcUndelivered.push({ kind: PROFILER_KINDS[s.gcType ?? ''] ?? 'other', us: Number(s.cost) || 0 });
}

function addGcEntries(entries: PerformanceEntry[]): void {
  const rec = gcRecorder;
  if (!rec) return;
  for (const e of entries) {
    const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0;
    rec.addNodeEvent({ ph: 'X', name: `GC (${GC_KINDS[kind] ?? 'other'})`, cat: 'gc', ts: e.startTime * 1000, dur: e.duration * 1000 });
  }
  // Delivered entries are the oldest pauses the profiler saw (both in the order GCs happened).
  collectProfiled();
  gcUndelivered.splice(0, entries.length);
}

function attachGc(rec: Recorder, undo: Array<() => void>): void {
  gcRecorder = rec;
  const obs = new PerformanceObserver(guard((list) => addGcEntries(list.getEntries())));
  obs.observe({ entryTypes: ['gc'] });
  gcObserver = obs;
  try {
    gcProfiler = new v8.GCProfiler();
    gcProfiler.start();
  } catch {
    gcProfiler = undefined; // delivered pauses are still recorded
  }
  undo.push(() => {
    obs.disconnect();
    if (gcObserver === obs) gcObserver = undefined;
    try {
      gcProfiler?.stop();
    } catch {
      /* already stopped */
    }
    gcProfiler = undefined;
    gcUndelivered = [];
  });
}

/**
 * Moves GC entries still queued in the observer into the recorder (call before a snapshot). At the
 * thread's end (`atEnd`) it also reports the pauses Node never delivered: one instant at `now` on
 * the GC track with their number, kinds and total duration, since when each happened is unknown.
 * (Mid-run they are only late: Node delivers them at its next event-loop turn.)
 */
export function flushGc(atEnd = false): void {
  try {
    if (gcObserver) addGcEntries(gcObserver.takeRecords());
    const rec = gcRecorder;
    if (!atEnd || !rec || gcUndelivered.length === 0) return;
    const lost = gcUndelivered;
    gcUndelivered = [];
    const byKind: Record<string, number> = {};
    let us = 0;
    for (const g of lost) {
      byKind[g.kind] = (byKind[g.kind] ?? 0) + 1;
      us += g.us;
    }
    const ms = (us / 1000).toFixed(1);
    rec.addNodeEvent({
      ph: 'I',
      cat: 'gc',
      ts: rec.nowUs(),
      name: `${lost.length} GC pauses (${ms} ms) without a time: Node had not reported them when the program ended`,
      args: {
        pauses: lost.length,
        totalMs: Number(ms),
        byKind,
        note: "seen by V8's GC profiler, which gives each pause's kind and duration but not when it happened",
      },
    });
  } catch {
    /* best effort */
  }
}
