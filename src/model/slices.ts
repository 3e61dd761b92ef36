/**
 * The second builder input: timed slices (a trace's calls) instead of sampled stacks. Slices of one
 * track nest by time; each becomes one sample of its stack whose weight is its self time (its
 * duration less its direct children's), stamped with its start, so a trace's self times are the
 * profile's weights and time-range filters keep working.
 */
import type { Frame } from './frame.js';
import { NO_STACK, type ProfileBuilder } from './profile.js';

export interface Slice {
  frame: Frame;
  /** start and duration, µs */
  ts: number;
  dur: number;
  /**
   * True for a continuation of a call already counted (an async function resumed after an await):
   * its time counts, but it is not another call.
   */
  continuation?: boolean;
}

export interface SliceStats {
  /** slices that start inside another and end after it: DevTools drops them, and so does this */
  crossing: number;
}

/**
 * Adds the slices of one track (any order) to `b`, in microseconds of self time. A slice nested in a
 * slice of the same function is a recursive call: stacks keep both frames, and per-function totals
 * (model/ops.ts functionWeights) count the time once.
 */
export function addTrackSlices(b: ProfileBuilder, slices: Slice[], base = NO_STACK): SliceStats {
  // DevTools order: by start, the longer first on ties, so parents come before children.
  const sorted = [...slices].sort((x, y) => x.ts - y.ts || y.dur - x.dur);
  const open: { stack: number; end: number; ts: number; dur: number; childDur: number }[] = [];
  let crossing = 0;
  const close = () => {
    const top = open.pop()!;
    b.sample(top.stack, Math.max(0, top.dur - top.childDur), top.ts);
  };
  for (const s of sorted) {
    const end = s.ts + s.dur;
    while (open.length && s.ts >= open[open.length - 1]!.end) close();
    const parent = open[open.length - 1];
    // 2 ns of slack: rounding to 3 decimals in the writer can push a child's end past its parent's.
    if (parent && end > parent.end + 0.002) {
      crossing++;
      continue;
    }
    if (parent) parent.childDur += s.dur;
    const frameId = b.frame(s.frame);
    if (!s.continuation) b.countCalls(frameId);
    open.push({ stack: b.stack(parent ? parent.stack : base, frameId), end, ts: s.ts, dur: s.dur, childDur: 0 });
  }
  while (open.length) close();
  return { crossing };
}
