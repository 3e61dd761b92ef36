/**
 * Drives V8's CPU profiler through an inspector session in windows: profile for `windowMs`, stop,
 * restart at once, hand the finished profile on. Restarting bounds the profiler's memory (V8 keeps
 * every sample of a running profile) and gives the history its time windows.
 *
 * One profiler per session, so every operation goes through one queue; `record` borrows the profiler
 * for an on-demand profile at a finer interval and feeds a thinned copy back as an ordinary window,
 * so the continuous data keeps its rate and loses nothing.
 */
import type { Session } from 'node:inspector';
import type { CpuProfile } from '../formats/cpuprofile.js';

type Post = <T = unknown>(method: string, params?: Record<string, unknown>) => Promise<T>;

export function poster(session: Session): Post {
  return <T>(method: string, params?: Record<string, unknown>) => new Promise<T>((resolve, reject) => {
    session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res as T)));
  });
}

/** Keeps one sample per `intervalUs` of a finer profile, so it weighs as a coarse one would. */
export function thinProfile(p: CpuProfile, intervalUs: number): CpuProfile {
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  let ts = p.startTime;
  let lastKept = p.startTime;
  let next = p.startTime;
  const src = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < src.length; i++) {
    ts += deltas[i] ?? 0;
    if (ts < next) continue;
    samples.push(src[i]!);
    timeDeltas.push(ts - lastKept);
    lastKept = ts;
    next += intervalUs * Math.max(1, Math.floor((ts - next) / intervalUs) + 1);
  }
  return { ...p, samples, timeDeltas };
}

export class WindowSampler {
  private readonly post: Post;
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private stopped = false;
  busyRecording = false;

  constructor(session: Session, readonly intervalUs: number, readonly windowMs: number, private readonly onWindow: (p: CpuProfile, intervalUs: number) => void) {
    this.post = poster(session);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  async start(): Promise<void> {
    await this.exclusive(async () => {
      await this.post('Profiler.enable');
      await this.begin(this.intervalUs);
    });
    this.schedule();
  }

  private async begin(intervalUs: number): Promise<void> {
    await this.post('Profiler.setSamplingInterval', { interval: intervalUs });
    await this.post('Profiler.start');
    this.running = true;
  }

  private async end(): Promise<CpuProfile> {
    this.running = false;
    const { profile } = await this.post<{ profile: CpuProfile }>('Profiler.stop');
    return profile;
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.stopped) return;
    this.timer = setTimeout(() => { void this.rotate(); }, this.windowMs);
  }

  /** Closes the current window now (also used before shutdown, so nothing sampled is lost). */
  rotate(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    return this.exclusive(async () => {
      if (!this.running) return;
      const p = await this.end();
      if (!this.stopped) await this.begin(this.intervalUs);
      this.onWindow(p, this.intervalUs);
    }).finally(() => this.schedule());
  }

  /** An on-demand profile of `seconds` at `intervalUs`. */
  record(seconds: number, intervalUs: number): Promise<CpuProfile> {
    this.busyRecording = true;
    return this.exclusive(async () => {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      if (this.running) this.onWindow(await this.end(), this.intervalUs);
      let fine: CpuProfile;
      try {
        await this.begin(intervalUs);
        await new Promise((r) => setTimeout(r, seconds * 1000));
        fine = await this.end();
      } finally {
        if (!this.stopped && !this.running) await this.begin(this.intervalUs);
      }
      this.onWindow(thinProfile(structuredClone(fine), this.intervalUs), this.intervalUs);
      return fine;
    }).finally(() => {
      this.busyRecording = false;
      this.schedule();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.rotate();
    await this.exclusive(async () => { await this.post('Profiler.disable'); });
  }
}
