/**
 * In-process API for a traced program (or a harness such as `stackscope bench`): add spans,
 * ask whether tracing is on, cut a trace on demand, take/clear this thread's records.
 * Everything here is a no-op or an explicit error when the process is not being traced.
 */
import path from 'node:path';
import { isMainThread, threadId } from 'node:worker_threads';
import { currentRecorder } from '../recorder/current.js';
import { flushGc } from '../recorder/channels.js';
import { groupProcesses } from '../recorder/group.js';
import { requestSnapshots } from '../recorder/snapshot-bus.js';
import type { ThreadRecording } from '../recorder/recording.js';
import { writeTrace } from './build.js';

export { span } from '../recorder/span.js';

/** True when this thread runs under the stackscope recorder (`stackscope trace` or its preload). */
export function isTracing(): boolean {
  return currentRecorder() !== undefined;
}

export interface ThreadRecorderHandle {
  /** Copy of this thread's records so far (times in µs since performance.timeOrigin). */
  snapshot(): ThreadRecording;
  /** Forgets the records so far; function ids stay valid. */
  clear(): void;
}

/** This thread's recorder; throws when not tracing. */
export function getRecorder(): ThreadRecorderHandle {
  const rec = currentRecorder();
  if (!rec) throw new Error('stackscope: not tracing (run the program with `stackscope trace`)');
  return {
    snapshot: () => { flushGc(); return rec.snapshot(); },
    clear: () => rec.clear(),
  };
}

export interface SaveTraceResult {
  path: string;
  events: number;
  threads: number;
  dropped: number;
}

/**
 * Writes a trace of everything recorded so far by every thread of this process that answers
 * within `timeoutMs` (a worker stuck in a synchronous loop cannot answer and is left out).
 * Recording goes on afterwards.
 */
export async function saveTrace(outPath: string, opts: { timeoutMs?: number } = {}): Promise<SaveTraceResult> {
  const rec = currentRecorder();
  if (!rec) throw new Error('stackscope: not tracing (run the program with `stackscope trace`)');
  flushGc();
  const own = rec.snapshot();
  const others = await requestSnapshots(opts.timeoutMs ?? 250);
  const label = ['node', process.argv[1] ? path.relative(process.cwd(), process.argv[1]) : '', ...process.argv.slice(2)].filter(Boolean).join(' ');
  const threads = [own, ...others.filter((t) => !(t.pid === own.pid && t.tid === own.tid))];
  const processes = groupProcesses(threads.map((recording) => ({ recording, processName: label })));
  const dropped = threads.reduce((n, t) => n + t.dropped + t.droppedNodeEvents, 0);
  const summary = writeTrace(path.resolve(outPath), processes, {
    metadata: { onDemand: true, savedBy: isMainThread ? 'main' : `worker ${threadId}`, droppedRecords: dropped },
  });
  return { path: path.resolve(outPath), events: summary.events, threads: threads.length, dropped };
}
