/**
 * What a written trace's summary says about the calls it does not show, from the writer's result:
 * shared by `stackscope trace` (its summary line and `--json`) and saveTrace() (its return value).
 * Light on purpose: the CLI loads it before the program starts.
 */
import { frameLabel } from '../model/frame.js';
import type { ThreadMinDuration } from './min-duration.js';
import type { ThreadThrottled } from './throttled.js';

/**
 * Functions no longer timed (throttled): how many distinct ones (a function throttled in two
 * threads counts once), in how many threads, the first few labels, after how many calls in a row
 * shorter than the minimum (the highest of the threads'), and how many were timed again.
 */
export interface ThrottledSummary {
  functions: number;
  threads: number;
  after: number;
  labels: string[];
  timedAgain: number;
}

/** A full ring raised the minimum duration: the highest one, µs, when it was first raised (ms into the trace), in how many threads. */
export interface MinDurationRaised {
  minDurationUs: number;
  firstAtMs: number;
  threads: number;
}

export interface OmittedSummary {
  throttled?: ThrottledSummary;
  minDurationRaised?: MinDurationRaised;
}

/** The summary's `throttled` and `minDurationRaised`, each present only when it happened. */
export function omittedSummary(throttled: ThreadThrottled[], minDurations: ThreadMinDuration[]): OmittedSummary {
  const out: OmittedSummary = {};
  if (throttled.length > 0) {
    const labels = [...new Set(throttled.flatMap((t) => t.functions.map(frameLabel)))];
    const again = new Set(throttled.flatMap((t) => t.functions.filter((f) => f.until !== undefined).map(frameLabel)));
    out.throttled = {
      functions: labels.length,
      threads: throttled.length,
      after: Math.max(...throttled.map((t) => t.after)),
      labels: labels.slice(0, 4),
      timedAgain: again.size,
    };
  }
  const raised = minDurations.filter((t) => t.raisedAt.length > 0);
  if (raised.length > 0) {
    out.minDurationRaised = {
      minDurationUs: Math.max(...raised.map((t) => t.minDurationUs)),
      firstAtMs: Math.min(...raised.map((t) => t.raisedAt[0]!)) / 1000,
      threads: raised.length,
    };
  }
  return out;
}
