/**
 * Saying in the trace which functions were throttled (recorder/runtime.ts): after that many calls
 * in a row, each shorter than the minimum duration then in force and with no traced call inside, a
 * function's calls were no longer timed. None of those calls would have been kept (they were
 * shorter than the minimum), but a later, longer call of the function is missing too: its time is
 * inside its caller's slice, which says so (`args.untimed`, written by the builder), and shows as
 * the caller's self time. A throttled function whose call later made a traced call is timed again
 * from then on; that one call is missing, and its traced calls are drawn under its caller. An
 * instant on the thread's track at each of these moments, and the metadata, say so.
 */
import { argsBytes, instantHead, round3 } from '../formats/trace-event.js';
import { frameLabel } from '../model/frame.js';
import type { ThreadRecording } from '../recorder/protocol.js';
import { formatUs, thousands } from '../util/numbers.js';

/** A thread's throttled functions: what the trace's metadata and the summary say. */
export interface ThreadThrottled {
  pid: number;
  tid: number;
  thread: string;
  /** calls in a row, each shorter than the minimum (no traced call inside), that throttled a function */
  after: number;
  /**
   * in the order they were throttled; at: trace µs; minDurationUs: the minimum then; until: trace
   * µs from which it was timed again (a call of it made a traced call, or the stack grew too deep)
   */
  functions: Array<{ name: string; file: string; line: number; at: number; minDurationUs: number; until?: number }>;
}

export const THROTTLED_NOTE =
  'functions whose last `after` calls were each shorter than the minimum duration then in force (minDurationUs) and made no ' +
  'traced call were throttled: from `at` (trace µs) on their calls were not timed. A longer call after that is missing too: its ' +
  "time is part of its caller's slice and shows as that slice's self time, and that slice says so (args.untimed: " +
  '"throttled calls"; for an async function or a generator, the running segment that made the call). `until`: timed again from then on, because a call ' +
  'of the function made a traced call (that call is missing, and its calls are drawn under its caller) or the stack grew deeper ' +
  'than 65,535 calls. `stackscope trace --throttle 0` times every call';

/**
 * What a slice that ran calls of throttled functions carries in its args (`untimed`): short, as a
 * third of a real package's slices can carry it; THROTTLED_NOTE says what it means.
 */
export const UNTIMED_ARG = 'throttled calls';

interface Writer {
  instant(head: Uint8Array, ts: number, track: Uint8Array, args?: Uint8Array): void;
}

/** Instants where the thread's functions were throttled (and timed again); the metadata entry, or undefined when none was. */
export function writeThrottled(
  writer: Writer,
  th: ThreadRecording,
  pid: number,
  base: number,
  track: Uint8Array,
): ThreadThrottled | undefined {
  if (!th.throttled?.length) return undefined;
  const after = th.throttleAfter ?? 0;
  const functions: ThreadThrottled['functions'] = [];
  for (const { id, atUs, minUs, untilUs } of th.throttled) {
    const fi = th.functions[id];
    if (!fi) continue;
    const label = frameLabel(fi);
    const at = round3(base + atUs);
    const until = untilUs === undefined ? undefined : round3(base + untilUs);
    functions.push({ name: fi.name, file: fi.file, line: fi.line, at, minDurationUs: minUs, ...(until === undefined ? {} : { until }) });
    const note = `its last ${thousands(after)} calls were each shorter than ${formatUs(minUs)} µs and made no traced call: from here on its calls are not timed, and a longer one is part of its caller's self time (the caller's slice says so in args.untimed)`;
    writer.instant(instantHead(JSON.stringify(`throttled: ${label}`)), at, track, argsBytes(JSON.stringify({ note })));
    if (until !== undefined) {
      const again =
        'timed again from here on: a call of it made a traced call (that call is not in the trace, and what it called is drawn under its caller), or the stack grew deeper than 65,535 calls';
      writer.instant(instantHead(JSON.stringify(`timed again: ${label}`)), until, track, argsBytes(JSON.stringify({ note: again })));
    }
  }
  return { pid, tid: th.tid, thread: th.threadName, after, functions };
}
