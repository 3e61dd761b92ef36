/**
 * Turns the profiler's chunks into windows. A chunk is whatever the sampler flushed (about a second,
 * or less when a request or a stall asked for fresh data); windows are fixed slices of wall-clock
 * time, [k × window, (k + 1) × window), each split into 1 s buckets by the samples' own timestamps,
 * so chunk boundaries never show in the data. A window closes (goes to the history, where /stacks
 * serves it) once a chunk has reached its end; `cumulative` (what `GET /` serves) takes every
 * chunk at once, the window still being recorded included.
 */
import { CountTable, StackStore, NO_STACK } from './store.js';
import type { WindowHistory } from './history.js';

export const BUCKET_MS = 1000;

/** A flushed chunk: its samples' times (monotonic µs) and stack ids in `store` (NO_STACK = idle). */
export interface Chunk {
  store: StackStore;
  startUs: number;
  endUs: number;
  ts: Float64Array;
  stacks: Int32Array;
}

export const NO_SAMPLES_NOTE = 'no samples: the profiler could not sample in this window';

interface OpenWindow {
  startMs: number;
  endMs: number;
  /** (bucket index in the window) × 2^26 + stack id -> count */
  counts: Map<number, number>;
  samples: number;
  idleSamples: number;
  foldedStacks: number;
  /** ms of the window some chunk covered */
  coveredMs: number;
}

const KEY = 67_108_864;

export class WindowRecorder {
  private open: OpenWindow;
  readonly cumulative: CountTable;
  /** what `cumulative` covers, wall clock ms */
  cumulativeStartMs: number;
  cumulativeEndMs: number;
  idleSamples = 0;
  windowsClosed = 0;
  private lastTs = -Infinity;

  constructor(
    public store: StackStore,
    private readonly history: WindowHistory,
    private readonly opts: { windowMs: number; intervalUs: number; maxStacks: number; epochOfUs: (us: number) => number; startMs: number },
  ) {
    this.cumulative = new CountTable(store);
    this.cumulativeStartMs = this.cumulativeEndMs = opts.startMs;
    this.open = this.newWindow(opts.startMs);
  }

  private newWindow(fromMs: number): OpenWindow {
    const w = this.opts.windowMs;
    const endMs = (Math.floor(fromMs / w) + 1) * w;
    return { startMs: fromMs, endMs, counts: new Map(), samples: 0, idleSamples: 0, foldedStacks: 0, coveredMs: 0 };
  }

  /** Estimated bytes of the open window and the cumulative table. */
  get bytes(): number {
    return this.cumulative.bytes + this.open.counts.size * 80;
  }

  addChunk(c: Chunk): void {
    if (c.store !== this.store) throw new Error('chunk from another store');
    const epoch = this.opts.epochOfUs;
    const chunkStartMs = epoch(c.startUs);
    const chunkEndMs = epoch(c.endUs);
    for (let i = 0; i < c.ts.length; i++) {
      const t = c.ts[i]!;
      // A sample at or before the last one seen belongs to an earlier chunk: count it once.
      if (t <= this.lastTs) continue;
      this.lastTs = t;
      const ms = epoch(t);
      while (ms >= this.open.endMs) this.close(chunkStartMs, chunkEndMs);
      const stack = c.stacks[i]!;
      if (stack === NO_STACK) {
        this.open.idleSamples++;
        this.idleSamples++;
        continue;
      }
      const bucket = Math.floor(Math.max(0, ms - this.bucketBase()) / BUCKET_MS);
      const key = bucket * KEY + stack;
      const had = this.open.counts.get(key);
      this.open.counts.set(key, (had ?? 0) + 1);
      this.open.samples++;
      this.cumulative.add(stack);
      if (had === undefined && this.open.counts.size > this.opts.maxStacks * 2) this.foldOpen(this.opts.maxStacks);
    }
    if (this.cumulative.counts.size > this.opts.maxStacks) this.cumulative.foldTo(Math.floor(this.opts.maxStacks * 0.75));
    while (chunkEndMs >= this.open.endMs) this.close(chunkStartMs, chunkEndMs);
    this.cover(chunkStartMs, chunkEndMs);
    this.cumulativeEndMs = Math.max(this.cumulativeEndMs, chunkEndMs);
  }

  /** Buckets are whole seconds of wall-clock time: a window's first bucket starts at or before it. */
  private bucketBase(): number {
    return Math.floor(this.open.startMs / BUCKET_MS) * BUCKET_MS;
  }

  private cover(fromMs: number, toMs: number): void {
    const a = Math.max(fromMs, this.open.startMs);
    const b = Math.min(toMs, this.open.endMs);
    if (b > a) this.open.coveredMs += b - a;
  }

  /** Folds the open window's rarest stacks (by their total over the window's buckets). */
  private foldOpen(keep: number): void {
    const totals = new Map<number, number>();
    for (const [k, n] of this.open.counts) totals.set(k % KEY, (totals.get(k % KEY) ?? 0) + n);
    if (totals.size <= keep) return;
    const rare = this.store.rareStack();
    const fold = new Set(
      [...totals]
        .filter(([s]) => s !== rare)
        .sort((a, b) => a[1] - b[1])
        .slice(0, totals.size - keep + 1)
        .map(([s]) => s),
    );
    const next = new Map<number, number>();
    for (const [k, n] of this.open.counts) {
      const s = k % KEY;
      const key = fold.has(s) ? k - s + rare : k;
      next.set(key, (next.get(key) ?? 0) + n);
    }
    this.open.counts = next;
    this.open.foldedStacks += fold.size;
  }

  private close(chunkStartMs: number, chunkEndMs: number): void {
    const w = this.open;
    this.cover(chunkStartMs, chunkEndMs);
    this.foldOpen(this.opts.maxStacks);
    const counts = new Float64Array(w.counts.size * 3);
    const base = this.bucketBase();
    let i = 0;
    for (const [k, n] of [...w.counts].sort((a, b) => a[0] - b[0])) {
      const bucket = Math.floor(k / KEY);
      counts[i++] = base + bucket * BUCKET_MS;
      counts[i++] = k - bucket * KEY;
      counts[i++] = n;
    }
    const notes: string[] = [];
    const lengthMs = w.endMs - w.startMs;
    if (w.samples + w.idleSamples === 0) notes.push(NO_SAMPLES_NOTE);
    else if (w.coveredMs < lengthMs * 0.9)
      notes.push(`the profiler ran for ${Math.round(w.coveredMs)} ms of this window's ${Math.round(lengthMs)} ms`);
    this.history.push({
      startMs: w.startMs,
      endMs: w.endMs,
      intervalUs: this.opts.intervalUs,
      samples: w.samples,
      idleSamples: w.idleSamples,
      store: this.store,
      counts,
      foldedStacks: w.foldedStacks,
      notes,
    });
    this.windowsClosed++;
    this.open = this.newWindow(w.endMs);
  }

  /** Closes the open window early (shutdown): it ends at the last chunk's end. */
  closeNow(endMs: number): void {
    if (endMs <= this.open.startMs) return;
    this.open.endMs = endMs;
    this.close(endMs, endMs);
  }

  /** Drops the cumulative table (`GET /?reset=true`): it starts again where the data ends. */
  resetCumulative(): void {
    this.cumulative.clear();
    this.cumulativeStartMs = this.cumulativeEndMs;
  }

  /**
   * Moves the open window and the cumulative table to a new store, keeping their heaviest stacks
   * while the new store stays under `maxBytes`; the rest are folded into the rare stack.
   */
  migrate(maxBytes: number): StackStore {
    const old = this.store;
    const next = new StackStore();
    const totals = new Map<number, number>();
    for (const [s, n] of this.cumulative.counts) totals.set(s, (totals.get(s) ?? 0) + n);
    for (const [k, n] of this.open.counts) totals.set(k % KEY, (totals.get(k % KEY) ?? 0) + n);
    const map = new Map<number, number>();
    const rare = next.rareStack();
    let folded = 0;
    for (const [s] of [...totals].sort((a, b) => b[1] - a[1])) {
      if (next.bytes < maxBytes || old.isRare(s)) map.set(s, next.copyFrom(old, s));
      else {
        map.set(s, rare);
        folded++;
      }
    }
    const cum = new CountTable(next);
    for (const [s, n] of this.cumulative.counts) cum.add(map.get(s)!, n);
    cum.foldedStacks = this.cumulative.foldedStacks + folded;
    cum.samples = this.cumulative.samples;
    const counts = new Map<number, number>();
    for (const [k, n] of this.open.counts) {
      const s = k % KEY;
      const key = k - s + map.get(s)!;
      counts.set(key, (counts.get(key) ?? 0) + n);
    }
    this.open.counts = counts;
    this.open.foldedStacks += folded;
    this.cumulative.counts.clear();
    for (const [s, n] of cum.counts) this.cumulative.counts.set(s, n);
    this.cumulative.store = next;
    this.cumulative.foldedStacks = cum.foldedStacks;
    this.cumulative.foldedSamples = cum.foldedSamples;
    this.store = next;
    return next;
  }
}
