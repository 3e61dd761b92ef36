/**
 * The profile model every stage shares: interned frames, a stack table (a prefix tree: each stack is
 * a parent stack plus one frame) and weighted, optionally timestamped samples.
 *
 * Readers (src/formats/*) build a Profile through ProfileBuilder, deciding names and positions once
 * (model/frame.ts); writers, compare, bench, the agent, the collector and the page read it, and the
 * operations in model/ops.ts transform it. Nothing downstream re-parses a frame label.
 *
 * Storage is columnar (plain arrays of numbers), so a million samples cost a few tens of MiB rather
 * than a million objects.
 */
import { frameKey, type Frame } from './frame.js';

/** What a sample's weight counts. */
export type WeightUnit = 'samples' | 'microseconds' | 'nanoseconds' | 'bytes' | 'none';

/** No stack: a sample that carries weight but no frames (an idle tick, say) is not stored at all. */
export const NO_STACK = -1;

export interface ProfileMeta {
  /** what was profiled, as shown to users (a file name, `service on host`, a strategy) */
  name?: string;
  /** sampling interval in µs, when the profile was sampled at a fixed rate */
  intervalUs?: number;
  /** start and end of the recorded period, µs on the same clock as sample times */
  startUs?: number;
  endUs?: number;
  /** the µs clock's meaning: 'epoch' (µs since 1970) or 'relative' (a clock of its own) */
  clock?: 'epoch' | 'relative';
  /**
   * What the profile is missing or only estimates, one sentence each (dropped records, folded rare
   * stacks, clipped calls). Shown wherever the profile's figures are shown.
   */
  notes?: string[];
}

export interface Profile {
  readonly unit: WeightUnit;
  /** interned frames; a frame id indexes this array */
  readonly frames: readonly Frame[];
  /** per stack id: its parent stack (NO_STACK for a root-level stack) and its leaf frame */
  readonly stackParent: readonly number[];
  readonly stackFrame: readonly number[];
  /** per sample: its stack, weight (in `unit`) and time (µs; NaN when unknown) */
  readonly sampleStack: readonly number[];
  readonly sampleWeight: readonly number[];
  readonly sampleTime: readonly number[];
  /**
   * Per sample, optional: the CPU time it stands for, µs (a sampled profile's count weight and time
   * weight differ: pprof and compare want both).
   */
  readonly sampleDurationUs?: readonly number[];
  /** Per frame id, optional: how many calls were made, where the source knows (traces do). */
  readonly frameCalls?: readonly number[];
  readonly meta: ProfileMeta;
}

/**
 * What a format reader writes into: a ProfileBuilder, or another store with the same interning
 * (the agent's byte-bounded stack store). `idle`, when given, hears of samples that carry no CPU
 * (the thread was waiting), which a profile leaves out but a timeline may count.
 */
export interface StackSink {
  frame(f: Frame): number;
  stack(parent: number, frameId: number): number;
  sample(stack: number, weight: number, timeUs?: number, durationUs?: number): void;
  reserve?(n: number): void;
  idle?(timeUs: number): void;
}

/**
 * The interning key of the stack `parent` + `frameId`: one number (ids stay far below 2^26, so the
 * parent, +1 for NO_STACK, and the frame fit exactly in a double).
 */
export function stackKey(parent: number, frameId: number): number {
  return (parent + 1) * 67_108_864 + frameId;
}

/**
 * (parent, frame) -> id, open addressing over typed arrays: the stack table of a big profile is
 * interned without a boxed number per key (one packed key in a Map is a heap number beyond 2^31)
 * and without an object per entry. Keys are ids >= -1; ids stored are >= 0.
 */
class PairTable {
  private parents = new Int32Array(1024);
  private frames = new Int32Array(1024);
  private ids = new Int32Array(1024).fill(-1);
  private mask = 1023;
  private size = 0;

  private slot(parent: number, frame: number): number {
    let h = Math.imul(parent + 1, 0x9e3779b1) ^ frame;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h ^= h >>> 13;
    let i = h & this.mask;
    while (this.ids[i] !== -1 && (this.parents[i] !== parent || this.frames[i] !== frame)) i = (i + 1) & this.mask;
    return i;
  }

  /** the id stored for (parent, frame), or -1 */
  get(parent: number, frame: number): number {
    return this.ids[this.slot(parent, frame)]!;
  }

  set(parent: number, frame: number, id: number): void {
    if ((this.size + 1) * 2 > this.ids.length) this.grow();
    const i = this.slot(parent, frame);
    if (this.ids[i] === -1) this.size++;
    this.parents[i] = parent;
    this.frames[i] = frame;
    this.ids[i] = id;
  }

  private grow(): void {
    const { parents, frames, ids } = this;
    const n = ids.length * 2;
    this.parents = new Int32Array(n);
    this.frames = new Int32Array(n);
    this.ids = new Int32Array(n).fill(-1);
    this.mask = n - 1;
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] === -1) continue;
      const j = this.slot(parents[i]!, frames[i]!);
      this.parents[j] = parents[i]!;
      this.frames[j] = frames[i]!;
      this.ids[j] = ids[i]!;
    }
  }
}

/** Builds a Profile: interns frames and stacks, appends samples. */
export class ProfileBuilder implements StackSink {
  readonly frames: Frame[] = [];
  readonly stackParent: number[] = [];
  readonly stackFrame: number[] = [];
  sampleStack: number[] = [];
  sampleWeight: number[] = [];
  sampleTime: number[] = [];
  /** samples so far (the arrays may be longer: see reserve) */
  private count = 0;
  private durations: number[] | undefined;
  private calls: number[] | undefined;
  private readonly frameIds = new Map<string, number>();
  /** (parent, frame) -> stack id */
  private readonly stackIds = new PairTable();
  meta: ProfileMeta = {};

  constructor(readonly unit: WeightUnit = 'samples') {}

  /** The id of a frame, interned by name, file, line and column. */
  frame(f: Frame): number {
    const key = frameKey(f);
    let id = this.frameIds.get(key);
    if (id === undefined) {
      id = this.frames.length;
      this.frames.push(f);
      this.frameIds.set(key, id);
    }
    return id;
  }

  /** The id of the stack `parent` + `frameId` (parent NO_STACK for a root-level frame). */
  stack(parent: number, frameId: number): number {
    let id = this.stackIds.get(parent, frameId);
    if (id < 0) {
      id = this.stackParent.length;
      this.stackParent.push(parent);
      this.stackFrame.push(frameId);
      this.stackIds.set(parent, frameId, id);
    }
    return id;
  }

  /** The id of a stack given as frame ids, root first (NO_STACK for an empty list). */
  stackOf(frameIds: readonly number[]): number {
    let s = NO_STACK;
    for (const f of frameIds) s = this.stack(s, f);
    return s;
  }

  /**
   * Room for `n` samples, made once before the first: a reader that knows its sample count (a
   * million-sample .cpuprofile) saves re-growing the arrays, which is most of its cost.
   */
  reserve(n: number): void {
    if (this.count > 0 || n <= this.sampleStack.length) return;
    this.sampleStack = new Array<number>(n);
    this.sampleWeight = new Array<number>(n);
    this.sampleTime = new Array<number>(n);
  }

  /** Appends a sample. Samples without a stack are ignored (they are not where time went). */
  sample(stack: number, weight: number, timeUs = NaN, durationUs?: number): void {
    if (stack === NO_STACK) return;
    const i = this.count++;
    this.sampleStack[i] = stack;
    this.sampleWeight[i] = weight;
    this.sampleTime[i] = timeUs;
    if (durationUs !== undefined) {
      if (!this.durations) {
        this.durations = new Array<number>(this.sampleStack.length);
        for (let j = 0; j < i; j++) this.durations[j] = NaN;
      }
      this.durations[i] = durationUs;
    } else if (this.durations) {
      this.durations[i] = NaN;
    }
  }

  /** Counts `n` calls of a frame (sources that know calls: traces). */
  countCalls(frameId: number, n = 1): void {
    this.calls ??= [];
    this.calls[frameId] = (this.calls[frameId] ?? 0) + n;
  }

  build(): Profile {
    // Reserved room not filled (samples without a stack were dropped) is cut off.
    for (const a of [this.sampleStack, this.sampleWeight, this.sampleTime, this.durations])
      if (a && a.length > this.count) a.length = this.count;
    return {
      unit: this.unit,
      frames: this.frames,
      stackParent: this.stackParent,
      stackFrame: this.stackFrame,
      sampleStack: this.sampleStack,
      sampleWeight: this.sampleWeight,
      sampleTime: this.sampleTime,
      ...(this.durations ? { sampleDurationUs: this.durations } : {}),
      ...(this.calls ? { frameCalls: Array.from(this.frames, (_, i) => this.calls![i] ?? 0) } : {}),
      meta: this.meta,
    };
  }
}

/** The frame ids of a stack, root first. */
export function stackFrames(p: Profile, stack: number): number[] {
  const out: number[] = [];
  for (let s = stack; s !== NO_STACK; s = p.stackParent[s]!) out.push(p.stackFrame[s]!);
  return out.reverse();
}

/** Depth of every stack (1 for a root-level frame), computed once per profile. */
export function stackDepths(p: Profile): Int32Array {
  const depth = new Int32Array(p.stackParent.length);
  // Parents always have smaller ids than their children (the builder creates them first).
  for (let s = 0; s < depth.length; s++) {
    const parent = p.stackParent[s]!;
    depth[s] = parent === NO_STACK ? 1 : depth[parent]! + 1;
  }
  return depth;
}

/** Sum of all sample weights. */
export function totalWeight(p: Profile): number {
  let t = 0;
  for (const w of p.sampleWeight) t += w;
  return t;
}

/** Weight per stack id (samples of the same stack added up); stacks without samples are absent. */
export function weightByStack(p: Profile, weights: readonly number[] = p.sampleWeight): Map<number, number> {
  const out = new Map<number, number>();
  for (let i = 0; i < p.sampleStack.length; i++) {
    const s = p.sampleStack[i]!;
    out.set(s, (out.get(s) ?? 0) + weights[i]!);
  }
  return out;
}
