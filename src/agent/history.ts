/**
 * A bounded history of closed windows behind a cursor, so a collector can poll losslessly: asking
 * again with the same cursor returns the same windows, so a lost response costs nothing. Cursors
 * carry the agent's instance id, so a cursor from before a restart is recognised instead of
 * silently skipping or repeating windows. The history is bounded by window count here and by bytes
 * by the worker's budget (`dropOldest`); a collector sees dropped windows as missed.
 */
import { COUNT_BYTES, type StackStore } from './store.js';

export interface ClosedWindow {
  seq: number;
  /** wall clock, ms since the epoch: [startMs, endMs) */
  startMs: number;
  endMs: number;
  intervalUs: number;
  /** non-idle samples (= sum of counts) */
  samples: number;
  idleSamples: number;
  /** the store `counts` refer to */
  store: StackStore;
  /** flat triples: bucket start (ms since the epoch), stack id, count */
  counts: Float64Array;
  foldedStacks: number;
  notes: string[];
}

export interface SinceResult {
  windows: ClosedWindow[];
  cursor: string;
  /** windows that existed after the cursor but already left the history */
  missedWindows: number;
  /** the cursor belonged to another run of the agent: windows start from the oldest kept */
  restarted: boolean;
}

/** Estimated bytes a window holds besides its store. */
export const windowBytes = (w: Pick<ClosedWindow, 'counts'>): number => 200 + (w.counts.length / 3) * COUNT_BYTES * 2;

export class WindowHistory {
  private windows: ClosedWindow[] = [];
  private nextSeq = 1;
  /** samples in every window ever published (kept or dropped) */
  totalSamples = 0;
  /** estimated bytes of the kept windows' counts (their stores are accounted by the worker) */
  bytes = 0;

  constructor(
    readonly instance: string,
    readonly maxWindows = 360,
  ) {}

  push(w: Omit<ClosedWindow, 'seq'>): ClosedWindow {
    const win = { ...w, seq: this.nextSeq++ };
    this.windows.push(win);
    this.totalSamples += win.samples;
    this.bytes += windowBytes(win);
    while (this.windows.length > this.maxWindows) this.dropOldest();
    return win;
  }

  /** windows dropped so far (by count or by the memory bound) */
  dropped = 0;

  dropOldest(): boolean {
    const w = this.windows.shift();
    if (w) {
      this.bytes -= windowBytes(w);
      this.dropped++;
    }
    return w !== undefined;
  }

  /** The stores the kept windows refer to. */
  stores(): Set<StackStore> {
    return new Set(this.windows.map((w) => w.store));
  }

  get lastSeq(): number {
    return this.nextSeq - 1;
  }
  get size(): number {
    return this.windows.length;
  }
  get newest(): ClosedWindow | undefined {
    return this.windows[this.windows.length - 1];
  }

  cursorOf(seq: number): string {
    return `${this.instance}-${seq}`;
  }

  /** Parses a cursor; throws a one-line Error for a malformed one. */
  parseCursor(cursor: string): { seq: number; sameInstance: boolean } {
    const m = /^([A-Za-z0-9]{1,64})-(\d{1,15})$/.exec(cursor);
    if (!m) throw new Error(`bad cursor "${cursor.slice(0, 60)}": use the "cursor" value of a previous /stacks response`);
    const seq = Number(m[2]);
    const sameInstance = m[1] === this.instance;
    if (sameInstance && seq > this.lastSeq) throw new Error(`cursor "${cursor}" is ahead of this agent (last window ${this.lastSeq})`);
    return { seq, sameInstance };
  }

  /**
   * Windows after the cursor (all kept windows without one): at most `limit`, and no more than fit
   * in `maxCounts` count entries (at least one window), so one answer never grows without bound.
   */
  since(cursor: string | undefined, limit = Infinity, maxCounts = Infinity): SinceResult {
    let after = 0;
    let restarted = false;
    if (cursor !== undefined) {
      const c = this.parseCursor(cursor);
      if (c.sameInstance) after = c.seq;
      else restarted = true;
    }
    const oldest = this.windows[0]?.seq ?? this.nextSeq;
    // After a restart the windows this instance already dropped were never read by the asker either.
    const missedWindows = after > 0 || restarted ? Math.max(0, oldest - after - 1) : 0;
    const windows: ClosedWindow[] = [];
    let counts = 0;
    for (const w of this.windows) {
      if (w.seq <= after) continue;
      if (windows.length >= limit || (windows.length > 0 && counts + w.counts.length / 3 > maxCounts)) break;
      windows.push(w);
      counts += w.counts.length / 3;
    }
    const last = windows.length ? windows[windows.length - 1]!.seq : Math.max(after, 0);
    return { windows, cursor: this.cursorOf(last), missedWindows, restarted };
  }
}
