/**
 * Drives V8's CPU profiler through an inspector session in chunks: every `chunkMs` (and whenever
 * fresh data is asked for, see `flush`) the running profile is stopped and the next started at once
 * (both commands sent together, so the gap is a fraction of a millisecond), and the finished
 * profile is handed on. Chunks bound the profiler's memory (V8 keeps every sample of a running
 * profile) and make the agent's answers fresh.
 *
 * Why chunks do not misattribute: a V8 CPU profiler builds its map of compiled code when it starts,
 * and that map misses code that is already running (on-stack-replaced loops): restarting the
 * profiler inside a long synchronous function blamed its caller. The map lives as long as the
 * session's profiler has any profile running, so an "anchor" profile (`console.profile`, started on
 * the main thread: `anchor` below) stays running in the same session while the chunks rotate. The
 * anchor also records samples, and ending it makes V8 serialise it on the main thread, so it is
 * replaced (a new one started before the old one ends) while it is still small: after
 * ANCHOR_NODES profile nodes or ANCHOR_SAMPLES samples have gone by in chunks, or ANCHOR_MS. Its
 * data is dropped.
 *
 * `record` (GET /profile) runs on a second session of its own, at its own interval, without
 * touching the chunks.
 */
import inspector, { type Session } from 'node:inspector';
import type { CpuProfile } from '../formats/cpuprofile.js';
import { poster, type Post } from '../util/inspector.js';

/** When an anchor is replaced (see above): bounds what its end costs the main thread. */
export const ANCHOR_NODES = 2000;
export const ANCHOR_SAMPLES = 20_000;
export const ANCHOR_MS = 30_000;
/** The shortest time between two flushes asked for by requests: bounds what clients can cost. */
export const MIN_FLUSH_MS = 200;

/** Starts (and ends, when `end` is given) an anchor profile on the main thread. */
export type AnchorControl = (start: string | null, end: string | null) => void;

export class ChunkSampler {
  private readonly post: Post;
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private stopped = false;
  private lastFlush = 0;
  private anchor: string | null = null;
  private anchorSamples = 0;
  private anchorNodes = 0;
  private anchorSince = 0;
  private anchorSeq = 0;
  private recordSession: Session | null = null;
  busyRecording = false;

  constructor(
    session: Session,
    readonly intervalUs: number,
    readonly chunkMs: number,
    private readonly onChunk: (p: CpuProfile) => void,
    private readonly anchorControl: AnchorControl,
    private readonly onError: (message: string) => void = () => undefined,
  ) {
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
      await this.post('Profiler.setSamplingInterval', { interval: this.intervalUs });
      await this.post('Profiler.start');
      this.running = true;
      this.lastFlush = Date.now();
    });
    this.newAnchor();
    this.schedule();
  }

  private newAnchor(): void {
    const title = `stackscope-anchor-${process.pid}-${++this.anchorSeq}`;
    this.anchorControl(title, this.anchor);
    this.anchor = title;
    this.anchorSamples = 0;
    this.anchorNodes = 0;
    this.anchorSince = Date.now();
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.flush();
    }, this.chunkMs);
  }

  /** The start of the chunk being recorded, Date.now() ms. */
  get chunkStartedMs(): number {
    return this.lastFlush;
  }

  /**
   * Ends the current chunk now and starts the next. `ifOlderThanMs` skips the flush when the chunk
   * is younger than that (so request-driven flushes are rate-limited).
   */
  flush(ifOlderThanMs = 0): Promise<void> {
    if (Date.now() - this.lastFlush < ifOlderThanMs) return this.queue.then(() => undefined);
    return this.exclusive(async () => {
      if (!this.running) {
        // The last restart failed: try again at every flush, and say so once.
        if (!this.stopped) {
          await this.post('Profiler.start').then(
            () => {
              this.running = true;
            },
            (err: Error) => this.onError(`the profiler could not restart: ${err.message}`),
          );
        }
        return;
      }
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      const stopped = this.post<{ profile: CpuProfile }>('Profiler.stop');
      const restarted = this.stopped ? null : this.post('Profiler.start');
      this.lastFlush = Date.now();
      let profile: CpuProfile;
      try {
        ({ profile } = await stopped);
      } finally {
        this.running = false;
        if (restarted) {
          await restarted.then(
            () => {
              this.running = true;
            },
            (err: Error) => this.onError(`the profiler could not restart: ${err.message}`),
          );
        }
      }
      this.anchorSamples += profile.samples?.length ?? 0;
      this.anchorNodes += profile.nodes.length;
      const full = this.anchorNodes >= ANCHOR_NODES || this.anchorSamples >= ANCHOR_SAMPLES || Date.now() - this.anchorSince >= ANCHOR_MS;
      if (!this.stopped && full) this.newAnchor();
      this.onChunk(profile);
    }).finally(() => this.schedule());
  }

  /**
   * An on-demand profile of `seconds` at `intervalUs`, on a session of its own. Ends early, with
   * what was recorded so far, when `signal` aborts (the client hung up).
   */
  record(seconds: number, intervalUs: number, signal?: AbortSignal): Promise<CpuProfile> {
    this.busyRecording = true;
    return (async () => {
      if (!this.recordSession) {
        this.recordSession = new inspector.Session();
        this.recordSession.connectToMainThread();
      }
      const post = poster(this.recordSession);
      await post('Profiler.enable');
      await post('Profiler.setSamplingInterval', { interval: intervalUs });
      await post('Profiler.start');
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, seconds * 1000);
        function done(): void {
          clearTimeout(t);
          signal?.removeEventListener('abort', done);
          resolve();
        }
        signal?.addEventListener('abort', done);
        if (signal?.aborted) done();
      });
      try {
        return (await post<{ profile: CpuProfile }>('Profiler.stop')).profile;
      } finally {
        await post('Profiler.disable').catch(() => undefined);
      }
    })().finally(() => {
      this.busyRecording = false;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.flush();
    if (this.anchor) this.anchorControl(null, this.anchor);
    this.anchor = null;
    await this.exclusive(async () => {
      await this.post('Profiler.disable');
    });
    this.recordSession?.disconnect();
  }

  /** Lets go of the main thread at once (process exit): no more commands. */
  disconnectAll(): void {
    this.stopped = true;
    this.recordSession?.disconnect();
  }
}
