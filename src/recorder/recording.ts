/**
 * What the recorder hands to the trace builder: the raw recording of one thread.
 * This is the boundary between "record" (hot, in the observed process) and "write" (cold,
 * possibly in another process: the `stackscope trace` CLI converts dumps after the program exits).
 */
import type { FunctionInfo } from '../model/frame.js';

/**
 * The ring's record layout, named in one place. A record is RECORD_STRIDE numbers
 * `[code, start, end, depth, inst]` (RecordField), and its code packs what was recorded:
 * `code = id * 8 + kind` (recordCode), so one number says which function (or span) and how.
 * The helpers are tiny so that the JIT inlines them into the recorder's hot path.
 */

/** Record kinds, stored in the low 3 bits of a record's code. */
export const enum RecordKind {
  /** a synchronous call (or one running segment of a generator): id = function id */
  Call = 0,
  /** one running segment of an async function: the first (sync) one or a continuation after an await */
  AsyncSegment = 1,
  /** the whole lifetime of an async call, from call to settle (body completion) */
  AsyncLifetime = 2,
  /** a user span (stackscope span API): id = index in spanNames */
  Span = 3,
  /**
   * Async tracing (async.ts): one callback run of an async resource (timer, promise reaction, I/O
   * callback...) that ran traced code on behalf of a request or of a traced call. start/end: the
   * callback's `before` and `after`; Depth holds the request id (0: none); Inst is 1 when the
   * record just before it is the Cause of this callback, else 0. id: unused (0).
   */
  Callback = 4,
  /**
   * Async tracing: what created the resource of the Callback record that follows it. start: the
   * start of the traced call that was running when the resource was created (the start of its
   * slice), end: the callback's end (so records stay in end order), depth: that call's depth;
   * id = resource type (index in spanNames, e.g. "Timeout", "PROMISE").
   */
  Cause = 5,
  /**
   * Marks the Span record that follows it as an async span (its function returned a promise): it
   * lasts across callbacks, so it is drawn on the async lanes, nested under its parent span.
   * Depth holds the parent span's instance (0: none; known with async tracing), Inst the span's own.
   */
  SpanParent = 6,
}

/** Offsets of a record's numbers: start and end are times, depth the call depth at the start. */
export const enum RecordField {
  Code = 0,
  Start = 1,
  End = 2,
  Depth = 3,
  /**
   * instance number of an async call (shared by its segments and lifetime), or 0; for a call or a
   * segment, stored as -inst - 1 when it ran calls of throttled functions (markedInst, recordInst)
   */
  Inst = 4,
}

/** Numbers per record in `records`. */
export const RECORD_STRIDE = 5;

// The 8 below is the number of kind values (3 bits), written as a literal so the hot path
// multiplies by a constant. Division by 8 and Math.floor are exact on these integers (no fmod,
// as `%` would be).

/** The code of a record of `kind` for function (or span) `id`. */
export function recordCode(id: number, kind: RecordKind): number {
  return id * 8 + kind;
}

/** The function (or span) id of a record code. */
export function codeId(code: number): number {
  return Math.floor(code / 8);
}

/** The kind of a record code. */
export function codeKind(code: number): RecordKind {
  return code - Math.floor(code / 8) * 8;
}

/**
 * The Inst of a call's or a segment's record: its instance number (0 for a plain call), or, when it
 * ran calls of throttled functions (1), -inst - 1: their time is its self time, and the trace says
 * so on its slice. A plain call's is then -1.
 */
export function markedInst(inst: number, ranThrottled: number): number {
  return ranThrottled === 1 ? -inst - 1 : inst;
}

/** The instance number of a record's Inst (see markedInst). */
export function recordInst(inst: number): number {
  return inst < 0 ? -inst - 1 : inst;
}

/** Whether a call or segment ran calls of throttled functions, from its record's Inst (see markedInst). */
export function ranThrottled(inst: number): boolean {
  return inst < 0;
}

/** True for the kinds drawn as slices (calls, segments, lifetimes, spans); false for async bookkeeping. */
export function isSliceKind(kind: RecordKind): boolean {
  return kind <= RecordKind.Span;
}

/** A slice or instant from Node itself (diagnostics channels, GC), rare enough to keep as objects. */
export interface NodeEvent {
  /** 'X' slice or 'I' instant */
  ph: 'X' | 'I';
  name: string;
  /** category: 'http.server', 'http.client', 'net', 'gc', 'child_process', 'worker', 'fetch', 'span', ... */
  cat: string;
  /** µs on this thread's clock (same clock as records) */
  ts: number;
  dur?: number;
  args?: Record<string, unknown>;
}

export interface ThreadRecording {
  pid: number;
  /** 0 for the main thread, worker threadId otherwise */
  tid: number;
  threadName: string;
  /** performance.timeOrigin of the thread, ms since the epoch; aligns threads' clocks */
  timeOrigin: number;
  /** index = function id */
  functions: FunctionInfo[];
  /** index = span id (RecordKind.Span), or async resource type (RecordKind.Cause) */
  spanNames: string[];
  /** RECORD_STRIDE numbers per record, oldest first; times are µs since timeOrigin */
  records: Float64Array;
  /** number of records in `records` */
  count: number;
  /** records lost to ring-buffer overflow (the oldest ones) */
  dropped: number;
  nodeEvents: NodeEvent[];
  /** nodeEvents lost to their own cap */
  droppedNodeEvents: number;
  /** calls (and async segments and lifetimes) shorter than this many µs were not recorded */
  minDurationUs?: number;
  /**
   * when a full ring raised minDurationUs (µs on this thread's clock) and to what; each raise also
   * removed the records already kept that were shorter, so the last minimum holds for the whole run
   */
  minDurationRaises?: Array<{ atUs: number; minUs: number }>;
  /** functions throttled (recorder/runtime.ts), in the order they were */
  throttled?: ThrottledFunction[];
  /** the number of such calls in a row that throttled a function */
  throttleAfter?: number;
}

/**
 * A throttled function: from `atUs` on (µs, the thread's clock) its calls were not timed, after
 * throttleAfter calls in a row each shorter than `minUs` (the minimum then in force) and with no
 * traced call inside. `untilUs`: timed again from then on, because a call of it made a traced call
 * (that call is not in the trace) or the stack grew deeper than 65,535 calls.
 */
export interface ThrottledFunction {
  /** index in the thread's `functions` */
  id: number;
  atUs: number;
  minUs: number;
  untilUs?: number;
}

/** All threads of one process (or of one bench strategy), as one process row in DevTools. */
export interface ProcessRecording {
  pid: number;
  /** process row label, e.g. "node app.js" or a bench strategy name */
  name: string;
  threads: ThreadRecording[];
  /**
   * µs added to every timestamp of this process when writing (0 = keep the threads' own clocks).
   * Lets bench align strategies that ran one after another so they start at the same time.
   */
  shiftUs?: number;
}
