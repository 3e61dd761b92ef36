/**
 * What a bench child does around a strategy run to observe it: nothing, keep the tracer's
 * recording of the run, or keep a V8 CPU profile of it. Each observer keeps one representative
 * recording per strategy, because a trace of an outlier run would explain the wrong thing.
 */
import inspector from 'node:inspector';
import type { ThreadRecording } from '../recorder/protocol.js';
import { RUNTIME_GLOBAL } from '../recorder/protocol.js';
import type { CpuProfile } from '../formats/cpuprofile.js';
import { median } from './stats.js';
import { poster } from '../util/inspector.js';
import { clockOriginUs, type ThreadSamplesFile } from '../trace/index.js';

export interface Observer<R> {
  /** called just before the timed region */
  before(): Promise<void> | void;
  /** called just after it; returns what was recorded */
  after(): Promise<R> | R;
}

/**
 * Holds the representative recording per strategy: after each run, whichever of the kept and the
 * new recording is closer to the median of all runs so far. Only one recording per strategy is held (a trace can be
 * hundreds of MB), so the pick is close to, not always exactly at, the final median.
 */
export class Keeper<R> {
  private kept = new Map<string, { ms: number; rec: R }>();
  private times = new Map<string, number[]>();

  offer(strategy: string, ms: number, rec: R): void {
    const ts = this.times.get(strategy) ?? [];
    ts.push(ms);
    this.times.set(strategy, ts);
    const mid = median(ts);
    const cur = this.kept.get(strategy);
    if (!cur || Math.abs(ms - mid) <= Math.abs(cur.ms - mid)) this.kept.set(strategy, { ms, rec });
  }

  entries(): [string, R][] {
    return [...this.kept].map(([k, v]) => [k, v.rec]);
  }

  /** Duration of the kept run, ms. */
  msOf(strategy: string): number | undefined {
    return this.kept.get(strategy)?.ms;
  }
}

/** The live recorder's in-process handle (the tracer's getRecorder() contract). */
interface RecorderHandle {
  snapshot(): ThreadRecording;
  clear(): void;
}

export function liveRecorder(): RecorderHandle | undefined {
  const rt = (globalThis as Record<string, unknown>)[RUNTIME_GLOBAL] as Partial<RecorderHandle> | undefined;
  return rt && typeof rt.snapshot === 'function' && typeof rt.clear === 'function' ? (rt as RecorderHandle) : undefined;
}

export interface TracedRun {
  rec: ThreadRecording;
  /** the run's start on the recording's clock (µs since timeOrigin), to align strategies */
  startUs: number;
  /** `--mode trace --sample`: the run's CPU samples, source-mapped, times on the recording's clock */
  samples?: ThreadSamplesFile;
}

export function traceObserver(recorder: RecorderHandle): Observer<TracedRun> {
  let startUs = 0;
  return {
    before() {
      recorder.clear();
      startUs = performance.now() * 1000;
    },
    after() {
      return { rec: recorder.snapshot(), startUs };
    },
  };
}

/**
 * Trace and sample the same run (`--mode trace --sample`): the profiler starts before the tracer's
 * window and stops after it, and its times are moved onto the recording's clock.
 */
export function tracedAndSampledObserver(
  trace: Observer<TracedRun>,
  sample: Observer<CpuProfile>,
  intervalUs: number,
  remap: (p: CpuProfile) => CpuProfile,
): Observer<TracedRun> {
  return {
    async before() {
      await sample.before();
      await trace.before();
    },
    async after() {
      const run = await trace.after();
      const profile = remap(await sample.after());
      const originUs = clockOriginUs();
      profile.startTime -= originUs;
      profile.endTime -= originUs;
      return { ...run, samples: { pid: run.rec.pid, tid: run.rec.tid, intervalUs, profile, originUs } };
    },
  };
}

export function sampleObserver(intervalUs: number): Observer<CpuProfile> & { close(): void } {
  const session = new inspector.Session();
  session.connect();
  const post = poster(session);
  let enabled = false;
  return {
    async before() {
      if (!enabled) {
        await post('Profiler.enable');
        await post('Profiler.setSamplingInterval', { interval: intervalUs });
        enabled = true;
      }
      await post('Profiler.start');
    },
    async after() {
      return (await post<{ profile: CpuProfile }>('Profiler.stop')).profile;
    },
    close() {
      session.disconnect();
    },
  };
}
