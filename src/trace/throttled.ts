/**
 * Saying in the trace which functions were throttled (recorder/runtime.ts): after that many calls
 * in a row, each shorter than the minimum duration in force and with no traced call inside, a
 * function's calls were no longer timed. None of those calls would have been kept (they were
 * shorter than the minimum), but a later, longer call of the function is missing too: its time is
 * inside its caller's slice and shows as the caller's self time. An instant on the thread's track
 * where each function was throttled, and the metadata, say so.
 */
import { argsBytes, instantHead } from '../formats/trace-event.js';
import type { ThreadRecording } from '../recorder/protocol.js';
import { formatUs, thousands } from '../util/numbers.js';

/** A thread's throttled functions: what the trace's metadata and the summary say. */
export interface ThreadThrottled {
  pid: number;
  tid: number;
  thread: string;
  /** calls in a row shorter than minDurationUs (no traced call inside) that throttled a function */
  after: number;
  minDurationUs: number;
  /** in the order they were throttled; at: trace µs */
  functions: Array<{ name: string; file: string; line: number; at: number }>;
}

export const THROTTLED_NOTE =
  "functions whose last `after` calls were each shorter than the thread's minimum duration (and made no traced call) were throttled: from `at` (trace µs) on, their calls were not timed; a later call longer than the minimum is missing too, and its time shows as its caller's self time (`stackscope trace --throttle 0` times every call)";

interface Writer {
  instant(head: Uint8Array, ts: number, track: Uint8Array, args?: Uint8Array): void;
}

/** Instants where the thread's functions were throttled; the metadata entry, or undefined when none was. */
export function writeThrottled(
  writer: Writer,
  th: ThreadRecording,
  pid: number,
  base: number,
  track: Uint8Array,
): ThreadThrottled | undefined {
  if (!th.throttled?.length) return undefined;
  const after = th.throttleAfter ?? 0;
  const minUs = th.minDurationUs ?? 0;
  const functions: ThreadThrottled['functions'] = [];
  for (const { id, atUs } of th.throttled) {
    const fi = th.functions[id];
    if (!fi) continue;
    const at = Math.round((base + atUs) * 1000) / 1000;
    functions.push({ name: fi.name, file: fi.file, line: fi.line, at });
    const name = `throttled: ${fi.name} (no longer timed)`;
    const args = {
      function: fi.name,
      file: fi.file,
      line: fi.line,
      note: `its last ${thousands(after)} calls were each shorter than ${formatUs(minUs)} µs and made no traced call; from here on its calls are not timed, and a longer one would show as its caller's self time`,
    };
    writer.instant(instantHead(JSON.stringify(name)), at, track, argsBytes(JSON.stringify(args)));
  }
  return { pid, tid: th.tid, thread: th.threadName, after, minDurationUs: minUs, functions };
}
