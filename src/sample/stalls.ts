/**
 * Event-loop stalls: when, for how long, and the sampled stack that held the loop.
 *
 * Detection runs on the main thread as a cheap heartbeat timer (a stall is the timer firing late);
 * attribution runs in the sampler's worker, which matches the stall's time range against the
 * samples of the windows around it. Both sides use the monotonic µs clock that V8's profiler uses
 * for sample timestamps (process.hrtime), so the ranges line up without translation.
 */

export interface StallRange { startUs: number; endUs: number }

export interface Stall {
  /** wall clock, ISO 8601 */
  at: string;
  startMs: number;
  durationMs: number;
  /** the stack seen most often while the loop was held (folded frames, root first) */
  stack: string | null;
  /** its leaf frame */
  function: string | null;
  /** samples inside the stall, and how many of them were that stack */
  samples: number;
  stackSamples: number;
}

export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * Starts the heartbeat on the calling (main) thread. Ticks at a fraction of the threshold, so the
 * measured stall undercounts by at most one tick; the timer is unref'd and never keeps the process alive.
 */
export function watchStalls(thresholdMs: number, onStall: (r: StallRange) => void): () => void {
  const tickMs = Math.max(5, Math.min(50, thresholdMs / 5));
  let last = monotonicUs();
  const timer = setInterval(() => {
    const now = monotonicUs();
    const lateUs = now - last - tickMs * 1000;
    last = now;
    if (lateUs >= thresholdMs * 1000) onStall({ startUs: now - lateUs, endUs: now });
  }, tickMs);
  timer.unref();
  return () => clearInterval(timer);
}

interface TimedKey { ts: number; key: string | null }

/** Worker side: keeps the last few windows' timed samples and resolves stalls against them. */
export class StallLog {
  private recent: TimedKey[] = [];
  private pending: StallRange[] = [];
  private coveredUntilUs = 0;
  readonly stalls: Stall[] = [];

  constructor(private readonly epochOfUs: (us: number) => number, readonly keepUs = 30e6, readonly maxStalls = 100) {}

  /** Adds a finished window's samples (key null = idle) and resolves the stalls it covers. */
  addWindow(samples: TimedKey[], windowEndUs: number): void {
    for (const s of samples) this.recent.push(s);
    this.coveredUntilUs = Math.max(this.coveredUntilUs, windowEndUs);
    const cutoff = windowEndUs - this.keepUs;
    let drop = 0;
    while (drop < this.recent.length && this.recent[drop]!.ts < cutoff) drop++;
    if (drop) this.recent.splice(0, drop);
    this.resolve();
  }

  addStall(r: StallRange): void {
    // Pending stalls wait for the window that covers them; if windows stop coming (profiler
    // failure), keep only the newest few rather than growing for days.
    if (this.pending.length >= this.maxStalls) this.pending.shift();
    this.pending.push(r);
    this.resolve();
  }

  private resolve(): void {
    const still: StallRange[] = [];
    for (const r of this.pending) {
      if (r.endUs > this.coveredUntilUs) { still.push(r); continue; }
      const counts = new Map<string, number>();
      let n = 0;
      for (const s of this.recent) {
        if (s.ts < r.startUs || s.ts > r.endUs) continue;
        n++;
        if (s.key !== null) counts.set(s.key, (counts.get(s.key) ?? 0) + 1);
      }
      let best: string | null = null;
      let bestN = 0;
      for (const [k, c] of counts) if (c > bestN) { best = k; bestN = c; }
      const startMs = this.epochOfUs(r.startUs);
      this.stalls.push({
        at: new Date(startMs).toISOString(), startMs: Math.round(startMs), durationMs: Math.round((r.endUs - r.startUs) / 1000),
        stack: best, function: best ? best.slice(best.lastIndexOf(';') + 1) : null, samples: n, stackSamples: bestN,
      });
      if (this.stalls.length > this.maxStalls) this.stalls.shift();
    }
    this.pending = still;
  }
}
