/**
 * Saying in the trace that short calls are missing. A thread whose ring filled raised its minimum
 * duration (recorder/thinning.ts) and removed the shorter records, old and new: its trace covers
 * the whole run, without the calls shorter than the last minimum. A removed call ran inside its
 * caller, so its time is still inside the caller's slice, and DevTools (self = dur − children)
 * counts it as the caller's self time: the metadata and an instant at each raise say so.
 */
import { argsBytes, instantHead, round3 } from '../formats/trace-event.js';
import type { ThreadRecording } from '../recorder/protocol.js';
import { formatUs } from '../util/numbers.js';

/** A thread recorded without its short calls: what the trace's metadata and the summary say. */
export interface ThreadMinDuration {
  pid: number;
  tid: number;
  thread: string;
  /** calls shorter than this many µs are not in the trace, over the whole run */
  minDurationUs: number;
  /** trace µs at which the full ring raised the minimum (none: set by the user) */
  raisedAt: number[];
}

export const MIN_DURATION_NOTE =
  "calls shorter than minDurationUs are not in these threads' tracks, over the whole run (raisedAt: when a full ring buffer raised the minimum, which also removed the shorter calls already recorded); a missing call ran inside its caller, so its time is part of the caller's slice and shows as the caller's self time";

interface Writer {
  instant(head: Uint8Array, ts: number, track: Uint8Array, args?: Uint8Array): void;
}

/**
 * Instants on the thread's track where its minimum was raised; returns what the metadata says
 * about the thread, or undefined when every call was recorded.
 */
export function writeMinDuration(
  writer: Writer,
  th: ThreadRecording,
  pid: number,
  base: number,
  track: Uint8Array,
): ThreadMinDuration | undefined {
  const minUs = th.minDurationUs ?? 0;
  if (!(minUs > 0)) return undefined;
  const raisedAt: number[] = [];
  let previous = th.minDurationRaises?.length ? -1 : minUs;
  for (const r of th.minDurationRaises ?? []) {
    const ts = round3(base + r.atUs);
    raisedAt.push(ts);
    const name = `ring buffer full: minimum duration raised to ${formatUs(r.minUs)} µs (calls shorter than ${formatUs(minUs)} µs are not in this trace)`;
    const args = {
      minDurationUs: r.minUs,
      ...(previous >= 0 ? { previousUs: previous } : {}),
      finalMinDurationUs: minUs,
      note: `from here on calls shorter than ${formatUs(r.minUs)} µs are not recorded, and the shorter ones recorded before were removed; a missing call's time shows as its caller's self time`,
    };
    writer.instant(instantHead(JSON.stringify(name)), ts, track, argsBytes(JSON.stringify(args)));
    previous = r.minUs;
  }
  return { pid, tid: th.tid, thread: th.threadName, minDurationUs: minUs, raisedAt };
}
