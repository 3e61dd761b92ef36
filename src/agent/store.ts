/**
 * The agent's interned frames and stacks. Every frame is stored once (its strings shared, never
 * copied into keys) and every stack is a node of a prefix tree (parent stack + leaf frame), so a
 * window or a table holds stacks as small integer ids, whatever the depth or the length of names.
 *
 * Memory is accounted in bytes (an estimate on the high side of what V8 keeps), so the agent can
 * hold its data under a budget: see `Budget` and worker.ts. A store is never shrunk in place; when
 * it holds too much, the worker starts a new one with only the stacks still in use (`migrate`), and
 * the old one goes when the last window using it leaves the history.
 */
import { stackKey, type Frame } from '../model/index.js';

/** No stack (the parent of a root-level stack). */
export const NO_STACK = -1;

/** The frame that stands for stacks folded away by the memory bound. */
export const RARE_FRAME: Frame = { name: '(rare stacks folded)', file: '', line: 0, col: 0 };

/** Bytes per frame beyond its strings, per stack node, per counted entry (Map or typed array). */
export const FRAME_BYTES = 160;
export const STACK_BYTES = 64;
export const MAP_ENTRY_BYTES = 80;
export const COUNT_BYTES = 12;

/** A string's bytes in V8, counting two-byte strings (and the worst case) at 2 per character. */
const stringBytes = (s: string): number => 2 * s.length;

export class StackStore {
  readonly frames: Frame[] = [];
  readonly stackParent: number[] = [];
  readonly stackFrame: number[] = [];
  /** name -> file -> line * 2^21 + col -> frame id: the maps key on the frame's own strings */
  private readonly frameIds = new Map<string, Map<string, Map<number, number>>>();
  /** (parent + 1) * 2^26 + frame -> stack id */
  private readonly stackIds = new Map<number, number>();
  /** estimated bytes held */
  bytes = 0;
  private rare = NO_STACK;

  frame(f: Frame): number {
    let byFile = this.frameIds.get(f.name);
    if (!byFile) this.frameIds.set(f.name, (byFile = new Map()));
    let byPos = byFile.get(f.file);
    if (!byPos) byFile.set(f.file, (byPos = new Map()));
    const pos = f.line * 2_097_152 + f.col;
    let id = byPos.get(pos);
    if (id === undefined) {
      id = this.frames.length;
      this.frames.push(f);
      byPos.set(pos, id);
      this.bytes += FRAME_BYTES + stringBytes(f.name) + stringBytes(f.file);
    }
    return id;
  }

  stack(parent: number, frameId: number): number {
    const key = stackKey(parent, frameId);
    let id = this.stackIds.get(key);
    if (id === undefined) {
      id = this.stackParent.length;
      this.stackParent.push(parent);
      this.stackFrame.push(frameId);
      this.stackIds.set(key, id);
      this.bytes += STACK_BYTES;
    }
    return id;
  }

  /** The stack that counts what the memory bound folded away. */
  rareStack(): number {
    if (this.rare === NO_STACK) this.rare = this.stack(NO_STACK, this.frame(RARE_FRAME));
    return this.rare;
  }

  isRare(stack: number): boolean {
    return stack === this.rare && stack !== NO_STACK;
  }

  /** Frame ids of a stack, root first. */
  framesOf(stack: number): number[] {
    const out: number[] = [];
    for (let s = stack; s !== NO_STACK; s = this.stackParent[s]!) out.push(this.stackFrame[s]!);
    return out.reverse();
  }

  get stackCount(): number {
    return this.stackParent.length;
  }

  /** Copies a stack of another store into this one; returns its id here. */
  copyFrom(other: StackStore, stack: number): number {
    if (other.isRare(stack)) return this.rareStack();
    let s = NO_STACK;
    for (const f of other.framesOf(stack)) s = this.stack(s, this.frame(other.frames[f]!));
    return s;
  }
}

/** Stack id -> count, with what was folded into the rare stack. */
export class CountTable {
  readonly counts = new Map<number, number>();
  samples = 0;
  /** distinct stacks folded into the rare stack */
  foldedStacks = 0;
  foldedSamples = 0;

  constructor(public store: StackStore) {}

  add(stack: number, n = 1): void {
    this.samples += n;
    this.counts.set(stack, (this.counts.get(stack) ?? 0) + n);
    if (this.store.isRare(stack)) this.foldedSamples += n;
  }

  get bytes(): number {
    return this.counts.size * MAP_ENTRY_BYTES;
  }

  /** Folds the rarest stacks until at most `keep` distinct ones are left (the rare stack included). */
  foldTo(keep: number): void {
    if (this.counts.size <= keep) return;
    const rare = this.store.rareStack();
    const entries = [...this.counts].filter(([s]) => s !== rare).sort((a, b) => a[1] - b[1]);
    let excess = this.counts.size + (this.counts.has(rare) ? 0 : 1) - Math.max(1, keep);
    let folded = this.counts.get(rare) ?? 0;
    for (const [s, n] of entries) {
      if (excess-- <= 0) break;
      this.counts.delete(s);
      folded += n;
      this.foldedStacks++;
      this.foldedSamples += n;
    }
    this.counts.set(rare, folded);
  }

  clear(): void {
    this.counts.clear();
    this.samples = 0;
    this.foldedStacks = 0;
    this.foldedSamples = 0;
  }
}
