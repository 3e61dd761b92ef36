/**
 * The recorder's hot path: implements the runtime contract (runtime-api.ts) that every
 * instrumented function calls on entry and exit.
 *
 * Cost model (Node 20, measured; benchmarks/trace-overhead.ts): ~70 ns added per call, almost all
 * of it the two clock reads. Clocks compared per read: performance.now bound once 38 ns, called
 * as a method 43 ns (both run its brand check), process.hrtime() 42 ns, process.hrtime.bigint() 44 ns plus the
 * BigInt conversion; Date.now() has only ms resolution. A ticker thread writing the time into
 * shared memory reads in ~1 ns but stops ticking when cores are busy, so it was rejected. The
 * `hasSubscribers` check, the shadow stack, the shared ring (workers) and the wrap-around
 * compare (instead of a modulo) each cost under 1 ns. Times are stored as raw
 * `performance.now()` ms and converted to µs only when a snapshot is taken.
 *
 * Throttling (after the practice of TAU's throttle): once a minimum duration is in force (set, or
 * raised by a full ring), a function whose last `throttleAfter` calls were each shorter than it
 * and made no traced call is switched off: its calls read no clock and record nothing, as none of
 * them had been kept. That halves the cost of the hottest tiny functions (the clock reads are most
 * of it). Only leaves, and only functions none of whose calls ever made a traced call: a
 * recursive function's short innermost calls would otherwise switch off its long outer ones. What
 * it can hide is a later call of such a function that is longer than the minimum; the trace lists
 * every throttled function and when (trace/throttled.ts).
 *
 * Called, never inlined: V8's optimizing compiler may copy a hot callee of up to 460 bytes of
 * bytecode (--max-inlined-bytecode-size) into its caller. It did so with the hooks (and with the
 * clock and its brand check, which they inline), into every traced function it optimized, each
 * then several times bigger, slower to compile and with less of its own inlining budget left for
 * its own callees. Kept out of line (end to end, medians of 5-7 interleaved runs), traced tsc took
 * 10-13 % less time and prettier 11 % (en/ex; marked, shorter, within the noise), a program of
 * 300 async functions 7-10 % (fn/su/re/fx: benchmarks/async-functions.ts), while a call each
 * costs nothing measurable (fib: 90-98 ns per call either way; the await loop of
 * benchmarks/async-tracing.ts the same within the noise). So each hook holds a statement that
 * never runs (under `outline`, always false) and takes its bytecode over the limit (en 683, ex
 * 749, fn 674, su 492, re 627, fx 585 bytes; 250, 316, 241, 59, 194 and 152 without it); their
 * optimized code keeps only the never-taken branch. test/trace-inlining.test.ts checks that V8
 * inlines none into a traced function: run it after making a hook smaller (su has the least room).
 */
import { performance } from 'node:perf_hooks';
import diagnostics_channel from 'node:diagnostics_channel';
import { displayPath, type FunctionInfo } from '../model/frame.js';
import type { Frame, Runtime } from './runtime-api.js';
import { decodeTableEntry } from '../util/function-table.js';
import {
  RECORD_STRIDE,
  RecordKind,
  RecordField,
  recordCode,
  markedInst,
  codeKind,
  type NodeEvent,
  type ThreadRecording,
  type ThrottledFunction,
} from './recording.js';
import { DEFAULT_THROTTLE_AFTER } from './config.js';
import { CTL_COUNT, CTL_MIN_US, CTL_SEQ, CTL_SLOTS, initControl, readThinning, thinRing } from './thinning.js';

export interface RecorderOptions {
  /** ring capacity in records (default 500,000) */
  capacity?: number;
  /** calls (and segments) shorter than this many µs are not recorded */
  minDurationUs?: number;
  /**
   * what a full ring does: 'raise' (default) raises the minimum duration and removes the records
   * shorter than it (thinning.ts), so the trace covers the whole run; 'drop-oldest' overwrites
   * the oldest records
   */
  onFull?: 'raise' | 'drop-oldest';
  /** calls at this depth or deeper are not recorded (0 = top level); undefined = no limit */
  maxDepth?: number;
  /**
   * consecutive calls shorter than the minimum duration in force, with no traced call inside,
   * after which a function is throttled (its calls no longer timed); 0 = never. Default 10,000.
   */
  throttleAfter?: number;
  /** cap on Node events (diagnostics channels, GC) kept in memory */
  nodeEventCap?: number;
  /** base for display paths (default process.cwd()) */
  cwd?: string;
  pid?: number;
  tid?: number;
  threadName?: string;
  /** put the ring in shared memory so another thread can read it (worker threads: see workers.ts) */
  shared?: boolean;
}

/**
 * Told about table growth, so a thread reading a shared ring can name its records, and about Node
 * events (objects, not in the ring), so it can keep them for a thread that cannot dump itself.
 */
export interface TableListener {
  functionsAdded(base: number, fns: FunctionInfo[]): void;
  spanAdded(id: number, name: string): void;
  /** `ev` was kept, or (undefined) one more was dropped by the cap */
  nodeEvent?(ev: NodeEvent | undefined): void;
  /** a function was throttled, or (untilUs set) timed again (see Recorder.throttled) */
  throttled?(entry: ThrottledFunction): void;
  cleared?(): void;
}

/**
 * 500,000 calls: 20 MB of ring, and (a full ring being thinned, not overwritten) a trace of at most
 * that many calls, which the DevTools trace engine parses in ~5 s (1M: ~10 s).
 */
export const DEFAULT_CAPACITY = 500_000;
/** records a private ring starts with (2.6 MB), and the factor it grows by when they are used */
const INITIAL_RECORDS = 65_536;
const GROWTH = 4;

/**
 * Spans the recorder writes for its own work inside a traced call (see makeRoom): their time is
 * not the program's, so it must not become the enclosing call's self time.
 */
export const GROW_SPAN = "stackscope: enlarging the call buffer (not the program's time)";
export const THIN_SPAN = "stackscope: call buffer full, removing the shortest calls (not the program's time)";

export const DEFAULT_NODE_EVENT_CAP = 100_000;

/**
 * Name of the tracing channel on which traced calls are published, while anyone subscribes:
 * `diagnostics_channel.tracingChannel('stackscope:call').subscribe({ start, end, asyncStart, asyncEnd })`.
 */
export const CALL_CHANNEL = 'stackscope:call';

/**
 * The context of one call: the same object goes through its start, end, asyncStart and asyncEnd
 * events, as TracingChannel subscribers expect. Times are µs since performance.timeOrigin.
 */
export interface CallMessage {
  name: string;
  file: string;
  line: number;
  kind: 'sync' | 'async' | 'generator' | 'async generator';
  start: number;
  /** set at `end`: when the call returned to its caller (an async call: at its first await) */
  end?: number;
  /** async functions and generators, set at `asyncStart`/`asyncEnd`: when the body completed */
  settled?: number;
}

const KIND_NAMES: CallMessage['kind'][] = ['sync', 'async', 'generator', 'async generator'];

const STACK_MASK = (1 << 16) - 1;

// Bound once: saves looking up the method, ~5 ns per read on Node 20. The brand check inside it
// (validateInternalField) still runs on every read: no clock reachable from JavaScript skips it.
const now: () => number = performance.now.bind(performance);

/** One frame shape for every async/generator call keeps fn/su/re/fx monomorphic. */
class AsyncFrame implements Frame {
  constructor(
    public id: number,
    public kind: number,
    public inst: number,
    public callStart: number,
    public segStart: number,
    public depth: number,
    public suspended: boolean,
    public seg: number,
    /** the call's channel context, when its start was published */
    public msg: CallMessage | undefined,
  ) {}
}

export class Recorder implements Runtime {
  readonly functions: FunctionInfo[] = [];
  readonly spanNames: string[] = [];
  readonly nodeEvents: NodeEvent[] = [];
  droppedNodeEvents = 0;

  pid: number;
  tid: number;
  threadName: string;

  listener: TableListener | undefined;
  /** called first thing in snapshot() (async tracing writes the callback running now) */
  onSnapshot: (() => void) | undefined;

  private buf: Float64Array;
  /** [records ever written]; shared memory when the ring is, so readers see how far it got */
  private readonly ctl: Float64Array;
  /** size of the ring allocated so far, in numbers; grows up to `fullEnd`, then wraps */
  private end: number;
  /** ring size in numbers at full capacity (capacity * RECORD_STRIDE) */
  private readonly fullEnd: number;
  /** next write position, in numbers */
  private w = 0;
  private depth = 0;
  private inst = 0;
  /** min duration in ms (ring times are ms); raised when a full ring is thinned */
  private minMs: number;
  private readonly initialMinMs: number;
  /** a full ring is thinned (thinning.ts) rather than overwritten */
  private thinning: boolean;
  private readonly thinWhenFull: boolean;
  /** records removed from the ring by thinning since the last clear */
  private thinned = 0;
  private readonly maxDepth: number;
  private readonly nodeEventCap: number;
  private readonly cwd: string;
  private readonly spanIds = new Map<string, number>();
  private readonly pathCache = new Map<string, string>();
  /**
   * Always false: each hook holds a statement under it that keeps it out of line (see the
   * header). Not to be removed: it is what keeps V8 from inlining them.
   */
  private readonly outline = false;
  /** written only by that statement */
  private sink: number | undefined;
  private readonly calls = diagnostics_channel.tracingChannel<unknown, CallMessage>(CALL_CHANNEL);
  /** channel contexts of running sync calls, by depth; filled only while `start` has subscribers */
  private readonly openMsg: (CallMessage | undefined)[] = [];
  /** a subscriber is handling a message (see emit) */
  private publishing = false;
  /** shadow stack of running calls (code, start), indexed by depth: closes them at a snapshot */
  private readonly openCode = new Float64Array(STACK_MASK + 1).fill(NaN);
  private readonly openStart = new Float64Array(STACK_MASK + 1);
  /** instance of an open async segment (read only for AsyncSegment codes: sync entries leave it stale) */
  private readonly openInst = new Float64Array(STACK_MASK + 1);
  /** kid[d + 1] = 1 once the call running at depth d has made a traced call (kid[0]: unused) */
  private readonly kid = new Uint8Array(STACK_MASK + 2);
  /** untimed[d + 1] = 1 once the call running at depth d has run a throttled call */
  private readonly untimed = new Uint8Array(STACK_MASK + 2);
  /** the number of short leaf calls in a row that throttle a function (Infinity: never) */
  readonly throttleLimit: number;
  /** throttleLimit, or Infinity once the stack went too deep (tooDeep) */
  private throttleAfter: number;
  /** per function id: short leaf calls in a row (throttling); grown in reg() */
  private shortRun = new Uint32Array(1024);
  /** per function id: 1 once a call of it made a traced call (never throttled: see the header) */
  private branch = new Uint8Array(1024);
  /** per function id: 1 when throttled */
  private off = new Uint8Array(1024);
  /** functions throttled since the last clear, in order (ThreadRecording.throttled) */
  readonly throttled: ThrottledFunction[] = [];

  constructor(opts: RecorderOptions = {}) {
    const capacity = Math.max(1, Math.floor(opts.capacity ?? DEFAULT_CAPACITY));
    // A private ring starts small and grows as calls come: 40 MB allocated at once made V8 run a
    // major GC at the program's start (the heap is tiny then), and a program with few calls never
    // needs the whole ring. A shared ring is read by another thread through its buffer, so it is
    // allocated whole.
    const first = opts.shared ? capacity : Math.min(capacity, INITIAL_RECORDS);
    const bytes = first * RECORD_STRIDE * 8;
    this.buf = new Float64Array(opts.shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
    this.ctl = new Float64Array(opts.shared ? new SharedArrayBuffer(CTL_SLOTS * 8) : new ArrayBuffer(CTL_SLOTS * 8));
    this.end = this.buf.length;
    this.fullEnd = capacity * RECORD_STRIDE;
    this.minMs = this.initialMinMs = Math.max(0, opts.minDurationUs ?? 0) / 1000;
    this.thinning = this.thinWhenFull = opts.onFull !== 'drop-oldest';
    initControl(this.ctl, this.minMs * 1000);
    this.maxDepth = opts.maxDepth ?? Infinity;
    this.throttleAfter = this.throttleLimit = Math.max(0, Math.floor(opts.throttleAfter ?? DEFAULT_THROTTLE_AFTER)) || Infinity;
    this.nodeEventCap = opts.nodeEventCap ?? DEFAULT_NODE_EVENT_CAP;
    this.cwd = opts.cwd ?? process.cwd();
    this.pid = opts.pid ?? process.pid;
    this.tid = opts.tid ?? 0;
    this.threadName = opts.threadName ?? 'main';
  }

  // ---- the contract (hot) ----

  reg(file: string, fns: string[]): number {
    const base = this.functions.length;
    if (base + fns.length > this.off.length) this.growPerFunction(base + fns.length);
    const shown = this.display(file);
    for (const entry of fns) {
      const { name, line, col, file } = decodeTableEntry(entry);
      this.functions.push({ name, file: file ? this.display(file) : shown, line, col });
    }
    if (this.listener) {
      try {
        this.listener.functionsAdded(base, this.functions.slice(base));
      } catch {
        /* the ring stays readable locally */
      }
    }
    return base;
  }

  en(id?: number): number {
    if (this.outline) [this.sink, this.sink, this.sink, this.sink, this.sink, this.sink, this.sink, this.sink] = this.buf;
    const d = this.depth++ & STACK_MASK;
    if (d === STACK_MASK) this.tooDeep();
    this.kid[d] = 1; // the caller has made a traced call
    this.kid[d + 1] = 0; // this call has made none yet
    // Throttled: no clock, no record (ex() sees the -1), but a frame: what it calls stays beneath
    // it, and it marks its caller's slice. Subscribers still see every call.
    if (this.off[id as number] === 1 && !this.calls.start.hasSubscribers && !this.calls.end.hasSubscribers) {
      this.untimed[d] = 1;
      this.openCode[d] = NaN;
      return -1;
    }
    const t = now();
    this.untimed[d + 1] = 0;
    // NaN when the instrumenter passes no id: such frames cannot be named, so are not closed.
    this.openCode[d] = recordCode(id as number, RecordKind.Call);
    this.openStart[d] = t;
    if (this.calls.start.hasSubscribers) this.openMsg[d] = this.publishStart(id as number, 0, t);
    return t;
  }

  ex(id: number, t0: number): void {
    if (this.outline) [this.sink, this.sink, this.sink, this.sink, this.sink, this.sink, this.sink, this.sink] = this.buf;
    if (t0 < 0) return this.exThrottled(id);
    const t1 = now();
    const d = --this.depth;
    // Subscribers see every call: the filters shape the trace, not the channel.
    if (this.calls.end.hasSubscribers) this.publishEnd(d & STACK_MASK, id, t0, t1);
    if (t1 - t0 < this.minMs) {
      if (this.kid[(d & STACK_MASK) + 1] === 1) this.branch[id] = 1;
      else if (++this.shortRun[id]! >= this.throttleAfter && this.branch[id] === 0) this.throttle(id, t1);
      return;
    }
    this.shortRun[id] = 0;
    if (this.kid[(d & STACK_MASK) + 1] === 1) this.branch[id] = 1;
    if (d >= this.maxDepth) return;
    // Whether this call ran calls of throttled functions (their time is its self time): markedInst(0, u)
    // written out for the hot path, 0 - u (+0 or -1; 0 - 0 is +0, where -0 would not be).
    this.push(recordCode(id, RecordKind.Call), t0, t1, d, 0 - this.untimed[(d & STACK_MASK) + 1]!);
  }

  /** The end of a throttled call: one that made a traced call is no leaf after all (see unthrottle). */
  private exThrottled(id: number): void {
    const d = --this.depth;
    if (this.kid[(d & STACK_MASK) + 1] === 1) this.unthrottle(id);
  }

  fn(id: number, kind: number): Frame {
    if (this.outline) [this.sink, this.sink, this.sink, this.sink, this.sink, this.sink, this.sink, this.sink] = this.buf;
    const t = now();
    const d = this.depth++;
    this.kid[d & STACK_MASK] = 1;
    this.untimed[(d & STACK_MASK) + 1] = 0;
    this.openCode[d & STACK_MASK] = recordCode(id, kind === 2 ? RecordKind.Call : RecordKind.AsyncSegment);
    this.openStart[d & STACK_MASK] = t;
    this.openInst[d & STACK_MASK] = ++this.inst;
    const msg = this.calls.start.hasSubscribers ? this.publishStart(id, kind, t) : undefined;
    return new AsyncFrame(id, kind, this.inst, t, t, d, false, 0, msg);
  }

  su<T>(f: Frame, v: T): T {
    if (this.outline) [this.sink, this.sink, this.sink, this.sink, this.sink, this.sink, this.sink, this.sink] = this.buf;
    if (!f.suspended) {
      const t = now();
      f.suspended = true;
      this.depth = f.depth;
      this.segment(f, t);
      if ((f as AsyncFrame).msg) this.publishReturn(f as AsyncFrame, t);
    }
    return v;
  }

  re<T>(f: Frame, v?: T): T {
    if (this.outline) [this.sink, this.sink, this.sink, this.sink, this.sink, this.sink, this.sink, this.sink] = this.buf;
    if (f.suspended) {
      f.suspended = false;
      f.seg++;
      const d = (f.depth = this.depth++);
      this.kid[d & STACK_MASK] = 1;
      this.untimed[(d & STACK_MASK) + 1] = 0;
      const t = (f.segStart = now());
      this.openCode[d & STACK_MASK] = recordCode(f.id, f.kind === 2 ? RecordKind.Call : RecordKind.AsyncSegment);
      this.openStart[d & STACK_MASK] = t;
      this.openInst[d & STACK_MASK] = f.inst;
    }
    return v as T;
  }

  fx(f: Frame): void {
    if (this.outline) [this.sink, this.sink, this.sink, this.sink, this.sink, this.sink, this.sink, this.sink] = this.buf;
    const t = now();
    if (!f.suspended) {
      f.suspended = true;
      this.depth = f.depth;
      this.segment(f, t);
    }
    if ((f as AsyncFrame).msg) this.publishSettled(f as AsyncFrame, t);
    // Generators (kind 2) have no lifetime slice: their segments are ordinary calls.
    if (f.kind !== 2 && t - f.callStart >= this.minMs && f.depth < this.maxDepth) {
      this.push(recordCode(f.id, RecordKind.AsyncLifetime), f.callStart, t, f.depth, f.inst);
    }
  }

  // ---- helpers ----

  /**
   * A call of a throttled function made a traced call: it is no leaf, so it is timed again from
   * now on and never throttled again. That one call is not in the trace (its start was not read):
   * its traced calls show under its caller, and the trace says so (`untilUs`).
   */
  private unthrottle(id: number): void {
    this.off[id] = 0;
    this.branch[id] = 1;
    this.shortRun[id] = 0;
    const entry = this.throttled.find((e) => e.id === id);
    if (!entry) return;
    entry.untilUs = now() * 1000;
    this.tellThrottled(entry);
  }

  /**
   * 65,536 calls deep, the per-depth flags wrap around: whether a call made traced calls is no
   * longer known, so from here on no function is throttled, and those already throttled are
   * timed again.
   */
  private tooDeep(): void {
    if (this.throttleAfter === Infinity && !this.throttled.some((e) => e.untilUs === undefined)) return;
    this.throttleAfter = Infinity;
    // Those already throttled are timed again: a throttled call at a wrapped depth would mark
    // an unrelated shallow call's flags.
    const t = now() * 1000;
    this.off.fill(0);
    for (const e of this.throttled) {
      if (e.untilUs !== undefined) continue;
      e.untilUs = t;
      this.tellThrottled(e);
    }
  }

  private tellThrottled(entry: ThrottledFunction): void {
    if (this.listener?.throttled) {
      try {
        this.listener.throttled({ ...entry });
      } catch {
        /* see reg */
      }
    }
  }

  /** Switches function `id` off (see the header): cold, once per function. */
  private throttle(id: number, t: number): void {
    if (this.off[id] === 1 || !(id >= 0 && id < this.functions.length)) return;
    // While something subscribes, every call is timed (see en): none would be throttled in fact.
    if (this.calls.start.hasSubscribers || this.calls.end.hasSubscribers) return;
    // A call of it is running further up: its short calls are the innermost of a recursion whose
    // outer call has not ended yet (so has not marked it a branch).
    const code = recordCode(id, RecordKind.Call);
    for (let d = Math.min(this.depth, STACK_MASK + 1) - 1; d >= 0; d--) {
      if (this.openCode[d] === code) {
        this.branch[id] = 1;
        return;
      }
    }
    this.off[id] = 1;
    const entry: ThrottledFunction = { id, atUs: t * 1000, minUs: this.minMs * 1000 };
    this.throttled.push(entry);
    this.tellThrottled(entry);
  }

  private growPerFunction(atLeast: number): void {
    let n = this.off.length;
    while (n < atLeast) n *= 2;
    const grown = <A extends Uint8Array | Uint32Array>(a: A, to: A): A => (to.set(a), to);
    this.off = grown(this.off, new Uint8Array(n));
    this.branch = grown(this.branch, new Uint8Array(n));
    this.shortRun = grown(this.shortRun, new Uint32Array(n));
  }

  private segment(f: Frame, t: number): void {
    if (t - f.segStart < this.minMs || f.depth >= this.maxDepth) return;
    const kind = f.kind === 2 ? RecordKind.Call : RecordKind.AsyncSegment;
    this.push(recordCode(f.id, kind), f.segStart, t, f.depth, markedInst(f.inst, this.untimed[(f.depth & STACK_MASK) + 1]!));
  }

  /** Appends one record; on overflow overwrites the oldest (no modulo: one compare per record). */
  private push(code: number, start: number, end: number, depth: number, inst: number): void {
    const b = this.buf;
    let w = this.w;
    b[w + RecordField.Code] = code;
    b[w + RecordField.Start] = start;
    b[w + RecordField.End] = end;
    b[w + RecordField.Depth] = depth;
    b[w + RecordField.Inst] = inst;
    w += RECORD_STRIDE;
    if (w === this.end) return this.makeRoom();
    this.w = w;
    this.ctl[0]!++;
  }

  /**
   * The ring is at its end (push has written its last record): grow or thin it, then say how long
   * that took. It runs inside whatever traced call is open, and pruning 500,000 records takes tens
   * of ms: without a slice of its own, that time would show as the running call's self time.
   */
  private makeRoom(): void {
    const t0 = now();
    const enlarged = this.end < this.fullEnd;
    const thinned = this.thinned;
    this.w = this.grow(t0);
    this.ctl[0]!++;
    const name = enlarged ? GROW_SPAN : this.thinned !== thinned ? THIN_SPAN : undefined;
    // Inside a traced call only (depth 0: no slice to take it from); the ring has room again now.
    if (name !== undefined && this.depth > 0) this.push(recordCode(this.spanId(name), RecordKind.Span), t0, now(), this.depth, 0);
  }

  /**
   * At the end of the allocated ring: a bigger one with the same records; at full size, thinned
   * (a higher minimum duration, see thinning.ts) or, when that cannot free half of it, wrapped.
   * Returns where the next record goes.
   */
  private grow(nowMs: number): number {
    if (this.end >= this.fullEnd) {
      if (this.thinning) {
        // The record just written is in the ring but not yet counted (push counts it after this).
        const kept = thinRing(this.buf, this.end / RECORD_STRIDE, this.ctl, nowMs);
        if (kept >= 0) {
          this.thinned += this.end / RECORD_STRIDE - kept;
          this.minMs = this.ctl[CTL_MIN_US]! / 1000;
          this.ctl[CTL_COUNT] = kept - 1;
          return kept * RECORD_STRIDE;
        }
        // Nothing left to thin (all long calls, or spans): from now on the oldest are overwritten.
        this.thinning = false;
      }
      return 0;
    }
    const bigger = new Float64Array(Math.min(this.end * GROWTH, this.fullEnd));
    bigger.set(this.buf);
    this.buf = bigger;
    const at = this.end;
    this.end = bigger.length;
    return at;
  }

  // ---- tracing channel (cold: only while someone subscribes) ----
  // Publishing never fails the traced call; a throwing subscriber is reported by Node itself as
  // an uncaught exception, as for any diagnostics channel.

  private message(id: number, kind: number, start: number): CallMessage {
    const fi = this.functions[id];
    return { name: fi?.name ?? '', file: fi?.file ?? '', line: fi?.line ?? 0, kind: KIND_NAMES[kind] ?? 'sync', start: start * 1000 };
  }

  /**
   * Publishes `m` on `ch`. A subscriber's own functions can be traced (it lives in the program):
   * the calls it makes while it handles a message are recorded but not published, or each would
   * publish the next, without end.
   */
  private emit(ch: diagnostics_channel.Channel, m: CallMessage): void {
    const was = this.publishing;
    this.publishing = true;
    try {
      ch.publish(m);
    } finally {
      this.publishing = was;
    }
  }

  private publishStart(id: number, kind: number, t: number): CallMessage | undefined {
    if (this.publishing) return undefined;
    const m = this.message(id, kind, t);
    this.emit(this.calls.start, m);
    return m;
  }

  private publishEnd(slot: number, id: number, t0: number, t1: number): void {
    let m = this.openMsg[slot];
    this.openMsg[slot] = undefined;
    if (this.publishing) return;
    // No context of this call (subscribed while it ran): end events still carry the whole call.
    if (!m || m.start !== t0 * 1000) m = this.message(id, 0, t0);
    m.end = t1 * 1000;
    this.emit(this.calls.end, m);
  }

  /** The first suspension (or the completion) of an async call or generator returns to its caller. */
  private publishReturn(f: AsyncFrame, t: number): void {
    const m = f.msg!;
    if (m.end !== undefined) return;
    m.end = t * 1000;
    this.emit(this.calls.end, m);
  }

  private publishSettled(f: AsyncFrame, t: number): void {
    this.publishReturn(f, t);
    const m = f.msg!;
    m.settled = t * 1000;
    this.emit(this.calls.asyncStart, m);
    this.emit(this.calls.asyncEnd, m);
    f.msg = undefined;
  }

  private display(file: string): string {
    let shown = this.pathCache.get(file);
    if (shown === undefined) {
      shown = displayPath(file, this.cwd);
      this.pathCache.set(file, shown);
    }
    return shown;
  }

  // ---- cold API used by channels, preload and the in-process API ----

  /** Current time on the recording clock, µs since performance.timeOrigin. */
  nowUs(): number {
    return now() * 1000;
  }

  /** How deep the traced calls running now are nested (0 outside every traced call). */
  get callDepth(): number {
    return this.depth;
  }

  /** Id of a span name in spanNames (interned). */
  spanId(name: string): number {
    let id = this.spanIds.get(name);
    if (id === undefined) {
      id = this.spanNames.length;
      this.spanNames.push(name);
      this.spanIds.set(name, id);
      if (this.listener) {
        try {
          this.listener.spanAdded(id, name);
        } catch {
          /* see reg */
        }
      }
    }
    return id;
  }

  /**
   * Records a user span; times in µs on the recording clock, depth as at its start. An async span
   * (`parent` given: the instance of the span it began in, or 0) is marked by a SpanParent record.
   */
  recordSpan(name: string, startUs: number, endUs: number, inst: number, depth: number = this.depth, parent?: number): void {
    const code = recordCode(this.spanId(name), RecordKind.Span);
    if (parent !== undefined) this.push(recordCode(0, RecordKind.SpanParent), startUs / 1000, endUs / 1000, parent, inst);
    this.push(code, startUs / 1000, endUs / 1000, depth, inst);
  }

  /** Call depth right now (0 = no traced call running). */
  get currentDepth(): number {
    return this.depth;
  }

  /** A fresh instance number (shared with async calls, so flows never collide). */
  nextInstance(): number {
    return ++this.inst;
  }

  // ---- cold API for async tracing (async.ts) ----

  /** Depth of the innermost running call that gets a record (maxDepth applies), or -1 when none runs. */
  innermostRecordedDepth(): number {
    return Math.min(this.depth, this.maxDepth) - 1;
  }

  /** Start of the running call at `depth`, on the ring's clock (ms). */
  runningStart(depth: number): number {
    return this.openStart[depth & STACK_MASK]!;
  }

  /** The ring's clock (performance.now(), ms): what recordAsync takes. */
  nowMs(): number {
    return now();
  }

  /** Appends an async bookkeeping record (RecordKind.Callback/Cause); times on the ring's clock (ms). */
  recordAsync(code: number, start: number, end: number, depth: number, inst: number): void {
    this.push(code, start, end, depth, inst);
  }

  /** Adds a Node event, bounded by the cap (overflow is counted, not kept). */
  addNodeEvent(ev: NodeEvent): void {
    const kept = this.nodeEvents.length < this.nodeEventCap;
    if (kept) this.nodeEvents.push(ev);
    else this.droppedNodeEvents++;
    if (this.listener?.nodeEvent) {
      try {
        this.listener.nodeEvent(kept ? ev : undefined);
      } catch {
        /* kept locally all the same */
      }
    }
  }

  get count(): number {
    return Math.min(this.ctl[0]!, this.end / RECORD_STRIDE);
  }

  /** records ever written since the last clear (kept + dropped + removed by thinning) */
  get recorded(): number {
    return this.ctl[0]! + this.thinned;
  }

  get dropped(): number {
    return this.ctl[0]! - this.count;
  }

  /** The shared ring and counter (only when created with `shared: true`). */
  get sharedRing(): { buf: SharedArrayBuffer; ctl: SharedArrayBuffer } | undefined {
    const b = this.buf.buffer,
      c = this.ctl.buffer;
    return b instanceof SharedArrayBuffer && c instanceof SharedArrayBuffer ? { buf: b, ctl: c } : undefined;
  }

  get capacity(): number {
    return this.fullEnd / RECORD_STRIDE;
  }

  /**
   * Copy of everything recorded so far, oldest first, times in µs. Calls still running (the
   * stack of this snapshot's caller, or of process.exit()) are appended as ending now, so an
   * exit from deep inside a call still shows the calls around it.
   */
  snapshot(): ThreadRecording {
    this.onSnapshot?.();
    const ring = copyRing(this.buf, this.ctl[0]!);
    const open = this.openFrames();
    let { records, count } = ring;
    if (open.length) {
      const merged = new Float64Array(records.length + open.length);
      merged.set(records, 0);
      merged.set(open, records.length);
      records = merged;
      count += open.length / RECORD_STRIDE;
    }
    const dropped = ring.dropped;
    return {
      pid: this.pid,
      tid: this.tid,
      threadName: this.threadName,
      timeOrigin: performance.timeOrigin,
      functions: this.functions.slice(),
      spanNames: this.spanNames.slice(),
      records,
      count,
      dropped,
      nodeEvents: this.nodeEvents.slice(),
      droppedNodeEvents: this.droppedNodeEvents,
      ...thinningOf(this.ctl),
      ...(this.throttled.length > 0 ? { throttled: this.throttled.map((t) => ({ ...t })), throttleAfter: this.throttleLimit } : {}),
    };
  }

  /** Running calls as records ending now (µs), innermost first like exits would be; filters applied. */
  private openFrames(): Float64Array {
    const depth = Math.min(this.depth, STACK_MASK + 1);
    const t = now();
    const out: number[] = [];
    for (let d = depth - 1; d >= 0; d--) {
      const code = this.openCode[d]!;
      const start = this.openStart[d]!;
      if (Number.isNaN(code) || d >= this.maxDepth || t - start < this.minMs) continue;
      // Whether it ran throttled calls, as in ex() and segment().
      const inst = markedInst(codeKind(code) === RecordKind.AsyncSegment ? this.openInst[d]! : 0, this.untimed[d + 1]!);
      out.push(code, start * 1000, t * 1000, d, inst);
    }
    return Float64Array.from(out);
  }

  /** Forgets all records and Node events (function and span tables stay: ids remain valid). */
  clear(): void {
    this.w = 0;
    this.minMs = this.initialMinMs;
    this.thinning = this.thinWhenFull;
    this.thinned = 0;
    initControl(this.ctl, this.minMs * 1000);
    this.off.fill(0);
    this.shortRun.fill(0);
    this.branch.fill(0);
    this.throttleAfter = this.throttleLimit;
    this.throttled.length = 0;
    this.nodeEvents.length = 0;
    this.droppedNodeEvents = 0;
    if (this.listener?.cleared) {
      try {
        this.listener.cleared();
      } catch {
        /* see addNodeEvent */
      }
    }
  }
}

/**
 * Oldest-first copy of a ring that has had `total` records written, times converted ms → µs.
 * Works on another thread's shared ring too: the position follows from `total` alone (see
 * copyLiveRing for a ring whose thread may still be writing).
 */
export function copyRing(buf: Float64Array, total: number): { records: Float64Array; count: number; dropped: number } {
  const ring = rawCopy(buf, total);
  toMicroseconds(ring.records);
  return ring;
}

/** Oldest-first copy, times left in ms: as quick as a copy can be (see copyLiveRing). */
function rawCopy(buf: Float64Array, total: number): { records: Float64Array; count: number; dropped: number } {
  const cap = buf.length / RECORD_STRIDE;
  const count = Math.min(total, cap);
  const n = count * RECORD_STRIDE;
  const out = new Float64Array(n);
  if (total > cap) {
    const w = (total % cap) * RECORD_STRIDE;
    out.set(buf.subarray(w), 0);
    out.set(buf.subarray(0, w), buf.length - w);
  } else {
    out.set(buf.subarray(0, n), 0);
  }
  return { records: out, count, dropped: total - count };
}

function toMicroseconds(records: Float64Array): void {
  for (let i = 0; i < records.length; i += RECORD_STRIDE) {
    records[i + RecordField.Start]! *= 1000;
    records[i + RecordField.End]! *= 1000;
  }
}

/**
 * A copy of another thread's shared ring while that thread may still be writing to it (a worker
 * still running when the main thread dumps it at exit). The writer's count is read before and after
 * the copy: the slots it wrote meanwhile (and the one it may be half-way through) hold records of
 * mixed generations, so they are left out, as dropped, and what remains is a consistent snapshot as
 * of the first read, whose oldest record really is the oldest kept. A writer fast enough to lap most
 * of a small ring during one copy (or a reader descheduled in the middle of one, on a loaded machine)
 * gets more tries.
 */
export function copyLiveRing(buf: Float64Array, ctl: Float64Array): { records: Float64Array; count: number; dropped: number } {
  const cap = buf.length / RECORD_STRIDE;
  let best: { records: Float64Array; count: number; dropped: number } | undefined;
  for (let attempt = 0; attempt < 50; attempt++) {
    const seq = ctl[CTL_SEQ]!;
    const before = ctl[0]!;
    const copy = rawCopy(buf, before);
    const after = ctl[0]!;
    // Compacted meanwhile (thinning.ts): the records moved, so this copy is worth nothing.
    if (seq % 2 === 1 || ctl[CTL_SEQ] !== seq) continue;
    // In oldest-first order, the writer moved over the oldest records (when the ring had wrapped) or,
    // once it wraps during the copy, over the first ones: that many, plus the one in progress.
    const touched = after === before ? 0 : before >= cap ? after - before + 1 : Math.max(0, after + 1 - cap);
    const drop = Math.min(copy.count, touched);
    const kept = { records: copy.records.slice(drop * RECORD_STRIDE), count: copy.count - drop, dropped: copy.dropped + drop };
    if (!best || kept.count > best.count) best = kept;
    if (drop * 10 <= copy.count) break;
  }
  // Compacted during every try (a tiny ring thinned over and over): nothing consistent to show.
  best ??= { records: new Float64Array(0), count: 0, dropped: ctl[0]! };
  toMicroseconds(best.records);
  return best;
}

/** The minimum duration of a ring (when not 0) and its raises, as ThreadRecording has them. */
export function thinningOf(ctl: Float64Array): Pick<ThreadRecording, 'minDurationUs' | 'minDurationRaises'> {
  const { minDurationUs, raises } = readThinning(ctl);
  return {
    ...(minDurationUs > 0 ? { minDurationUs } : {}),
    ...(raises.length > 0 ? { minDurationRaises: raises.map((r) => ({ atUs: r.atUs, minUs: r.minUs })) } : {}),
  };
}
