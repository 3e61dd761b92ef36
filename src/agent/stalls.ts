/**
 * Event-loop stalls: when, for how long, and the sampled stack that held the loop.
 *
 * Detection runs on the main thread as a cheap heartbeat timer (a stall is the timer firing late);
 * attribution runs in the sampler's worker, which matches the stall's time range against the
 * samples of the chunks around it (the worker flushes a chunk as soon as a stall is reported, so
 * a stall is listed a moment after it ends). Both sides use the monotonic µs clock that V8's profiler uses
 * for sample timestamps (process.hrtime), so the ranges line up without translation.
 */
import { NO_STACK, type StackStore } from './store.js';
import type { Chunk } from './windows.js';

export interface StallRange {
  startUs: number;
  endUs: number;
}

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

/** Worker side: keeps the last few chunks' timed samples and resolves stalls against them. */
export class StallLog {
  private recent: Chunk[] = [];
  private pending: StallRange[] = [];
  private coveredUntilUs = 0;
  readonly stalls: Stall[] = [];

  /** `label` names a stack of a store as folded frames (root first, `;`-joined). */
  constructor(
    private readonly epochOfUs: (us: number) => number,
    private readonly label: (store: StackStore, stack: number) => string,
    readonly keepUs = 30e6,
    readonly maxStalls = 100,
  ) {}

  /** Estimated bytes of the samples kept, and the stores they refer to. */
  get bytes(): number {
    let n = 0;
    for (const c of this.recent) n += c.ts.byteLength + c.stacks.byteLength;
    return n;
  }

  stores(): Set<StackStore> {
    return new Set(this.recent.map((c) => c.store));
  }

  /** Keeps only the chunks of the last `keepUs` (the memory bound asks for room). */
  trim(keepUs: number): void {
    const newest = this.recent[this.recent.length - 1];
    if (!newest) return;
    while (this.recent.length > 1 && this.recent[0]!.endUs < newest.endUs - keepUs) this.recent.shift();
  }

  /** Adds a finished chunk's samples and resolves the stalls it covers. */
  addChunk(c: Chunk): void {
    this.recent.push(c);
    this.coveredUntilUs = Math.max(this.coveredUntilUs, c.endUs);
    const cutoff = c.endUs - this.keepUs;
    while (this.recent.length > 1 && this.recent[0]!.endUs < cutoff) this.recent.shift();
    this.resolve();
  }

  addStall(r: StallRange): void {
    // Pending stalls wait for the chunk that covers them; if chunks stop coming (profiler
    // failure), keep only the newest few rather than growing for days.
    if (this.pending.length >= this.maxStalls) this.pending.shift();
    this.pending.push(r);
    this.resolve();
  }

  /** True while a stall waits for the chunk that covers its end. */
  get waiting(): boolean {
    return this.pending.length > 0;
  }

  private resolve(): void {
    const still: StallRange[] = [];
    for (const r of this.pending) {
      if (r.endUs > this.coveredUntilUs) {
        still.push(r);
        continue;
      }
      const counts = new Map<StackStore, Map<number, number>>();
      let n = 0;
      for (const c of this.recent) {
        if (c.endUs < r.startUs || c.startUs > r.endUs) continue;
        let byStack = counts.get(c.store);
        if (!byStack) counts.set(c.store, (byStack = new Map()));
        for (let i = 0; i < c.ts.length; i++) {
          const t = c.ts[i]!;
          if (t < r.startUs || t > r.endUs) continue;
          n++;
          const s = c.stacks[i]!;
          if (s !== NO_STACK) byStack.set(s, (byStack.get(s) ?? 0) + 1);
        }
      }
      // Stacks are counted per store; the same stack in two stores (after a migration) is one label.
      const byLabel = new Map<string, number>();
      for (const [store, byStack] of counts) {
        for (const [s, k] of byStack) {
          const l = this.label(store, s);
          byLabel.set(l, (byLabel.get(l) ?? 0) + k);
        }
      }
      let best: string | null = null;
      let bestN = 0;
      for (const [k, c] of byLabel)
        if (c > bestN) {
          best = k;
          bestN = c;
        }
      const startMs = this.epochOfUs(r.startUs);
      this.stalls.push({
        at: new Date(startMs).toISOString(),
        startMs: Math.round(startMs),
        durationMs: Math.round((r.endUs - r.startUs) / 1000),
        stack: best,
        function: best ? best.slice(best.lastIndexOf(';') + 1) : null,
        samples: n,
        stackSamples: bestN,
      });
      if (this.stalls.length > this.maxStalls) this.stalls.shift();
    }
    this.pending = still;
  }
}
