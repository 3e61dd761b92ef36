/**
 * Async causality in the trace (recorded by the recorder's async tracking, see
 * src/recorder/async.ts): a flow arrow from the traced call that scheduled a callback to the first
 * slice that callback ran, `args.request` on every slice that ran for an HTTP request, and the
 * request lane's arrows to the first and last slice of each request's work.
 *
 * DevTools binds a flow event to the slice with the same ts, pid, tid and cat, and one flow's
 * events share a cat: JS slices (calls, async segments) and request slices are written without a
 * cat so that any two of them can be linked, and the flow events here carry none either.
 */
import { round3 } from '../formats/trace-event.js';
import { RECORD_STRIDE, RecordField as F, RecordKind, codeId, codeKind, type ThreadRecording } from '../recorder/protocol.js';
import type { BuildContext } from './build.js';

/** Where a flow event binds: a slice's printed ts and its track. */
export interface FlowEnd {
  ts: number;
  tid: number;
}

/** A request's slice on the request lane: where flows bind, and when (thread µs) it ended. */
export interface RequestSlice extends FlowEnd {
  end: number;
}

/** Where a request's work is on this thread: the request lane draws arrows to these. */
export interface RequestWork {
  first: FlowEnd;
  last: FlowEnd;
}

/**
 * The causal records of one thread, read once. `main` is the thread track's slice records in
 * DevTools order (by start, longer first); `startOf` the start a slice is drawn at.
 */
export class ThreadCausality {
  /** request windows: start, end (µs), request id; sorted by start, disjoint */
  private readonly winStart: Float64Array;
  private readonly winEnd: Float64Array;
  private readonly winRequest: Float64Array;
  /** Callback records that have a Cause just before them */
  private readonly caused: number[];

  private constructor(
    private readonly th: ThreadRecording,
    windows: number[],
    caused: number[],
  ) {
    const rec = th.records;
    windows.sort((a, b) => rec[a * RECORD_STRIDE + F.Start]! - rec[b * RECORD_STRIDE + F.Start]!);
    this.winStart = Float64Array.from(windows, (i) => rec[i * RECORD_STRIDE + F.Start]!);
    this.winEnd = Float64Array.from(windows, (i) => rec[i * RECORD_STRIDE + F.End]!);
    this.winRequest = Float64Array.from(windows, (i) => rec[i * RECORD_STRIDE + F.Depth]!);
    this.caused = caused;
  }

  /** undefined when the thread has no causal records (async tracing off, or nothing async ran) */
  static of(th: ThreadRecording, n: number): ThreadCausality | undefined {
    const rec = th.records;
    const windows: number[] = [];
    const caused: number[] = [];
    for (let i = 0, o = 0; i < n; i++, o += RECORD_STRIDE) {
      if (codeKind(rec[o + F.Code]!) !== RecordKind.Callback) continue;
      if (rec[o + F.Depth]! > 0) windows.push(i);
      if (rec[o + F.Inst] === 1 && i > 0 && codeKind(rec[o - RECORD_STRIDE + F.Code]!) === RecordKind.Cause) caused.push(i);
    }
    return windows.length > 0 || caused.length > 0 ? new ThreadCausality(th, windows, caused) : undefined;
  }

  /** true when some callback ran for an HTTP request */
  get hasRequests(): boolean {
    return this.winStart.length > 0;
  }

  /** The request a slice starting at `start` (thread µs) ran for, 0 when none. */
  requestAt(start: number): number {
    const s = this.winStart;
    let lo = 0,
      hi = s.length - 1,
      at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid]! <= start) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return at >= 0 && start < this.winEnd[at]! ? this.winRequest[at]! : 0;
  }

  /**
   * Arrows from each scheduling call to the first slice its callback ran, and the first and last
   * slice of each request's work while it was open (for writeRequestFlows: a pooled connection
   * made during a request keeps its id afterwards, but the request lane's arrows stop at its
   * response). A callback whose first slice resumes an async function gets none: the await arrow
   * already leads there.
   */
  writeFlows(
    ctx: BuildContext,
    main: Uint32Array,
    startOf: (i: number) => number,
    resumed: Uint8Array,
    base: number,
    pid: number,
    tidOf: (i: number) => number,
    requests: Map<number, RequestSlice>,
  ): Map<number, RequestWork> {
    const rec = this.th.records;
    const at = (i: number, f: F): number => rec[i * RECORD_STRIDE + f]!;
    /** first position in `main` whose drawn start is >= t */
    const firstFrom = (t: number): number => {
      let lo = 0,
        hi = main.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (startOf(main[mid]!) < t) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    const end = (i: number): FlowEnd => ({ ts: round3(base + startOf(i)), tid: tidOf(i) });
    /** the innermost slice of `main` at depth < `depth` running at `t`, or -1 (a bounded look back) */
    const enclosing = (t: number, depth: number): number => {
      for (let k = firstFrom(t) - 1, steps = 0; k >= 0 && steps < 10_000; k--, steps++) {
        const i = main[k]!;
        if (at(i, F.End) > t && at(i, F.Depth) < depth && startOf(i) === at(i, F.Start)) return i;
      }
      return -1;
    };

    for (const c of this.caused) {
      const winStart = at(c, F.Start);
      const winEnd = at(c, F.End);
      const causeStart = at(c - 1, F.Start);
      const causeDepth = at(c - 1, F.Depth);
      const t = firstFrom(winStart);
      const target = main[t];
      if (target === undefined || at(target, F.Start) >= winEnd || at(target, F.Start) < winStart || resumed[target] === 1) continue;
      // The scheduling call's slice: same start and depth, drawn where it began (not clipped).
      let source = -1;
      for (let k = firstFrom(causeStart); k < main.length; k++) {
        const i = main[k]!;
        if (startOf(i) !== causeStart) break;
        if (at(i, F.Depth) === causeDepth && at(i, F.Start) === causeStart) {
          source = i;
          break;
        }
      }
      // Dropped by --min-duration or --max-depth: the innermost kept slice around the call.
      if (source < 0) source = enclosing(causeStart, causeDepth);
      if (source < 0) continue;
      const name = JSON.stringify(this.th.spanNames[codeId(at(c - 1, F.Code))] ?? 'callback');
      writeFlow(ctx, name, pid, end(source), end(target));
    }

    // Per request: its earliest slice, and the latest top-level one (the work that finished it).
    const work = new Map<number, { first: number; last: number }>();
    if (this.winStart.length > 0) {
      for (let k = 0; k < main.length; k++) {
        const i = main[k]!;
        const r = this.requestAt(at(i, F.Start));
        if (r === 0 || at(i, F.Start) >= (requests.get(r)?.end ?? Infinity)) continue;
        const w = work.get(r);
        if (!w) work.set(r, { first: i, last: i });
        else if (at(i, F.Start) >= at(w.last, F.End)) w.last = i; // not inside the last one: later work
      }
    }
    const out = new Map<number, RequestWork>();
    for (const [r, w] of work) out.set(r, { first: end(w.first), last: end(w.last) });
    return out;
  }
}

/** One arrow: `s` bound to the slice at `from`, `f` (bound to its enclosing slice) at `to`. */
export function writeFlow(ctx: BuildContext, nameJson: string, pid: number, from: FlowEnd, to: FlowEnd): void {
  const id = ctx.flowId();
  ctx.writer.writeRaw(`{"ph":"s","name":${nameJson},"id":${id},"ts":${from.ts},"pid":${pid},"tid":${from.tid}}`);
  ctx.writer.writeRaw(`{"ph":"f","name":${nameJson},"id":${id},"ts":${to.ts},"pid":${pid},"tid":${to.tid},"bp":"e"}`);
}
