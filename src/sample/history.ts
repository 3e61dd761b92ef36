/**
 * A bounded history of sampled windows behind a cursor, so a collector can poll losslessly: asking
 * again with the same cursor returns the same windows, so a lost response costs nothing. Cursors
 * carry the agent's instance id, so a cursor from before a restart is recognised instead of
 * silently skipping or repeating windows.
 */
import type { FoldedStacks } from '../formats/folded.js';

export interface SampleWindow {
  seq: number;
  /** wall clock, ms since the epoch */
  startMs: number;
  endMs: number;
  intervalUs: number;
  samples: number;
  stacks: FoldedStacks;
  /** stacks merged into the rare bucket of this window */
  foldedStacks: number;
}

export interface SinceResult {
  windows: SampleWindow[];
  cursor: string;
  /** windows that existed after the cursor but already left the history */
  missedWindows: number;
  /** the cursor belonged to another run of the agent: windows start from the oldest kept */
  restarted: boolean;
}

export class WindowHistory {
  private windows: SampleWindow[] = [];
  private nextSeq = 1;
  /** samples in every window ever published (kept or dropped) */
  totalSamples = 0;

  /** distinct stacks summed over the kept windows */
  private entries = 0;

  /**
   * `maxEntries` bounds memory whatever the windows hold: 360 windows of up to `maxStacks` (5000)
   * long folded stacks each could reach gigabytes in an agent left on for days, past the worker's
   * heap limit. Beyond it the oldest windows go, exactly as beyond `maxWindows` (a collector sees
   * them as missed).
   */
  constructor(readonly instance: string, readonly maxWindows = 360, readonly maxEntries = 200_000) {}

  push(w: Omit<SampleWindow, 'seq'>): SampleWindow {
    const win = { ...w, seq: this.nextSeq++ };
    this.windows.push(win);
    this.totalSamples += win.samples;
    this.entries += win.stacks.size;
    let drop = 0;
    while (this.windows.length - drop > 1 && (this.windows.length - drop > this.maxWindows || this.entries > this.maxEntries)) {
      this.entries -= this.windows[drop]!.stacks.size;
      drop++;
    }
    if (drop) this.windows.splice(0, drop);
    return win;
  }

  get lastSeq(): number { return this.nextSeq - 1; }
  get size(): number { return this.windows.length; }

  cursorOf(seq: number): string { return `${this.instance}-${seq}`; }

  /** Parses a cursor; throws a one-line Error for a malformed one. */
  parseCursor(cursor: string): { seq: number; sameInstance: boolean } {
    const m = /^([A-Za-z0-9]+)-(\d+)$/.exec(cursor);
    if (!m) throw new Error(`bad cursor "${cursor.slice(0, 60)}": use the "cursor" value of a previous /stacks response`);
    const seq = Number(m[2]);
    const sameInstance = m[1] === this.instance;
    if (sameInstance && seq > this.lastSeq) throw new Error(`cursor "${cursor}" is ahead of this agent (last window ${this.lastSeq})`);
    return { seq, sameInstance };
  }

  /** Windows after the cursor (all kept windows without one), at most `limit`. */
  since(cursor: string | undefined, limit = Infinity): SinceResult {
    let after = 0;
    let restarted = false;
    if (cursor !== undefined) {
      const c = this.parseCursor(cursor);
      if (c.sameInstance) after = c.seq;
      else restarted = true;
    }
    const oldest = this.windows[0]?.seq ?? this.nextSeq;
    const missedWindows = after > 0 ? Math.max(0, oldest - after - 1) : 0;
    const windows = this.windows.filter((w) => w.seq > after).slice(0, limit);
    const last = windows.length ? windows[windows.length - 1]!.seq : Math.max(after, 0);
    return { windows, cursor: this.cursorOf(last), missedWindows, restarted };
  }
}
