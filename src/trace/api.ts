/**
 * In-process API for a traced program (or a harness such as `stackscope bench`): add spans,
 * ask whether tracing is on, cut a trace on demand, take/clear this thread's records.
 * Everything here is a no-op or an explicit error when the process is not being traced.
 */
import path from 'node:path';
import { isMainThread, threadId } from 'node:worker_threads';
import { currentRecorder, type Recorder } from '../recorder/index.js';
import { flushGc } from '../recorder/index.js';
import { groupProcesses } from '../recorder/index.js';
import { workerRegistry } from '../recorder/index.js';
import type { ThreadRecording } from '../recorder/protocol.js';
import { isGzipPath, writeTrace } from './build.js';
import { replaceFile } from '../util/output-file.js';
import { oneLine } from '../util/errors.js';
import { liveSampler } from './sampling.js';
import { TraceSamples } from './samples.js';
import { omittedSummary, type MinDurationRaised, type ThrottledSummary } from './summary.js';

export { span } from '../recorder/index.js';

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
    snapshot: () => {
      flushGc();
      return rec.snapshot();
    },
    clear: () => rec.clear(),
  };
}

export interface SaveTraceResult {
  path: string;
  events: number;
  threads: number;
  dropped: number;
  /** functions no longer timed (throttled), as in `stackscope trace`'s summary */
  throttled?: ThrottledSummary;
  /** a full ring raised the minimum duration, as in `stackscope trace`'s summary */
  minDurationRaised?: MinDurationRaised;
  /** `--sample`: CPU samples written (the calling thread's only) */
  samples?: number;
  /** `--sample`: threads of the trace without samples, and why */
  samplesIncomplete?: Array<{ thread: string; why: string }>;
}

/** Why saveTrace() leaves other threads' samples out: each thread's profiler answers only in that thread. */
export const OTHER_THREADS_UNSAMPLED =
  "no CPU samples: saveTrace() writes the samples of the thread that calls it only; they are in the trace written at the process's end";

/**
 * Writes a trace of everything recorded so far. Called on the main thread it includes every
 * worker thread (read from their shared rings, even one busy in a loop); called in a worker, that
 * worker only. Recording goes on afterwards. Synchronous: usable in an 'exit' handler. The file
 * is replaced by a complete new one, never written through a link at `outPath`.
 */
export function saveTrace(outPath: string): SaveTraceResult {
  const rec = currentRecorder();
  if (!rec) throw new Error('stackscope: not tracing (run the program with `stackscope trace`)');
  const startUs = rec.nowUs();
  try {
    return saveTraceOf(rec, outPath);
  } finally {
    // Called inside a traced call: its time writing is stackscope's, drawn as a slice of its own
    // under that call (in the traces written later) instead of as the call's self time.
    if (rec.callDepth > 0) rec.recordSpan(SAVE_TRACE_SPAN, startUs, rec.nowUs(), 0, rec.callDepth);
  }
}

/** Name of the span that marks saveTrace()'s own work inside a traced call. */
export const SAVE_TRACE_SPAN = "stackscope: saveTrace() writing a trace (not the program's time)";

function saveTraceOf(rec: Recorder, outPath: string): SaveTraceResult {
  flushGc();
  const own = rec.snapshot();
  const others = isMainThread ? (workerRegistry()?.snapshots() ?? []) : [];
  const label = ['node', process.argv[1] ? path.relative(process.cwd(), process.argv[1]) : '', ...process.argv.slice(2)]
    .filter(Boolean)
    .join(' ');
  const threads = [own, ...others.filter((t) => !(t.pid === own.pid && t.tid === own.tid))];
  const processes = groupProcesses(threads.map((recording) => ({ recording, processName: label })));
  const dropped = threads.reduce((n, t) => n + t.dropped + t.droppedNodeEvents, 0);
  const samples = samplesSoFar(own);
  const summary = replaceFile(path.resolve(outPath), (tmp) =>
    writeTrace(tmp, processes, {
      gzip: isGzipPath(outPath),
      metadata: { onDemand: true, savedBy: isMainThread ? 'main' : `worker ${threadId}` },
      samples,
    }),
  );
  return {
    path: path.resolve(outPath),
    events: summary.events,
    threads: threads.length,
    dropped,
    ...omittedSummary(summary.throttled, summary.minDurations),
    ...(samples ? { samples: samples.written, samplesIncomplete: samples.gaps.map(({ thread, why }) => ({ thread, why })) } : {}),
  };
}

/** Under `--sample`: the calling thread's samples so far (its profiler goes on). */
function samplesSoFar(own: ThreadRecording): TraceSamples | undefined {
  const sampler = liveSampler();
  if (!sampler) return undefined;
  try {
    return new TraceSamples([[own, sampler.samplesSoFar(own.pid, own.tid)]], process.cwd(), OTHER_THREADS_UNSAMPLED);
  } catch (err) {
    return new TraceSamples([], process.cwd(), `no CPU samples: ${oneLine(err)}`);
  }
}
