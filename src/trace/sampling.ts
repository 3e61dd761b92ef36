/**
 * `stackscope trace --sample`, in the traced thread: V8's CPU profiler runs through an in-thread
 * inspector session (main thread and worker threads alike) while the recorder traces, and at the
 * thread's end the profile is source-mapped and written next to the thread's dump, its times
 * already on the recorder's clock.
 *
 * The clocks: V8 stamps samples with its monotonic clock in µs (CLOCK_MONOTONIC on Linux, the
 * clock `process.hrtime` reads), and the recorder stamps calls with `performance.now()`, which is
 * that same clock minus the thread's time origin. So `recorder µs = V8 µs - origin`, where origin
 * is read once as `hrtime - performance.now()` (the smallest of a few back-to-back pairs).
 * Both the offset and the per-sample check are tested (test/trace-sample.test.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import inspector from 'node:inspector';
import { performance } from 'node:perf_hooks';
import { requireOwn } from '../instrument/protocol.js';
import type { CpuProfile } from '../formats/cpuprofile.js';
import { replaceFile } from '../util/output-file.js';
import { SAMPLER_GLOBAL } from './preload-env.js';

/**
 * The sample stage (source maps, joining profiles), loaded once the samples are saved: at start
 * only the profiler is started, so `--sample` adds little to the program's start-up.
 */
function sampleStage(): typeof import('../sample/protocol.js') {
  return requireOwn<typeof import('../sample/protocol.js')>(import.meta.url, '../sample/protocol.js');
}

/** File suffix of a thread's samples in the dump directory (beside its `.ssdump`). */
export const SAMPLES_EXT = '.samples.json';

/** What a thread leaves in the dump directory. */
export interface ThreadSamplesFile {
  pid: number;
  tid: number;
  intervalUs: number;
  /** the profile, source-mapped; startTime and endTime in µs on the recorder's clock */
  profile: CpuProfile;
  /** µs subtracted from V8's timestamps (V8 µs - recorder µs) */
  originUs: number;
  /** set when the samples end before the thread did, saying why */
  partial?: string;
}

const RESTART_FAILED = 'the profiler could not be restarted after saveTrace(): later calls have no samples';

/** Why a worker's samples end early when the main thread stopped its profiler at the process's exit. */
export const KILLED_AT_EXIT =
  "stopped at the process's exit, which then killed the thread: its calls from that moment until it was killed have no samples";

export function samplesFileName(pid: number, tid: number): string {
  return `${pid}-${tid}${SAMPLES_EXT}`;
}

/** Where the recorder's clock starts on V8's clock, µs: `hrtime - performance.now()`. */
export function clockOriginUs(): number {
  let best = Infinity;
  let origin = 0;
  for (let i = 0; i < 5; i++) {
    const a = process.hrtime.bigint();
    const p = performance.now();
    const b = process.hrtime.bigint();
    const spread = Number(b - a);
    if (spread < best) {
      best = spread;
      // the midpoint of the two hrtime reads is when performance.now() was read
      origin = Number((a + b) / 2n) / 1000 - p * 1000;
    }
  }
  return origin;
}

export interface ThreadSampler {
  /** Stops the profiler and writes this thread's samples into `dir`; once; never throws. */
  stop(dir: string, pid: number, tid: number, partial?: string): void;
  /**
   * This thread's samples so far, for saveTrace(): the profiler is stopped and started again at
   * once (V8 gives a profile only when it stops), and the samples stay for the final trace. Throws
   * when the profiler cannot give them.
   */
  samplesSoFar(pid: number, tid: number): ThreadSamplesFile;
}

/** The live sampler of this thread, put where saveTrace() finds it (see preload-env.ts). */
export function liveSampler(): ThreadSampler | undefined {
  const s = (globalThis as Record<symbol, unknown>)[Symbol.for(SAMPLER_GLOBAL)] as Partial<ThreadSampler> | undefined;
  return s && typeof s.samplesSoFar === 'function' ? (s as ThreadSampler) : undefined;
}

/**
 * Starts sampling this thread every `intervalUs`. Failures go to `warn` (once) and leave the
 * program running untouched; undefined when the profiler could not start.
 */
export function startSampling(intervalUs: number, warn: (what: string, err: unknown) => void): ThreadSampler | undefined {
  const session = new inspector.Session();
  try {
    session.connect();
    // In-thread sessions answer synchronously: an error comes back through the callback at once.
    const post = (method: string, params?: object): void => {
      let failure: Error | null = null;
      session.post(method, params, (err) => {
        failure = err;
      });
      if (failure) throw failure;
    };
    post('Profiler.enable');
    post('Profiler.setSamplingInterval', { interval: intervalUs });
    post('Profiler.start');
  } catch (err) {
    warn('could not start the CPU profiler, the trace has no samples', err);
    try {
      session.disconnect();
    } catch {
      /* not connected */
    }
    return undefined;
  }
  let stopped = false;
  /** false once a restart for saveTrace() failed: the samples until then are still kept */
  let running = true;
  /** raw profiles of earlier profiler runs (saveTrace restarts it), on V8's clock */
  const chunks: CpuProfile[] = [];
  const stopProfiler = (): CpuProfile => {
    let profile: CpuProfile | undefined;
    let failure: Error | null = null;
    session.post('Profiler.stop', (err, res) => {
      failure = err;
      if (res) profile = res.profile as unknown as CpuProfile;
    });
    if (failure || !profile) throw failure ?? new Error('the profiler returned no profile');
    return profile;
  };
  /**
   * every sample so far as one profile, source-mapped, on the recorder's clock; a new object unless
   * `last` (the chunks are not used again, so they need no copy)
   */
  const fileOf = (pid: number, tid: number, partial?: string, last = false): ThreadSamplesFile => {
    const { chainSourceMaps, diskSourceMaps, inProcessSourceMaps, joinProfiles, sourceMapProfile } = sampleStage();
    const joined = joinProfiles(chunks);
    const profile = last ? joined : structuredClone(joined);
    sourceMapProfile(profile, chainSourceMaps(inProcessSourceMaps(), diskSourceMaps()));
    const originUs = clockOriginUs();
    profile.startTime -= originUs;
    profile.endTime -= originUs;
    return { pid, tid, intervalUs, profile, originUs, ...(partial ? { partial } : {}) };
  };
  const sampler: ThreadSampler = {
    stop(dir, pid, tid, partial) {
      if (stopped) return;
      stopped = true;
      Reflect.deleteProperty(globalThis, Symbol.for(SAMPLER_GLOBAL));
      try {
        try {
          if (running) chunks.push(stopProfiler());
        } finally {
          session.disconnect();
        }
        const file = fileOf(pid, tid, partial ?? (running ? undefined : RESTART_FAILED), true);
        replaceFile(path.join(dir, samplesFileName(pid, tid)), (tmp) => fs.writeFileSync(tmp, JSON.stringify(file)));
      } catch (err) {
        warn('could not save the CPU samples of this thread', err);
      }
    },
    samplesSoFar(pid, tid) {
      if (stopped || !running) throw new Error('the profiler of this thread has stopped');
      chunks.push(stopProfiler());
      let failure: Error | null = null;
      session.post('Profiler.start', (err) => {
        failure = err;
      });
      if (failure) {
        running = false;
        warn('could not restart the CPU profiler after saveTrace(), later samples are lost', failure);
      }
      return fileOf(pid, tid);
    },
  };
  Object.defineProperty(globalThis, Symbol.for(SAMPLER_GLOBAL), { value: sampler, configurable: true, enumerable: false, writable: false });
  return sampler;
}

/**
 * A worker killed by the main thread's exit never runs its own exit code, so it cannot stop its
 * profiler: the main thread asks it to. This installs the function it calls (a hidden global).
 */
const FLUSH = Symbol.for('stackscope.flushSamples');

export function offerSamplesToMain(sampler: ThreadSampler, dir: string, pid: number, tid: number): void {
  Object.defineProperty(globalThis, FLUSH, {
    value: () => sampler.stop(dir, pid, tid, KILLED_AT_EXIT),
    configurable: true,
    enumerable: false,
    writable: false,
  });
}

/** How long the main thread's exit waits, at most, for its workers to save their samples. */
export const FLUSH_WAIT_MS = 2000;

/**
 * In the main thread's exit: has each worker in `tids` (still running: the exit is about to kill
 * it) stop its profiler and save its samples, and waits for them, at most FLUSH_WAIT_MS in all.
 * The request goes through the main thread's own inspector session to each worker's inspector
 * (`NodeWorker`), whose messages a worker handles even while busy in a synchronous loop: it runs
 * the function offerSamplesToMain installed. Both ends are synchronous: the main thread's event
 * loop no longer turns here. Returns the tids whose samples did not arrive; never throws.
 */
export function flushWorkerSamples(dir: string, pid: number, tids: number[], warn: (what: string, err: unknown) => void): number[] {
  if (tids.length === 0) return [];
  const waiting = new Set<number>();
  const session = new inspector.Session();
  try {
    session.connect();
    const attached: Array<{ sessionId: string; workerInfo: { workerId: string } }> = [];
    session.on('NodeWorker.attachedToWorker', (m) => attached.push(m.params as (typeof attached)[number]));
    // Workers that exist are announced during this call (in-thread sessions answer synchronously).
    session.post('NodeWorker.enable', { waitForDebuggerOnStart: false });
    const expression = `globalThis[Symbol.for(${JSON.stringify(FLUSH.description)})]?.()`;
    for (const a of attached) {
      const tid = Number(a.workerInfo.workerId);
      if (!tids.includes(tid)) continue;
      const message = JSON.stringify({ id: 1, method: 'Runtime.evaluate', params: { expression, silent: true } });
      session.post('NodeWorker.sendMessageToWorker', { sessionId: a.sessionId, message });
      waiting.add(tid);
    }
    const deadline = performance.now() + FLUSH_WAIT_MS;
    const nap = new Int32Array(new SharedArrayBuffer(4));
    while (waiting.size && performance.now() < deadline) {
      for (const tid of waiting) if (fs.existsSync(path.join(dir, samplesFileName(pid, tid)))) waiting.delete(tid);
      if (waiting.size) Atomics.wait(nap, 0, 0, 5);
    }
  } catch (err) {
    warn('could not ask the worker threads for their CPU samples', err);
  }
  try {
    session.disconnect();
  } catch {
    /* not connected */
  }
  return tids.filter((t) => !fs.existsSync(path.join(dir, samplesFileName(pid, t))));
}
