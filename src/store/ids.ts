/**
 * Stored ids of frames and stacks: a 52-bit hash of their content (exact in a JS number and in a
 * 64-bit column), so every collector computes the same id without asking the database, and rows
 * refer to stacks by it. A collision (another content already stored under the id) is detected
 * against the store and resolved by probing the next id, the same way in every collector.
 */
import { createHash } from 'node:crypto';
import { frameKey, type Frame } from '../model/index.js';
import type { Store, StoredFrame, StoredStack } from './protocol.js';

const ID_SPACE = 2 ** 52;

export function contentId(text: string): number {
  const h = createHash('sha1').update(text).digest();
  // 52 bits: 4 bytes + 20 bits; never 0, so 0 can mean "none" in a column.
  return ((h.readUInt32BE(0) * 2 ** 20 + (h.readUInt32BE(4) >>> 12)) % (ID_SPACE - 1)) + 1;
}

const nextId = (id: number) => (id % (ID_SPACE - 1)) + 1;
const sameFrame = (a: Frame, b: Frame) => frameKey(a) === frameKey(b);
const stackText = (frames: readonly number[]) => frames.join(',');

/** Remembers at most this many frames and stacks; past it the cache starts over (memory stays flat). */
const MAX_CACHED = 100_000;

/**
 * Maps frames and stacks to stored ids for one collector: cached, resolved against the store on a
 * miss. `resolve` returns the ids of a response's tables and the frames and stacks to insert.
 */
export class IdResolver {
  private frameIds = new Map<string, number>();
  private stackIds = new Map<string, number>();
  /** ids assigned since the last commit: known only once the write that inserts them succeeded */
  private staged = { frames: new Map<string, number>(), stacks: new Map<string, number>() };

  constructor(private readonly store: Pick<Store, 'knownFrames' | 'knownStacks'>) {}

  /** The write that inserted the resolved frames and stacks succeeded: remember their ids. */
  commit(): void {
    for (const [k, id] of this.staged.frames) this.frameIds.set(k, id);
    for (const [k, id] of this.staged.stacks) this.stackIds.set(k, id);
    this.rollback();
  }

  /** The write failed: forget ids assigned since the last commit (they are resolved again). */
  rollback(): void {
    this.staged = { frames: new Map(), stacks: new Map() };
  }

  async resolve(
    frames: readonly Frame[],
    stacks: readonly number[][],
  ): Promise<{ stackIds: number[]; newFrames: StoredFrame[]; newStacks: StoredStack[] }> {
    if (this.frameIds.size > MAX_CACHED) this.frameIds = new Map();
    if (this.stackIds.size > MAX_CACHED) this.stackIds = new Map();
    const frameKeys = frames.map(frameKey);
    const newFrames = await this.assign(
      frameKeys,
      (i) => frames[i]!,
      this.frameIds,
      this.staged.frames,
      (ids) => this.store.knownFrames(ids),
      sameFrame,
    );
    const frameIds = frameKeys.map((k) => this.frameIds.get(k) ?? this.staged.frames.get(k)!);
    const stackFrames = stacks.map((s) => s.map((i) => frameIds[i]!));
    const stackKeys = stackFrames.map(stackText);
    const newStacks = await this.assign(
      stackKeys,
      (i) => stackFrames[i]!,
      this.stackIds,
      this.staged.stacks,
      (ids) => this.store.knownStacks(ids),
      (a, b) => stackText(a) === stackText(b),
    );
    return {
      stackIds: stackKeys.map((k) => this.stackIds.get(k) ?? this.staged.stacks.get(k)!),
      newFrames: newFrames.map(({ id, value }) => ({ id, frame: value })),
      newStacks: newStacks.map(({ id, value }) => ({ id, frames: value })),
    };
  }

  /** Ids for the uncached keys: hash, then probe past ids the store holds with other content. */
  private async assign<T>(
    keys: string[],
    value: (i: number) => T,
    cache: Map<string, number>,
    stage: Map<string, number>,
    known: (ids: number[]) => Promise<Map<number, T>>,
    same: (a: T, b: T) => boolean,
  ): Promise<Array<{ id: number; value: T }>> {
    const pending = new Map<string, { id: number; value: T }>();
    keys.forEach((k, i) => {
      if (!cache.has(k) && !stage.has(k) && !pending.has(k)) pending.set(k, { id: contentId(k), value: value(i) });
    });
    const out: Array<{ id: number; value: T }> = [];
    const taken = new Map<number, T>();
    while (pending.size) {
      const stored = await known([...new Set([...pending.values()].map((p) => p.id))]);
      for (const [k, p] of pending) {
        const there = stored.get(p.id) ?? taken.get(p.id);
        if (there === undefined) {
          taken.set(p.id, p.value);
          out.push(p);
          stage.set(k, p.id);
          pending.delete(k);
        } else if (same(there, p.value)) {
          stage.set(k, p.id);
          pending.delete(k);
        } else {
          p.id = nextId(p.id);
        }
      }
    }
    return out;
  }
}
