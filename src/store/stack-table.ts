/**
 * A store's copy of stored stacks and frames, kept across queries. Stacks and frames never change
 * once stored (their id is a hash of their content, inserted once), so a copy is never stale: a
 * query asks the database only for the stacks it has not seen yet, and their frames. A frame the
 * store lacks is not remembered as missing: the next query asks for it again.
 */
import type { Frame } from '../model/index.js';

/**
 * Stored id (a whole number below 2^53) -> index, open addressing over typed arrays: a Map keyed by
 * ids beyond 2^31 boxes every key, which made reading 150,000 frame references several times slower.
 */
class IdIndex {
  private keys = new Float64Array(1024);
  private values = new Int32Array(1024).fill(-1);
  private mask = 1023;
  size = 0;

  private slot(id: number): number {
    let h = Math.imul((id >>> 0) ^ Math.floor(id / 4294967296), 0x9e3779b1);
    h ^= h >>> 15;
    let i = h & this.mask;
    while (this.values[i] !== -1 && this.keys[i] !== id) i = (i + 1) & this.mask;
    return i;
  }

  /** the index stored for `id`, or -1 */
  get(id: number): number {
    return this.values[this.slot(id)]!;
  }

  /** stores `value` (>= 0) for `id`, which must not be held yet */
  add(id: number, value: number): void {
    if ((this.size + 1) * 2 > this.values.length) this.grow();
    const i = this.slot(id);
    this.keys[i] = id;
    this.values[i] = value;
    this.size++;
  }

  private grow(): void {
    const { keys, values } = this;
    this.keys = new Float64Array(keys.length * 2);
    this.values = new Int32Array(keys.length * 2).fill(-1);
    this.mask = keys.length * 2 - 1;
    for (let i = 0; i < keys.length; i++) {
      if (values[i] === -1) continue;
      const j = this.slot(keys[i]!);
      this.keys[j] = keys[i]!;
      this.values[j] = values[i]!;
    }
  }
}

/** Stacks by stored id, their frames as indexes into `frames`. */
export class StackTable {
  /** frames by index; undefined until read (or when the store lacks the frame) */
  readonly frames: Array<Frame | undefined> = [];
  /** stored frame id per frame index */
  private readonly frameIds: number[] = [];
  private readonly frameIndex = new IdIndex();
  /** per stack slot: its frame indexes are pool[start[slot]] .. pool[end[slot]] */
  private pool = new Int32Array(1 << 16);
  private used = 0;
  private start = new Int32Array(1024);
  private end = new Int32Array(1024);
  private readonly slots = new IdIndex();

  /** frame references held (the table's size) */
  get refs(): number {
    return this.used;
  }

  /** The frame indexes of stack `id`, root first; undefined when the table does not hold it. */
  stack(id: number): Int32Array | undefined {
    const slot = this.slots.get(id);
    return slot < 0 ? undefined : this.pool.subarray(this.start[slot]!, this.end[slot]!);
  }

  /** Of `ids`, those the table does not hold. */
  missing(ids: Iterable<number>): number[] {
    const out: number[] = [];
    for (const id of ids) if (this.slots.get(id) < 0) out.push(id);
    return out;
  }

  /** Adds stack `id` with its stored frame ids, root first (a stack held already is kept as it is). */
  add(id: number, frameIds: ArrayLike<number>): void {
    if (this.slots.get(id) >= 0) return;
    const from = this.used;
    this.room(frameIds.length);
    for (let i = 0; i < frameIds.length; i++) this.pool[this.used++] = this.frameOf(frameIds[i]!);
    this.close(id, from);
  }

  /** Adds stack `id` from its stored frame ids as decimal text separated by commas (`12,345,6789`). */
  addText(id: number, text: string): void {
    if (this.slots.get(id) >= 0) return;
    const from = this.used;
    // Ids are below 2^53: n * 10 + digit is exact all along.
    let n = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 44) {
        this.push(n);
        n = 0;
      } else {
        n = n * 10 + (c - 48);
      }
    }
    if (text.length) this.push(n);
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
    if (i >= 0) this.frames[i] = frame;
  }

  private push(frameId: number): void {
    this.room(1);
    this.pool[this.used++] = this.frameOf(frameId);
  }

  private frameOf(id: number): number {
    let i = this.frameIndex.get(id);
    if (i < 0) {
      i = this.frames.length;
      this.frames.push(undefined);
      this.frameIds.push(id);
      this.frameIndex.add(id, i);
    }
    return i;
  }

  private room(n: number): void {
    if (this.used + n <= this.pool.length) return;
    let size = this.pool.length * 2;
    while (size < this.used + n) size *= 2;
    // Views handed out before keep the old buffer, whose contents never change.
    const pool = new Int32Array(size);
    pool.set(this.pool.subarray(0, this.used));
    this.pool = pool;
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
    this.slots.add(id, slot);
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
   * The table to read a query's stacks into together with their counts (one statement instead of
   * two) when it holds none yet; undefined when it does (then only the stacks it lacks are read).
   */
  empty(): StackTable | undefined {
    const table = this.current();
    return table.refs === 0 ? table : undefined;
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
