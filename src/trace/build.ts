/**
 * Recordings → Chrome trace-event JSON that the DevTools Performance panel shows truthfully.
 *
 * What DevTools does with a generic trace decides the layout (facts in docs/design.md):
 * each (pid, tid) with X/I events is a track, and a slice that crosses another on its track is
 * dropped silently. So:
 *  - the thread's own track holds what nests by construction on one JS stack: sync calls, the
 *    running segments of async functions, user spans;
 *  - async lifetimes (call → settle) overlap freely, so they go to "async N" lanes, packed so that
 *    each lane only nests or follows (lanes.ts), a child preferring its parent's lane;
 *  - anything that still would cross (a span straddling an await, odd truncation) is moved to an
 *    "overflow N" lane and counted, never lost;
 *  - Node's own events get one track (plus lanes) per category (node-tracks.ts);
 *  - flow arrows link an async call's segments (flows.ts), and with async tracing each callback
 *    to the call that scheduled it; slices that ran for an HTTP request say which (causality.ts).
 *
 * Memory stays flat in the number of records: only typed arrays proportional to it (indices,
 * flags), events are formatted one by one and streamed by TraceEventWriter.
 */
import { ownVersion } from '../util/version.js';
import { frameLabel, type FunctionInfo } from '../model/frame.js';
import { thousands } from '../util/numbers.js';
import {
  RecordKind,
  RecordField as F,
  RECORD_STRIDE,
  codeId,
  codeKind,
  isSliceKind,
  ranThrottled,
  recordInst,
  type ProcessRecording,
  type ThreadRecording,
} from '../recorder/protocol.js';
import {
  TraceEventWriter,
  argsBytes,
  completeHead,
  instantHead,
  isGzipPath,
  round3,
  trackBytes,
  processNameEvent,
  threadNameEvent,
  threadSortEvent,
} from '../formats/trace-event.js';
import { LanePacker, NestingCheck, ParentLanes, engineDur, sortNested } from './lanes.js';
import { writeSegmentFlows } from './flows.js';
import { writeNodeTracks, writeRequestFlows } from './node-tracks.js';
import { ThreadCausality } from './causality.js';
import { MIN_DURATION_NOTE, writeMinDuration, type ThreadMinDuration } from './min-duration.js';
import { THROTTLED_NOTE, UNTIMED_ARG, writeThrottled, type ThreadThrottled } from './throttled.js';
import type { TraceSamples } from './samples.js';

export interface WriteTraceOptions {
  /** write the file gzip-compressed (default: when `outPath` ends in `.gz`) */
  gzip?: boolean;
  /** merged into the trace's top-level `metadata` */
  metadata?: Record<string, unknown>;
  /**
   * Called every PROGRESS_EVERY slices while writing, and once at the end: slices written so far
   * and the total to expect (records plus Node events of all threads; a few land elsewhere).
   */
  onProgress?: (done: number, total: number) => void;
  /** `trace --sample`: CPU samples drawn on the threads' tracks under their slices */
  samples?: TraceSamples;
}

export { isGzipPath };

/** Slices between two progress calls: rare enough to cost nothing, often enough to move a bar. */
const PROGRESS_EVERY = 1 << 16;

export interface WriteTraceResult {
  /** trace events written (slices, instants, flows, metadata events) */
  events: number;
  /** X slices written */
  slices: number;
  /** records lost to ring-buffer overflow, summed over all threads */
  droppedRecords: number;
  /** threads whose ring overflowed: where their complete data begins (see ThreadCut) */
  cuts: ThreadCut[];
  /** threads recorded without their short calls (a full ring raised the minimum, or the user set one) */
  minDurations: ThreadMinDuration[];
  /** threads with throttled functions (calls no longer timed) */
  throttled: ThreadThrottled[];
}

/**
 * Where a thread's recording was cut by ring-buffer overflow. The ring keeps records in the order
 * calls ended, so every call that ended after the oldest kept record is kept: from that record's
 * end on (`completeFrom`, trace µs) the data is complete. A call running at that point lost the
 * children that ran before it, so it is clipped to start there (its slice's args say so) instead of
 * showing their time as its own.
 */
export interface ThreadCut {
  pid: number;
  tid: number;
  thread: string;
  /** records lost to overflow, plus kept ones that ended at the cut (they lost their children) */
  droppedRecords: number;
  /** trace µs where complete data begins */
  completeFrom: number;
  /** slices that began before the cut, clipped to it */
  clippedSlices: number;
}

/** Prefix of a continuation segment's name: the function resumed after an await (or yield). */
export const RESUMED_PREFIX = 'resumed: ';

/** Writes `processes` as one trace file. Throws the fs error if `outPath` cannot be written. */
export function writeTrace(outPath: string, processes: ProcessRecording[], opts: WriteTraceOptions = {}): WriteTraceResult {
  const writer = new TraceEventWriter(outPath, { gzip: opts.gzip ?? isGzipPath(outPath) });
  const ctx = new BuildContext(writer);
  ctx.samples = opts.samples;
  if (opts.onProgress) {
    let total = 0;
    for (const proc of processes) for (const th of proc.threads) total += th.count + th.nodeEvents.length;
    ctx.progress = { report: opts.onProgress, total };
  }
  let closed = false;
  try {
    // One pass over each thread's records first: where each slice goes, and when the trace begins.
    const plans = processes.map((proc) => proc.threads.map(planThread));
    const bases = timeBases(processes, plans, opts.samples);
    const usedPids = new Set<number>();
    processes.forEach((proc, p) => {
      // Two recordings with the same pid (bench strategies run in one process) must stay two rows.
      let pid = proc.pid;
      while (usedPids.has(pid)) pid++;
      usedPids.add(pid);
      ctx.beginProcess(pid, proc);
      const threads = proc.threads.map((th, t) => ({ th, base: bases[p]![t]!, plan: plans[p]![t]! })).sort((a, b) => a.th.tid - b.th.tid);
      for (const { th, base, plan } of threads) writeThread(ctx, pid, th, base, plan);
    });
    const metadata = ctx.metadata({ ...opts.samples?.metadata(), ...opts.metadata });
    closed = true;
    writer.close(metadata);
    ctx.progress?.report(ctx.slices, Math.max(ctx.slices, ctx.progress.total));
  } finally {
    if (!closed) writer.close({ error: 'trace writing failed' });
  }
  return {
    events: writer.count,
    slices: ctx.slices,
    droppedRecords: ctx.droppedRecords,
    cuts: ctx.cuts,
    minDurations: ctx.minDurations,
    throttled: ctx.throttled,
  };
}

/**
 * Per thread, the number to add to its own µs to get the trace's µs. Absolute time is
 * timeOrigin·1000 + t, but 1.7e15 µs in a double keeps only ~0.25 µs; subtracting the smallest
 * timeOrigin first keeps every term small, so ns survive. The earliest event lands at ts = 1
 * (DevTools ignores ts = 0 for the bounds).
 */
function timeBases(processes: ProcessRecording[], plans: ThreadPlan[][], samples?: TraceSamples): number[][] {
  let refOrigin = Infinity;
  for (const proc of processes) for (const th of proc.threads) refOrigin = Math.min(refOrigin, th.timeOrigin);
  if (!Number.isFinite(refOrigin)) refOrigin = 0;
  const offsets = processes.map((proc) => proc.threads.map((th) => (th.timeOrigin - refOrigin) * 1000 + (proc.shiftUs ?? 0)));
  let min = Infinity;
  processes.forEach((proc, p) =>
    proc.threads.forEach((th, t) => {
      const first = Math.min(plans[p]![t]!.earliest, samples?.earliest(th) ?? Infinity);
      if (first < Infinity) min = Math.min(min, offsets[p]![t]! + first);
    }),
  );
  if (!Number.isFinite(min)) min = 0;
  return offsets.map((row) => row.map((off) => off - min + 1));
}

/** Where a thread's records go, found in one pass over them (the first that touches their memory). */
interface ThreadPlan {
  /** slices of the thread's own track (calls, segments, sync spans), as record indices in ring order */
  main: Uint32Array;
  /** async lifetimes and async spans, drawn on the async lanes */
  life: Uint32Array;
  /** the async segments among `main` */
  seg: Uint32Array;
  /** records not written: they ended at or before the ring-buffer cut (their children may be gone) */
  omitted: number;
  /** slices that began before the cut and are drawn from it on */
  clipped: number;
  /** Callback records (async tracing): none, and the thread has no causality to draw */
  callbacks: number;
  /** the thread's own µs of its first slice or Node event as drawn, or Infinity */
  earliest: number;
}

function planThread(th: ThreadRecording): ThreadPlan {
  const rec = th.records;
  const n = Math.min(th.count, Math.floor(rec.length / RECORD_STRIDE));
  const cut = cutOf(th);
  // As long as the records: the pages of what is never filled are never touched.
  const main = new Uint32Array(n),
    life = new Uint32Array(n),
    seg = new Uint32Array(n);
  let a = 0,
    b = 0,
    c = 0,
    omitted = 0,
    clipped = 0,
    callbacks = 0,
    min = Infinity;
  for (let i = 0, o = 0; i < n; i++, o += RECORD_STRIDE) {
    if (rec[o + F.End]! <= cut) {
      omitted++;
      continue;
    }
    const start = rec[o + F.Start]!;
    if (start < cut) clipped++;
    const k = codeKind(rec[o + F.Code]!);
    if (!isSliceKind(k)) {
      if (k === RecordKind.Callback) callbacks++;
      continue;
    }
    if (start < min) min = start;
    if (k === RecordKind.AsyncLifetime || (k === RecordKind.Span && isAsyncSpan(rec, i, o))) life[b++] = i;
    else {
      main[a++] = i;
      if (k === RecordKind.AsyncSegment) seg[c++] = i;
    }
  }
  // What began before the cut is drawn from the cut on (writeThread's startOf).
  if (min < cut) min = cut;
  for (const ev of th.nodeEvents) if (ev.ts < min) min = ev.ts;
  return { main: main.subarray(0, a), life: life.subarray(0, b), seg: seg.subarray(0, c), omitted, clipped, callbacks, earliest: min };
}

/** An async span: a Span record (at index i, offset o) marked by the SpanParent record just before it. */
function isAsyncSpan(rec: Float64Array, i: number, o: number): boolean {
  return (
    i > 0 && codeKind(rec[o - RECORD_STRIDE + F.Code]!) === RecordKind.SpanParent && rec[o - RECORD_STRIDE + F.Inst] === rec[o + F.Inst]
  );
}

interface DropInfo {
  pid: number;
  tid: number;
  thread: string;
  records: number;
  nodeEvents: number;
}

/**
 * The thread's own µs from which its records are complete, or -Infinity when nothing was dropped.
 * Records are oldest first and were pushed as calls ended, so every dropped record ended no later
 * than the first kept one (records[0]; running calls appended by a snapshot come after the ring's).
 */
export function cutOf(th: ThreadRecording): number {
  if (th.dropped <= 0 || th.count <= 0) return -Infinity;
  return th.records[2]!;
}

/** Track allocation, counters and metadata shared by all threads of the trace. */
export class BuildContext {
  slices = 0;
  droppedRecords = 0;
  droppedNodeEvents = 0;
  overflowSlices = 0;
  readonly cuts: ThreadCut[] = [];
  readonly minDurations: ThreadMinDuration[] = [];
  readonly throttled: ThreadThrottled[] = [];
  private drops: DropInfo[] = [];
  private sortIndex = 0;
  private usedTids = new Set<number>();
  private nextTid = 1;
  private nextFlowId = 1;
  pid = 0;
  samples: TraceSamples | undefined;
  progress: { report: (done: number, total: number) => void; total: number } | undefined;

  constructor(readonly writer: TraceEventWriter) {}

  beginProcess(pid: number, proc: ProcessRecording): void {
    this.pid = pid;
    this.sortIndex = 0;
    this.usedTids = new Set(proc.threads.map((t) => t.tid));
    // Short tids (printed in every event of the track) right above the real threads' ids.
    this.nextTid = Math.max(0, ...this.usedTids) + 1;
    this.writer.write(processNameEvent(pid, proc.name));
  }

  /** Names a track and puts it next in the process's order. */
  nameTrack(tid: number, name: string): void {
    this.writer.write(threadNameEvent(this.pid, tid, name));
    this.writer.write(threadSortEvent(this.pid, tid, this.sortIndex++));
  }

  /** A fresh tid (no real thread's) for a synthetic track, named and ordered now. */
  newTrack(name: string): number {
    while (this.usedTids.has(this.nextTid)) this.nextTid++;
    const tid = this.nextTid++;
    this.usedTids.add(tid);
    this.nameTrack(tid, name);
    return tid;
  }

  flowId(): number {
    return this.nextFlowId++;
  }

  /** Writes a slice given as JSON text (producers of few slices). */
  slice(json: string): void {
    this.writer.writeRaw(json);
    this.sliceDone();
  }

  /** Writes an `X` slice from interned pieces (see TraceEventWriter.complete). */
  complete(head: Uint8Array, ts: number, dur: number, track: Uint8Array, args?: Uint8Array): void {
    this.writer.complete(head, ts, dur, track, args);
    this.sliceDone();
  }

  /** As `complete`, ts in whole µs plus ns, dur in ns (see TraceEventWriter.completeUsNs). */
  completeUsNs(head: Uint8Array, tsUs: number, tsFracNs: number, durNs: number, track: Uint8Array, args?: Uint8Array): void {
    this.writer.completeUsNs(head, tsUs, tsFracNs, durNs, track, args);
    this.sliceDone();
  }

  private sliceDone(): void {
    if ((++this.slices & (PROGRESS_EVERY - 1)) === 0 && this.progress) {
      this.progress.report(this.slices, Math.max(this.slices, this.progress.total));
    }
  }

  noteDrops(pid: number, th: ThreadRecording): void {
    this.droppedRecords += th.dropped;
    this.droppedNodeEvents += th.droppedNodeEvents;
    if (th.dropped > 0 || th.droppedNodeEvents > 0) {
      this.drops.push({ pid, tid: th.tid, thread: th.threadName, records: th.dropped, nodeEvents: th.droppedNodeEvents });
    }
  }

  metadata(extra: Record<string, unknown> = {}): Record<string, unknown> {
    const md: Record<string, unknown> = {
      source: 'stackscope',
      'stackscope-version': ownVersion(),
      droppedRecords: this.droppedRecords,
      droppedNodeEvents: this.droppedNodeEvents,
      overflowSlices: this.overflowSlices,
    };
    if (this.drops.length > 0) {
      md.dropped = this.drops;
      md.droppedNote = 'the oldest records of these threads were lost to ring-buffer overflow (raise the buffer capacity to keep them)';
    }
    if (this.cuts.length > 0) {
      md.cut = this.cuts;
      md.cutNote =
        'these threads are complete only from completeFrom (trace µs) on; calls running then are clipped to start there (args.truncated)';
    }
    if (this.minDurations.length > 0) {
      md.minDuration = this.minDurations;
      md.minDurationNote = MIN_DURATION_NOTE;
    }
    if (this.throttled.length > 0) {
      md.throttled = this.throttled;
      md.throttledNote = THROTTLED_NOTE;
    }
    if (this.overflowSlices > 0) {
      md.overflowNote = 'slices that would have crossed others on their track were moved to "overflow" tracks';
    }
    return { ...md, ...extra };
  }
}

/**
 * The interned pieces of a thread's slices, per function (or span) id, built on first use: a hot
 * loop writes millions of slices naming a few thousand functions.
 */
class Names {
  private call: (Uint8Array | undefined)[] = [];
  private segment: (Uint8Array | undefined)[] = [];
  private resumed: (Uint8Array | undefined)[] = [];
  private span: (Uint8Array | undefined)[] = [];
  private request = new Map<number, Uint8Array>();
  private args: (Uint8Array | null | undefined)[] = [];
  private untimedArgs: (Uint8Array | undefined)[] = [];
  /** function ids by line (-1: no file), for ambiguous */
  private byLine: Map<number, number[]> | undefined;
  /** how many functions of the line share each label, for the lines asked about */
  private readonly labelsOnLine = new Map<number, Map<string, number>>();

  constructor(
    private readonly functions: FunctionInfo[],
    private readonly spanNames: string[],
  ) {}

  label(id: number): string {
    const fn = this.functions[id];
    return fn ? frameLabel(fn) : `function #${id}`;
  }
  /** head of a call's (or a lifetime's) slice */
  callHead(id: number): Uint8Array {
    return (this.call[id] ??= completeHead(JSON.stringify(this.label(id))));
  }
  /** head of an async call's first segment */
  segmentHead(id: number): Uint8Array {
    return (this.segment[id] ??= completeHead(JSON.stringify(this.label(id))));
  }
  /** head of a continuation segment: `resumed: label` */
  resumedHead(id: number): Uint8Array {
    return (this.resumed[id] ??= completeHead(JSON.stringify(RESUMED_PREFIX + this.label(id))));
  }
  /** `{"request":N}`, one per request */
  requestArgs(request: number): Uint8Array {
    let a = this.request.get(request);
    if (!a) this.request.set(request, (a = argsBytes(`{"request":${request}}`)));
    return a;
  }
  spanHead(id: number): Uint8Array {
    return (this.span[id] ??= completeHead(JSON.stringify(this.spanNames[id] ?? `span #${id}`)));
  }
  /**
   * `{"src":"file:line:col"}` where the label alone does not say which function it is (another
   * function of the table has the same name, file and line: two arrows on one line, minified
   * code); otherwise nothing, since the label already says the file and line.
   */
  argsOf(id: number, untimed = false): Uint8Array | undefined {
    if (untimed) return (this.untimedArgs[id] ??= argsBytes(this.argsJson(id, true)!));
    let a = this.args[id];
    if (a === undefined) {
      const json = this.argsJson(id, false);
      a = this.args[id] = json === undefined ? null : argsBytes(json);
    }
    return a ?? undefined;
  }
  /** The JSON of argsOf's args, or undefined for none; `untimed`: the call ran calls of throttled functions. */
  private argsJson(id: number, untimed: boolean): string | undefined {
    const src = this.src(id);
    if (untimed) return JSON.stringify({ src, untimed: UNTIMED_ARG });
    return src === undefined ? undefined : JSON.stringify({ src });
  }
  /** `file:line:col` of a function whose label is ambiguous (see argsOf), else undefined */
  src(id: number): string | undefined {
    const fn = this.functions[id];
    return fn?.file && this.ambiguous(id) ? `${fn.file}:${fn.line}:${fn.col}` : undefined;
  }
  private ambiguous(id: number): boolean {
    // Functions that share a label share its line (or have no file: then the name is the label).
    // Grouped by line once, labels are made only on lines that hold two functions or more, once
    // per line: a large package's table has tens of thousands of functions, a minified file
    // thousands on one line.
    const lineOf = (fn: FunctionInfo | undefined): number => (fn?.file ? fn.line : -1);
    if (!this.byLine) {
      this.byLine = new Map();
      this.functions.forEach((fn, j) => {
        const ids = this.byLine!.get(lineOf(fn));
        if (ids) ids.push(j);
        else this.byLine!.set(lineOf(fn), [j]);
      });
    }
    const line = lineOf(this.functions[id]);
    const ids = this.byLine.get(line);
    if (!ids || ids.length < 2) return false;
    let counts = this.labelsOnLine.get(line);
    if (!counts) {
      counts = new Map();
      for (const j of ids) {
        const label = this.label(j);
        counts.set(label, (counts.get(label) ?? 0) + 1);
      }
      this.labelsOnLine.set(line, counts);
    }
    return (counts.get(this.label(id)) ?? 0) > 1;
  }
}

/**
 * Writes main[m…] while they are whole calls (no async segment or span, not clipped at the cut), on
 * the thread's own track (or to `overflow` when one would cross); returns where it stopped. Their
 * times are the ns that are printed (as engineDur, rounded once).
 */
function writeCalls(
  ctx: BuildContext,
  rec: Float64Array,
  main: Uint32Array,
  m: number,
  base: number,
  cut: number,
  check: NestingCheck,
  names: Names,
  track: Uint8Array,
  overflow: number[],
): number {
  for (; m < main.length; m++) {
    const i = main[m]!;
    const o = i * RECORD_STRIDE;
    const code = rec[o + F.Code]!;
    const start = rec[o + F.Start]!;
    if (codeKind(code) !== RecordKind.Call || start < cut) break;
    const tsNs = Math.round((base + start) * 1000);
    const endNs = Math.round((base + rec[o + F.End]!) * 1000);
    let durNs = endNs > tsNs ? endNs - tsNs : 0;
    const dur = check.accept(tsNs / 1000, durNs / 1000);
    if (dur < 0) {
      overflow.push(i);
      continue;
    }
    if (dur !== durNs / 1000) durNs = Math.round(dur * 1000);
    const id = codeId(code);
    const tsUs = Math.floor(tsNs / 1000);
    ctx.completeUsNs(names.callHead(id), tsUs, tsNs - tsUs * 1000, durNs, track, names.argsOf(id, ranThrottled(rec[o + F.Inst]!)));
  }
  return m;
}

function writeThread(ctx: BuildContext, pid: number, th: ThreadRecording, base: number, plan: ThreadPlan): void {
  const rec = th.records;
  const n = Math.min(th.count, Math.floor(rec.length / RECORD_STRIDE));
  const tid = th.tid;
  const names = new Names(th.functions, th.spanNames);
  const prefix = tid === 0 ? '' : `${th.threadName} `;
  ctx.noteDrops(pid, th);
  ctx.nameTrack(tid, th.threadName);

  const at = (i: number, f: F): number => rec[i * RECORD_STRIDE + f]!;
  const kindOf = (i: number): number => codeKind(at(i, F.Code));
  const idOf = (i: number): number => codeId(at(i, F.Code));
  /** the async call a record belongs to (its Inst also says whether it ran throttled calls) */
  const instOf = (i: number): number => recordInst(at(i, F.Inst));

  // Ring overflow: records that ended at or before the cut are not written (planThread), and what
  // began before it is drawn from the cut on (startOf).
  const cut = cutOf(th);
  const startOf = (i: number): number => {
    const s = rec[i * RECORD_STRIDE + F.Start]!;
    return s < cut ? cut : s;
  };
  const clipped = (i: number): boolean => at(i, F.Start) < cut;
  const clip = (start: number): number => (start < cut ? cut : start);

  const { life, seg } = plan;
  let main = plan.main;
  const nMain = main.length,
    nLife = life.length,
    nSeg = seg.length;
  // DevTools order: by start, longer first; then outer first, then as recorded (a total order).
  // Comparators answer -1, 0 or 1: a small integer, where a difference of doubles would be a new
  // heap number per comparison (garbage by the million in sortNested).
  const byStart = (x: number, y: number): number => {
    const ox = x * RECORD_STRIDE,
      oy = y * RECORD_STRIDE;
    const sx = clip(rec[ox + F.Start]!),
      sy = clip(rec[oy + F.Start]!);
    if (sx !== sy) return sx < sy ? -1 : 1;
    const ex = rec[ox + F.End]!,
      ey = rec[oy + F.End]!;
    if (ex !== ey) return ex > ey ? -1 : 1;
    const dx = rec[ox + F.Depth]!,
      dy = rec[oy + F.Depth]!;
    if (dx !== dy) return dx < dy ? -1 : 1;
    return x < y ? -1 : x > y ? 1 : 0;
  };
  const byInst = (x: number, y: number): number => {
    const ix = instOf(x),
      iy = instOf(y);
    return ix !== iy ? (ix < iy ? -1 : 1) : byStart(x, y);
  };
  seg.sort(byInst);
  life.sort(byInst);

  /** position in `life` of the lifetime of async call `inst`, or -1 */
  const lifeOf = (inst: number): number => {
    let lo = 0,
      hi = nLife - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = instOf(life[mid]!);
      if (v === inst) return mid;
      if (v < inst) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  };

  // Which segments are continuations. A call's first segment starts at the call itself, i.e.
  // with its lifetime; when the ring dropped it, the lifetime still tells (its start is earlier
  // than every kept segment). Without a lifetime (call still pending at the dump) the earliest
  // kept segment is taken as the first.
  const resumed = new Uint8Array(nSeg > 0 ? n : 0);
  for (let g = 0; g < nSeg;) {
    const inst = instOf(seg[g]!);
    let e = g + 1;
    while (e < nSeg && instOf(seg[e]!) === inst) e++;
    const lp = lifeOf(inst);
    const firstKept = lp < 0 || at(seg[g]!, F.Start) <= at(life[lp]!, F.Start);
    for (let k = firstKept ? g + 1 : g; k < e; k++) resumed[seg[k]!] = 1;
    g = e;
  }

  // The thread's own track, in DevTools order, checked as DevTools will build it.
  main = sortNested(main, byStart);
  const causal = plan.callbacks > 0 ? ThreadCausality.of(th, n) : undefined;
  const requests = causal?.hasRequests ? causal : undefined;
  const requestAt = writeNodeTracks(ctx, th, base, pid, prefix, 'requests');
  const check = new NestingCheck();
  const parentInst = new Float64Array(nLife).fill(NaN);
  // An async span's parent is the span it began in (known with async tracing).
  for (let p = 0; p < nLife; p++) {
    const i = life[p]!;
    const parent = kindOf(i) === RecordKind.Span ? at(i - 1, F.Depth) : 0;
    if (parent > 0) parentInst[p] = parent;
  }
  const overflow: number[] = [];
  const writer = ctx.writer;
  const track = trackBytes(pid, tid);
  const minDuration = writeMinDuration(writer, th, pid, base, track);
  if (minDuration) ctx.minDurations.push(minDuration);
  const throttled = writeThrottled(writer, th, pid, base, track);
  if (throttled) ctx.throttled.push(throttled);
  if (cut > -Infinity) {
    // Said on the timeline, where the missing beginning would otherwise look like idle time.
    const lost = th.dropped + plan.omitted;
    const ts = round3(base + cut);
    const note = `${thousands(lost)} earlier call records dropped (ring buffer full): complete from here`;
    const args = { droppedRecords: lost, hint: 'raise --buffer-size, or record less with --min-duration/--max-depth' };
    writer.instant(instantHead(JSON.stringify(note)), ts, track, argsBytes(JSON.stringify(args)));
    ctx.cuts.push({ pid, tid, thread: th.threadName, droppedRecords: lost, completeFrom: ts, clippedSlices: plan.clipped });
  }
  /**
   * args of a slice: its source, for one clipped at the cut how much of it is not shown, and the
   * HTTP request it ran for
   */
  const argsOf = (i: number): Uint8Array | undefined => {
    const id = idOf(i);
    const span = kindOf(i) === RecordKind.Span;
    const request = requests ? requests.requestAt(at(i, F.Start)) : 0;
    const isClipped = clipped(i);
    // A call or a segment that ran calls of throttled functions (recorder/runtime.ts).
    const untimed = (kindOf(i) === RecordKind.Call || kindOf(i) === RecordKind.AsyncSegment) && ranThrottled(at(i, F.Inst));
    if (!isClipped && request === 0) return span ? undefined : names.argsOf(id, untimed);
    const src = span ? undefined : names.src(id);
    if (!isClipped && src === undefined && !untimed) return names.requestArgs(request);
    const truncated = isClipped
      ? `began ${((cut - at(i, F.Start)) / 1000).toFixed(3)} ms before the ring-buffer cut; only the part after it is shown (its earlier calls were dropped)`
      : undefined;
    return argsBytes(JSON.stringify({ src, truncated, request: request || undefined, untimed: untimed ? UNTIMED_ARG : undefined }));
  };
  /** head of a slice on the thread's own track (or an overflow lane) */
  const headOf = (i: number): Uint8Array => {
    const id = idOf(i);
    switch (kindOf(i)) {
      case RecordKind.Span:
        return names.spanHead(id);
      case RecordKind.AsyncSegment:
        return resumed[i] === 1 ? names.resumedHead(id) : names.segmentHead(id);
      default:
        return names.callHead(id);
    }
  };
  for (let m = 0; m < nMain; m++) {
    // The bulk (plain calls) in a loop of its own, which V8 optimizes early; the rest one by one.
    if (!requests) m = writeCalls(ctx, rec, main, m, base, cut, check, names, track, overflow);
    if (m >= nMain) break;
    const i = main[m]!;
    const o = i * RECORD_STRIDE;
    const kind = codeKind(rec[o + F.Code]!);
    const ts = round3(base + startOf(i));
    const isSeg = kind === RecordKind.AsyncSegment;
    const dur = check.accept(ts, engineDur(ts, base + rec[o + F.End]!), isSeg ? instOf(i) : -1);
    if (dur < 0) {
      overflow.push(i);
      continue;
    }
    ctx.complete(headOf(i), ts, dur, track, argsOf(i));
    if (isSeg && resumed[i] === 0) {
      const parent = check.enclosingTag();
      const lp = parent >= 0 ? lifeOf(instOf(i)) : -1;
      if (lp >= 0) parentInst[lp] = parent;
    }
  }

  // Async lifetimes and async spans on lanes: a child under its parent (an awaited child reads as a
  // call tree), never under an unrelated slice (ParentLanes).
  if (nLife > 0) {
    const order = new Uint32Array(nLife);
    for (let p = 0; p < nLife; p++) order[p] = p;
    order.sort((x, y) => byStart(life[x]!, life[y]!));
    const packer = new ParentLanes();
    const laneTracks: Uint8Array[] = [];
    for (let o = 0; o < nLife; o++) {
      const p = order[o]!;
      const i = life[p]!;
      const ts = round3(base + startOf(i));
      const dur = engineDur(ts, base + at(i, F.End));
      // An async span knows its parent (the span it began in, or none): it never nests by time alone.
      const lane = packer.place(ts, ts + dur, instOf(i), parentInst[p]!, kindOf(i) === RecordKind.Span);
      while (laneTracks.length <= lane) laneTracks.push(trackBytes(pid, ctx.newTrack(`${prefix}async ${laneTracks.length + 1}`)));
      ctx.complete(headOf(i), ts, dur, laneTracks[lane]!, argsOf(i));
    }
  }

  // Safety net: what would cross on the thread's track is kept on overflow lanes.
  const movedTo = new Map<number, number>();
  if (overflow.length > 0) {
    ctx.overflowSlices += overflow.length;
    const packer = new LanePacker();
    const laneTids: number[] = [];
    for (const i of overflow) {
      const ts = round3(base + startOf(i));
      const dur = engineDur(ts, base + at(i, F.End));
      const lane = packer.place(ts, ts + dur);
      while (laneTids.length <= lane) laneTids.push(ctx.newTrack(`${prefix}overflow ${laneTids.length + 1}`));
      const laneTid = laneTids[lane]!;
      movedTo.set(i, laneTid);
      ctx.complete(headOf(i), ts, dur, trackBytes(pid, laneTid), argsOf(i));
    }
  }

  const tidOf = (i: number): number => movedTo.get(i) ?? tid;
  writeSegmentFlows(ctx, seg, rec, base, pid, tidOf, startOf);
  const requestWork = causal?.writeFlows(ctx, main, startOf, resumed, base, pid, tidOf, requestAt);
  if (requestWork) writeRequestFlows(ctx, pid, requestAt, requestWork);
  writeNodeTracks(ctx, th, base, pid, prefix, 'others');
  for (const json of ctx.samples?.events(th, base, pid) ?? []) writer.writeRaw(json);
}
