/**
 * A bounded table of folded stacks → sample counts. Long-running agents see an open-ended set of
 * stacks (closures, generated code); past `maxStacks` the rarest are merged into one bucket frame so
 * memory stays flat over days, and the number of stacks and samples merged is kept for the metadata.
 */
import type { FoldedStacks } from '../formats/folded.js';

export const RARE_BUCKET = '(rare stacks folded)';

export class StackTable {
  readonly stacks: FoldedStacks = new Map();
  samples = 0;
  /** distinct stacks merged into the bucket so far */
  foldedStacks = 0;
  /** samples those stacks held */
  foldedSamples = 0;

  constructor(readonly maxStacks = 5000) {}

  add(key: string, count = 1): void {
    this.samples += count;
    const had = this.stacks.get(key);
    if (had !== undefined || key === RARE_BUCKET) {
      this.stacks.set(key, (had ?? 0) + count);
      if (key === RARE_BUCKET) this.foldedSamples += count;
      return;
    }
    this.stacks.set(key, count);
    if (this.stacks.size > this.maxStacks) this.compact();
  }

  addAll(stacks: Iterable<[string, number]>): void {
    for (const [k, n] of stacks) this.add(k, n);
  }

  /**
   * Merges the rarest stacks until the table is at 3/4 of its cap: compacting in batches keeps the
   * sort amortised instead of paying for it on every new stack.
   */
  private compact(): void {
    const target = Math.floor(this.maxStacks * 0.75);
    const entries = [...this.stacks].filter(([k]) => k !== RARE_BUCKET).sort((a, b) => a[1] - b[1]);
    let bucket = this.stacks.get(RARE_BUCKET) ?? 0;
    const excess = this.stacks.size - target;
    for (let i = 0; i < excess && i < entries.length; i++) {
      const [k, n] = entries[i]!;
      this.stacks.delete(k);
      bucket += n;
      this.foldedStacks++;
      this.foldedSamples += n;
    }
    this.stacks.set(RARE_BUCKET, bucket);
  }

  clear(): void {
    this.stacks.clear();
    this.samples = 0;
    this.foldedStacks = 0;
    this.foldedSamples = 0;
  }
}
