/**
 * A store's copy of stored stacks and frames, kept across queries. Stacks and frames never change
 * once stored (their id is a hash of their content, inserted once), so a copy is never stale: a
 * query asks the database only for the stacks it has not seen yet, and their frames. A frame the
 * store lacks is not remembered as missing: the next query asks for it again.
 */
import type { Frame } from '../model/index.js';

/** Stacks by stored id, their frames as indexes into `frames`. */
export class StackTable {
  /** frames by index; undefined until read (or when the store lacks the frame) */
  readonly frames: Array<Frame | undefined> = [];
  /** stored frame id per frame index */
  private readonly frameIds: number[] = [];
  private readonly frameIndex = new Map<number, number>();
  /** frame indexes of every stack held, one after the other (see slot) */
  private refsPool = new Int32Array(1 << 16);
  private used = 0;
  private start = new Int32Array(1024);
  private end = new Int32Array(1024);
  private readonly slots = new Map<number, number>();

  /** frame references held (the table's size) */
  get refs(): number {
    return this.used;
  }

  /**
   * Where stack `id` is held, -1 when it is not: its frame indexes, root first, are pool[from(slot)]
   * up to pool[to(slot) - 1] (no object per stack: a query reads ~10,000 of them).
   */
  slot(id: number): number {
    return this.slots.get(id) ?? -1;
  }
  from(slot: number): number {
    return this.start[slot]!;
  }
  to(slot: number): number {
    return this.end[slot]!;
  }
  /** the frame indexes of the stacks held (a new array once it grows: read it after the last await) */
  get pool(): Int32Array {
    return this.refsPool;
  }

  /** Of `ids`, those the table does not hold. */
  missing(ids: Iterable<number>): number[] {
    const out: number[] = [];
    for (const id of ids) if (!this.slots.has(id)) out.push(id);
    return out;
  }

  /**
   * Adds stack `id` with its stored frame ids, root first: the first `n` of `frameIds` (a stack held
   * already is kept as it is).
   */
  add(id: number, frameIds: ArrayLike<number>, n = frameIds.length): void {
    if (this.slots.has(id)) return;
    const from = this.used;
    this.room(n);
    const pool = this.refsPool;
    for (let i = 0; i < n; i++) pool[this.used++] = this.frameOf(frameIds[i]!);
    this.close(id, from);
  }

  /** Stored ids of the frames referred to and not read yet. */
  unreadFrames(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.frames.length; i++) if (this.frames[i] === undefined) out.push(this.frameIds[i]!);
    return out;
  }

  /** Sets the frame stored under `id` (ignored when no stack held refers to it). */
  setFrame(id: number, frame: Frame): void {
    const i = this.frameIndex.get(id);
    if (i !== undefined) this.frames[i] = frame;
  }

  private frameOf(id: number): number {
    let i = this.frameIndex.get(id);
    if (i === undefined) {
      i = this.frames.length;
      this.frames.push(undefined);
      this.frameIds.push(id);
      this.frameIndex.set(id, i);
    }
    return i;
  }

  private room(n: number): void {
    if (this.used + n <= this.refsPool.length) return;
    let size = this.refsPool.length * 2;
    while (size < this.used + n) size *= 2;
    const pool = new Int32Array(size);
    pool.set(this.refsPool.subarray(0, this.used));
    this.refsPool = pool;
  }

  private close(id: number, from: number): void {
    const slot = this.slots.size;
    if (slot === this.start.length) {
      const start = new Int32Array(slot * 2);
      const end = new Int32Array(slot * 2);
      start.set(this.start);
      end.set(this.end);
      this.start = start;
      this.end = end;
    }
    this.start[slot] = from;
    this.end[slot] = this.used;
    this.slots.set(id, slot);
  }
}

/** How a store reads stacks and frames into a table. */
export interface StackSource {
  /** adds the stored stacks of `ids` to `table` (ids not stored are left out) */
  readStacks(ids: readonly number[], table: StackTable): Promise<void>;
  /** sets the stored frames of `ids` in `table` */
  readFrames(ids: readonly number[], table: StackTable): Promise<void>;
}

/**
 * Past this many frame references (4 bytes each, ~150,000 stacks of 25 frames) the table starts
 * over at the next query (memory stays bounded; one query may take more, it is not cut).
 */
const MAX_REFS = 4_000_000;

/** The stacks a store has read, reused by its next queries. */
export class StackCache {
  private table = new StackTable();

  constructor(
    private readonly source: StackSource,
    private readonly maxRefs = MAX_REFS,
  ) {}

  /** A table holding every stored stack of `ids` and the stored frames they refer to. */
  async stacks(ids: readonly number[]): Promise<StackTable> {
    const table = this.current();
    const missing = table.missing(ids);
    if (missing.length) await this.source.readStacks(missing, table);
    return this.frames(table);
  }

  /**
   * A query's stack counts and a table holding their stacks. With nothing read yet (a new process)
   * `readWithStacks` reads the stacks into the table together with their counts, one statement
   * instead of two; otherwise `readCounts` reads the counts and only the stacks the table lacks
   * are read.
   */
  async forQuery(
    readCounts: () => Promise<Map<number, number>>,
    readWithStacks: (table: StackTable) => Promise<Map<number, number>>,
  ): Promise<{ counts: Map<number, number>; table: StackTable }> {
    const table = this.current();
    if (table.refs > 0) {
      const counts = await readCounts();
      return { counts, table: await this.stacks([...counts.keys()]) };
    }
    const counts = await readWithStacks(table);
    return { counts, table: await this.frames(table) };
  }

  /** `table` with the stored frames its stacks refer to read. */
  async frames(table: StackTable): Promise<StackTable> {
    const frames = table.unreadFrames();
    if (frames.length) await this.source.readFrames(frames, table);
    return table;
  }

  private current(): StackTable {
    // A query running meanwhile keeps the table it started with.
    if (this.table.refs > this.maxRefs) this.table = new StackTable();
    return this.table;
  }
}
