/**
 * Packing slices onto tracks ("lanes") so that DevTools draws every one of them.
 *
 * The DevTools trace engine builds each track's tree with one stack (TreeHelpers.treify): after
 * sorting by start (longer first on ties), a slice that starts at or after the top's end pops it;
 * a slice that ends after the top's end is dropped without a word. The checks here mirror those
 * comparisons exactly, on the same doubles the engine will parse back from the file, so "fits"
 * here means "drawn" there.
 */
import { round3 } from '../formats/trace-event.js';

/**
 * Times as DevTools will see them: `ts` is what we print, `end` is `ts + dur` computed the way the
 * engine computes it (printed dur re-added in floating point), so nesting checks agree bit for bit.
 */
export function engineDur(ts: number, rawEnd: number): number {
  const d = round3(round3(rawEnd) - ts);
  return d < 0 ? 0 : d;
}

/**
 * Largest printable dur with `ts + dur <= limit`. Used when a child's end passes its parent's by a
 * rounding artefact only (sub-ns), which must not cost the child its place in the tree.
 */
export function durWithin(ts: number, limit: number): number {
  let d = round3(limit - ts);
  while (d > 0 && ts + d > limit) d = round3(d - 0.001);
  return d < 0 ? 0 : d;
}

/** Below this, a child ending after its parent is float noise from printing 3 decimals. */
export const NOISE_US = 0.0015;

/**
 * Greedy lane assignment for slices fed in DevTools order (start ascending, longer first).
 * On each lane slices either nest or do not overlap.
 */
export class LanePacker {
  /** per lane: ends of the slices still open at the current start time, innermost last */
  private stacks: number[][] = [];

  get count(): number {
    return this.stacks.length;
  }

  /**
   * Places a slice and returns its lane (0-based). `preferred` is tried first, so a child can
   * land under its parent even when an earlier lane is free.
   */
  place(ts: number, end: number, preferred = -1): number {
    if (preferred >= 0 && preferred < this.stacks.length && this.tryPlace(preferred, ts, end)) return preferred;
    for (let lane = 0; lane < this.stacks.length; lane++) {
      if (lane !== preferred && this.tryPlace(lane, ts, end)) return lane;
    }
    this.stacks.push([end]);
    return this.stacks.length - 1;
  }

  private tryPlace(lane: number, ts: number, end: number): boolean {
    const stack = this.stacks[lane]!;
    while (stack.length > 0 && ts >= stack[stack.length - 1]!) stack.pop();
    if (stack.length > 0 && end > stack[stack.length - 1]!) return false;
    stack.push(end);
    return true;
  }
}

/**
 * Lanes for slices that may know their parent (async call lifetimes, async spans). A slice goes on
 * its parent's lane when the parent is open there at its start with only non-strict slices (call
 * lifetimes, e.g. the async function the parent span runs) above it, and it fits. Otherwise a
 * `strict` slice (one whose parent is known to be none, or another than the slices open) goes on
 * a lane with nothing open, or a new lane, never inside an unrelated slice; any other goes on the
 * first lane where it fits, which nests it by time. Fed in DevTools order.
 */
export class ParentLanes {
  /** per lane: ends and keys of the slices still open, innermost last */
  private ends: number[][] = [];
  private keys: number[][] = [];
  private stricts: boolean[][] = [];
  private laneOfKey = new Map<number, number>();

  /** Places slice `key` (unique) with parent `parentKey` (NaN: none); returns its lane. */
  place(ts: number, end: number, key: number, parentKey: number, strict: boolean): number {
    const lane = this.choose(ts, end, parentKey, strict);
    while (this.ends.length <= lane) {
      this.ends.push([]);
      this.keys.push([]);
      this.stricts.push([]);
    }
    this.ends[lane]!.push(end);
    this.keys[lane]!.push(key);
    this.stricts[lane]!.push(strict);
    this.laneOfKey.set(key, lane);
    return lane;
  }

  private choose(ts: number, end: number, parentKey: number, strict: boolean): number {
    const p = Number.isNaN(parentKey) ? undefined : this.laneOfKey.get(parentKey);
    if (p !== undefined) {
      const n = this.popEnded(p, ts);
      const keys = this.keys[p]!;
      let k = n - 1;
      while (k >= 0 && keys[k] !== parentKey && !this.stricts[p]![k]) k--;
      if (k >= 0 && keys[k] === parentKey && end <= this.ends[p]![n - 1]!) return p;
    }
    for (let lane = 0; lane < this.ends.length; lane++) {
      const n = this.popEnded(lane, ts);
      if (n === 0 || (!strict && end <= this.ends[lane]![n - 1]!)) return lane;
    }
    return this.ends.length;
  }

  /** Closes what ended by `ts` on `lane`; returns how many slices stay open there. */
  private popEnded(lane: number, ts: number): number {
    const ends = this.ends[lane]!,
      keys = this.keys[lane]!;
    while (ends.length > 0 && ts >= ends[ends.length - 1]!) {
      ends.pop();
      keys.pop();
      this.stricts[lane]!.pop();
    }
    return ends.length;
  }
}

/**
 * Checks one track's slices, fed in DevTools order, for proper nesting; answers how the slice can
 * stay on the track. Used on the thread's own track, where calls, segments and spans nest by
 * construction unless a user span straddles an await or records were truncated oddly.
 */
export class NestingCheck {
  private stack: number[] = [];
  private tags: number[] = [];

  /**
   * Returns the dur to print if the slice nests (possibly trimmed by float noise), or -1 if it
   * would cross the slice it starts in. `tag` (>= 0) marks slices `enclosingTag` should find.
   */
  accept(ts: number, dur: number, tag = -1): number {
    const stack = this.stack;
    while (stack.length > 0 && ts >= stack[stack.length - 1]!) {
      stack.pop();
      this.tags.pop();
    }
    let end = ts + dur;
    if (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (end > top) {
        if (end - top > NOISE_US) return -1;
        dur = durWithin(ts, top);
        end = ts + dur;
      }
    }
    stack.push(end);
    this.tags.push(tag);
    return dur;
  }

  /** Tag of the innermost tagged slice enclosing the last accepted one, or -1. */
  enclosingTag(): number {
    for (let i = this.tags.length - 2; i >= 0; i--) if (this.tags[i]! >= 0) return this.tags[i]!;
    return -1;
  }
}

/**
 * Returns `idx` in the order `cmp` defines (a strict total order; `idx` itself may be reused for
 * the result), fast for the usual input: the
 * records of calls on one stack, which end children first (post-order of a forest). One pass with
 * a stack of subtrees turns that into pre-order, which is the sorted order when the calls nest;
 * the result is checked pair by pair, and anything that does not nest (a span straddling an
 * await, crossing async lifetimes) is sorted with `cmp` instead.
 */
export function sortNested(idx: Uint32Array, cmp: (a: number, b: number) => number): Uint32Array {
  const n = idx.length;
  if (n < 2) return idx;
  // Subtrees as linked lists over positions in idx; the stack holds their heads and tails. A
  // tail's link is never read, so the array needs no initial fill (a pass over fresh memory).
  const next = new Int32Array(n);
  // As deep as the calls nest (plus the roots so far): small arrays that grow, not n-sized ones.
  const head: number[] = [],
    tail: number[] = [];
  let top = -1;
  for (let k = 0; k < n; k++) {
    const r = idx[k]!;
    let low = top;
    // The subtrees on top that sort after r began inside it: they are its children, in order.
    while (low >= 0 && cmp(r, idx[head[low]!]!) < 0) low--;
    let t = k;
    for (let s = low + 1; s <= top; s++) {
      next[t] = head[s]!;
      t = tail[s]!;
    }
    top = low + 1;
    head[top] = k;
    tail[top] = t;
  }
  const out = new Uint32Array(n);
  let o = 0;
  for (let s = 0; s <= top; s++) {
    for (let p = head[s]!; ; p = next[p]!) {
      out[o++] = idx[p]!;
      if (p === tail[s]) break;
    }
  }
  for (let k = 1; k < n; k++) if (cmp(out[k - 1]!, out[k]!) >= 0) return idx.sort(cmp);
  return out;
}
