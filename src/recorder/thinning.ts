/**
 * What a full ring does by default: instead of overwriting its oldest records (which leaves a
 * trace of the run's last moments only), it raises the thread's minimum duration to the next
 * round value that removes at least half of what it holds, removes the records shorter than that
 * from the ring (the calls recorded before the raise are held to the same minimum as those after
 * it), and goes on. The trace then covers the whole run with one minimum duration per thread, said
 * in the trace and in the summary. A record that is removed is a call that ran inside its caller:
 * its time stays in the caller's slice, where DevTools counts it as the caller's self time.
 * User spans always stay; async bookkeeping records (a Callback and the Cause before it) stay or
 * go together, by the callback's duration.
 *
 * The shared control block (`ctl`, shared memory for a worker's ring) holds what a reader needs:
 *   [0] records in the ring (or, once it wraps, ever written since the last compaction)
 *   [1] sequence number, odd while the ring is being compacted (a reader copying it retries)
 *   [2] the minimum duration in force, µs
 *   [3] how many times it was raised; then (at, minimum) µs pairs, up to MAX_RAISES
 */
import { RECORD_STRIDE, RecordField, RecordKind, codeKind } from './recording.js';

export const CTL_COUNT = 0;
export const CTL_SEQ = 1;
export const CTL_MIN_US = 2;
const CTL_RAISES = 3;
const CTL_HISTORY = 4;
/** Raises kept in the history: the ladder below has 24 steps, so no thread raises more often. */
const MAX_RAISES = 24;
export const CTL_SLOTS = CTL_HISTORY + 2 * MAX_RAISES;

/** Minimum durations a full ring may raise to, µs: round 1-2-5 steps, 0.1 µs to 50 s. */
const LADDER_US = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6];

/** One raise of a thread's minimum duration: when (µs on the thread's clock) and to what (µs). */
export interface MinDurationRaise {
  atUs: number;
  minUs: number;
}

export function initControl(ctl: Float64Array, minUs: number): void {
  ctl.fill(0);
  ctl[CTL_MIN_US] = minUs;
}

/** The minimum in force (µs) and its raises, read from a control block. */
export function readThinning(ctl: Float64Array): { minDurationUs: number; raises: MinDurationRaise[] } {
  const raises: MinDurationRaise[] = [];
  const n = Math.min(ctl[CTL_RAISES] ?? 0, MAX_RAISES);
  for (let k = 0; k < n; k++) raises.push({ atUs: ctl[CTL_HISTORY + 2 * k]!, minUs: ctl[CTL_HISTORY + 2 * k + 1]! });
  return { minDurationUs: ctl[CTL_MIN_US] ?? 0, raises };
}

/**
 * Raises the minimum of a full ring (`count` records in `buf`, oldest first, times in ms) and
 * compacts it in place. Returns the records kept, or -1 when no step of the ladder frees half of
 * the ring (then nothing was changed: the caller falls back to overwriting the oldest records).
 */
export function thinRing(buf: Float64Array, count: number, ctl: Float64Array, nowMs: number): number {
  const raises = ctl[CTL_RAISES]!;
  const currentUs = ctl[CTL_MIN_US]!;
  if (raises >= MAX_RAISES) return -1;
  // Removed by step j: records shorter than LADDER_US[j] (spans are the user's and always stay).
  const steps = LADDER_US.length;
  const hist = new Float64Array(steps + 1);
  for (let o = 0, i = 0; i < count; i++, o += RECORD_STRIDE) {
    if (alwaysKept(codeKind(buf[o + RecordField.Code]!))) continue;
    const us = (buf[o + RecordField.End]! - buf[o + RecordField.Start]!) * 1000;
    let j = 0;
    while (j < steps && us >= LADDER_US[j]!) j++;
    hist[j]!++;
  }
  let removed = 0,
    step = -1;
  for (let j = 0; j < steps; j++) {
    removed += hist[j]!;
    if (LADDER_US[j]! > currentUs && removed * 2 >= count) {
      step = j;
      break;
    }
  }
  if (step < 0) return -1;
  const minUs = LADDER_US[step]!;
  const minMs = minUs / 1000;
  ctl[CTL_SEQ]!++;
  let kept = 0;
  for (let o = 0, i = 0; i < count; i++, o += RECORD_STRIDE) {
    const kind = codeKind(buf[o + RecordField.Code]!);
    if (!alwaysKept(kind)) {
      // An async Cause goes with the Callback it precedes (see RecordKind.Cause): both or neither.
      const q = kind === RecordKind.Cause && i + 1 < count && isCausedCallback(buf, o + RECORD_STRIDE) ? o + RECORD_STRIDE : o;
      if (buf[q + RecordField.End]! - buf[q + RecordField.Start]! < minMs) continue;
    }
    if (kept !== i) {
      const d = kept * RECORD_STRIDE;
      for (let f = 0; f < RECORD_STRIDE; f++) buf[d + f] = buf[o + f]!;
    }
    kept++;
  }
  ctl[CTL_COUNT] = kept;
  ctl[CTL_MIN_US] = minUs;
  ctl[CTL_HISTORY + 2 * raises] = nowMs * 1000;
  ctl[CTL_HISTORY + 2 * raises + 1] = minUs;
  ctl[CTL_RAISES] = raises + 1;
  ctl[CTL_SEQ]!++;
  return kept;
}

/** Spans are the user's, and a SpanParent marks the span that follows it: both always stay. */
function alwaysKept(kind: RecordKind): boolean {
  return kind === RecordKind.Span || kind === RecordKind.SpanParent;
}

/** The record at `o` is a Callback whose Cause is the record before it. */
function isCausedCallback(buf: Float64Array, o: number): boolean {
  return codeKind(buf[o + RecordField.Code]!) === RecordKind.Callback && buf[o + RecordField.Inst] === 1;
}
