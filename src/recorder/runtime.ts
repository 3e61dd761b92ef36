/**
 * The recorder's hot path: implements the runtime contract (runtime-api.ts) that every
 * instrumented function calls on entry and exit.
 *
 * Cost model (Node 20, see benchmarks/trace-overhead.ts): the two clock reads dominate (~40 ns
 * each); everything else is kept to a handful of field loads and typed-array stores. Times are
 * stored in the ring as raw `performance.now()` milliseconds and converted to µs only when a
 * snapshot is taken, so the hot path does no arithmetic on them.
 */
import { performance } from 'node:perf_hooks';
import diagnostics_channel from 'node:diagnostics_channel';
import { displayPath, type FunctionInfo } from '../model/frame.js';
import type { Frame, Runtime } from './runtime-api.js';
import { RECORD_STRIDE, RecordKind, type NodeEvent, type ThreadRecording } from './recording.js';

export interface RecorderOptions {
  /** ring capacity in records (default 1,000,000) */
  capacity?: number;
  /** calls (and segments) shorter than this many µs are not recorded */
  minDurationUs?: number;
  /** calls at this depth or deeper are not recorded (0 = top level); undefined = no limit */
  maxDepth?: number;
  /** cap on Node events (diagnostics channels, GC) kept in memory */
  nodeEventCap?: number;
  /** base for display paths (default process.cwd()) */
  cwd?: string;
  pid?: number;
  tid?: number;
  threadName?: string;
}

export const DEFAULT_CAPACITY = 1_000_000;
export const DEFAULT_NODE_EVENT_CAP = 100_000;

/** Name of the diagnostics channel on which completed calls are published (when subscribed). */
export const CALL_CHANNEL = 'stackscope:call';

/** Message published on `stackscope:call`; times are µs since performance.timeOrigin. */
export interface CallMessage {
  name: string;
  file: string;
  line: number;
  start: number;
  end: number;
}

// Bound once: skips performance.now()'s brand check, ~5 ns per read on Node 20.
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

  private buf: Float64Array;
  /** ring size in numbers (capacity * RECORD_STRIDE) */
  private readonly end: number;
  /** next write position, in numbers */
  private w = 0;
  /** true once the ring has wrapped: every slot holds a record */
  private wrapped = false;
  /** records ever written (drops = total - capacity once wrapped) */
  private total = 0;
  private depth = 0;
  private inst = 0;
  /** min duration in ms (ring times are ms) */
  private readonly minMs: number;
  private readonly maxDepth: number;
  private readonly nodeEventCap: number;
  private readonly cwd: string;
  private readonly spanIds = new Map<string, number>();
  private readonly pathCache = new Map<string, string>();
  private readonly callChannel = diagnostics_channel.channel(CALL_CHANNEL);

  constructor(opts: RecorderOptions = {}) {
    const capacity = Math.max(1, Math.floor(opts.capacity ?? DEFAULT_CAPACITY));
    this.buf = new Float64Array(capacity * RECORD_STRIDE);
    this.end = this.buf.length;
    this.minMs = Math.max(0, opts.minDurationUs ?? 0) / 1000;
    this.maxDepth = opts.maxDepth ?? Infinity;
    this.nodeEventCap = opts.nodeEventCap ?? DEFAULT_NODE_EVENT_CAP;
    this.cwd = opts.cwd ?? process.cwd();
    this.pid = opts.pid ?? process.pid;
    this.tid = opts.tid ?? 0;
    this.threadName = opts.threadName ?? 'main';
  }

  // ---- the contract (hot) ----

  reg(file: string, fns: string[]): number {
    const base = this.functions.length;
    const shown = this.display(file);
    for (const entry of fns) {
      const [name = '', line = '0', col = '0', other] = entry.split('\t');
      this.functions.push({ name, file: other ? this.display(other) : shown, line: Number(line) || 0, col: Number(col) || 0 });
    }
    return base;
  }

  en(): number {
    this.depth++;
    return now();
  }

  ex(id: number, t0: number): void {
    const t1 = now();
    const d = --this.depth;
    if (t1 - t0 < this.minMs || d >= this.maxDepth) return;
    this.push(id * 4, t0, t1, d, 0);
    if (this.callChannel.hasSubscribers) this.publish(id, t0, t1);
  }

  fn(id: number, kind: number): Frame {
    const t = now();
    return new AsyncFrame(id, kind, ++this.inst, t, t, this.depth++, false, 0);
  }

  su<T>(f: Frame, v: T): T {
    if (!f.suspended) {
      f.suspended = true;
      this.depth = f.depth;
      this.segment(f, now());
    }
    return v;
  }

  re<T>(f: Frame, v?: T): T {
    if (f.suspended) {
      f.suspended = false;
      f.seg++;
      f.depth = this.depth++;
      f.segStart = now();
    }
    return v as T;
  }

  fx(f: Frame): void {
    const t = now();
    if (!f.suspended) {
      f.suspended = true;
      this.depth = f.depth;
      this.segment(f, t);
    }
    // Generators (kind 2) have no lifetime slice: their segments are ordinary calls.
    if (f.kind !== 2 && t - f.callStart >= this.minMs && f.depth < this.maxDepth) {
      this.push(f.id * 4 + RecordKind.AsyncLifetime, f.callStart, t, f.depth, f.inst);
    }
  }

  // ---- helpers ----

  private segment(f: Frame, t: number): void {
    if (t - f.segStart < this.minMs || f.depth >= this.maxDepth) return;
    const kind = f.kind === 2 ? RecordKind.Call : RecordKind.AsyncSegment;
    this.push(f.id * 4 + kind, f.segStart, t, f.depth, f.inst);
    if (this.callChannel.hasSubscribers) this.publish(f.id, f.segStart, t);
  }

  /** Appends one record; on overflow overwrites the oldest (no modulo: one compare per record). */
  private push(code: number, start: number, end: number, depth: number, inst: number): void {
    const b = this.buf;
    let w = this.w;
    b[w] = code;
    b[w + 1] = start;
    b[w + 2] = end;
    b[w + 3] = depth;
    b[w + 4] = inst;
    w += RECORD_STRIDE;
    if (w === this.end) { w = 0; this.wrapped = true; }
    this.w = w;
    this.total++;
  }

  private publish(id: number, start: number, end: number): void {
    try {
      const fi = this.functions[id];
      const msg: CallMessage = { name: fi?.name ?? '', file: fi?.file ?? '', line: fi?.line ?? 0, start: start * 1000, end: end * 1000 };
      this.callChannel.publish(msg);
    } catch { /* a subscriber's failure must not reach the traced program */ }
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

  /** Id of a span name in spanNames (interned). */
  spanId(name: string): number {
    let id = this.spanIds.get(name);
    if (id === undefined) {
      id = this.spanNames.length;
      this.spanNames.push(name);
      this.spanIds.set(name, id);
    }
    return id;
  }

  /** Records a user span; times in µs on the recording clock. */
  recordSpan(name: string, startUs: number, endUs: number, inst: number): void {
    this.push(this.spanId(name) * 4 + RecordKind.Span, startUs / 1000, endUs / 1000, this.depth, inst);
  }

  /** A fresh instance number (shared with async calls, so flows never collide). */
  nextInstance(): number {
    return ++this.inst;
  }

  /** Adds a Node event, bounded by the cap (overflow is counted, not kept). */
  addNodeEvent(ev: NodeEvent): void {
    if (this.nodeEvents.length >= this.nodeEventCap) { this.droppedNodeEvents++; return; }
    this.nodeEvents.push(ev);
  }

  get count(): number {
    return this.wrapped ? this.end / RECORD_STRIDE : this.w / RECORD_STRIDE;
  }

  get dropped(): number {
    return this.total - this.count;
  }

  get capacity(): number {
    return this.end / RECORD_STRIDE;
  }

  /** Copy of everything recorded so far, oldest first, times in µs. */
  snapshot(): ThreadRecording {
    const n = this.count * RECORD_STRIDE;
    const out = new Float64Array(n);
    if (this.wrapped) {
      out.set(this.buf.subarray(this.w), 0);
      out.set(this.buf.subarray(0, this.w), this.end - this.w);
    } else {
      out.set(this.buf.subarray(0, n), 0);
    }
    for (let i = 0; i < n; i += RECORD_STRIDE) {
      out[i + 1] *= 1000;
      out[i + 2] *= 1000;
    }
    return {
      pid: this.pid,
      tid: this.tid,
      threadName: this.threadName,
      timeOrigin: performance.timeOrigin,
      functions: this.functions.slice(),
      spanNames: this.spanNames.slice(),
      records: out,
      count: n / RECORD_STRIDE,
      dropped: this.dropped,
      nodeEvents: this.nodeEvents.slice(),
      droppedNodeEvents: this.droppedNodeEvents,
    };
  }

  /** Forgets all records and Node events (function and span tables stay: ids remain valid). */
  clear(): void {
    this.w = 0;
    this.wrapped = false;
    this.total = 0;
    this.nodeEvents.length = 0;
    this.droppedNodeEvents = 0;
  }
}
