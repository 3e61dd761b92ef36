/**
 * The store stage: open a store by its `--db` value, and the typed queries the CLI and the web page
 * share (the merged profile of a range, sample counts over time, the targets), each reading the
 * coarsest rows that cover the range exactly.
 */
import { NO_STACK, ProfileBuilder, type Profile } from '../model/index.js';
import { UserError } from '../util/errors.js';
import { LEVELS, type LevelName, type LevelRange, type Store, type TargetFilter, type TargetRow, type Watermarks } from './protocol.js';

export * from './protocol.js';
export { IdResolver } from './ids.js';
export { parseDuration, parseTime, parseRange } from './time.js';

export const isPostgresUrl = (db: string) => /^postgres(ql)?:\/\//.test(db);

/**
 * The store at `db`: a PostgreSQL URL (`postgres://user@host:port/db`) or an SQLite file. With
 * `create` the schema is created (the collector); without it the store must exist (queries).
 * Throws a one-line UserError when it cannot be opened.
 */
export async function openStore(db: string, opts: { create?: boolean } = {}): Promise<Store> {
  const create = opts.create ?? false;
  // Each driver is loaded only when used.
  if (isPostgresUrl(db)) return (await import('./postgres.js')).PostgresStore.open(db, { create });
  return (await import('./sqlite.js')).SqliteStore.open(db, { create });
}

/** A range of stored rows at one level. */
export type Piece = LevelRange;

const levelIndex = (name: LevelName) => LEVELS.findIndex((l) => l.name === name);
const floorTo = (t: number, ms: number) => Math.floor(t / ms) * ms;
const ceilTo = (t: number, ms: number) => Math.ceil(t / ms) * ms;
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

/**
 * The pieces that cover [fromMs, untilMs) exactly, each from the coarsest level whose rows fit inside
 * it (whole hours from the hourly rows, whole 10 minutes and minutes from theirs, the edges from
 * the 1 s rows), never coarser than `maxLevel`. Where retention deleted the finer rows of an edge, the
 * edge is widened to the next level's boundary and a note says so.
 */
export function planRange(
  fromMs: number,
  untilMs: number,
  watermarks: Watermarks = {},
  maxLevel: LevelName = 'hour',
): { pieces: Piece[]; fromMs: number; untilMs: number; notes: string[] } {
  let from = fromMs;
  let until = untilMs;
  let fromNote: string | undefined;
  let untilNote: string | undefined;
  const top = levelIndex(maxLevel);
  for (let i = 0; i < top; i++) {
    const kept = watermarks[LEVELS[i]!.name];
    if (kept === undefined) continue;
    const coarser = LEVELS[i + 1]!;
    if (from < kept && from % coarser.ms !== 0) {
      from = floorTo(from, coarser.ms);
      fromNote = `the range starts at ${iso(from)}: rows finer than ${coarser.label} before ${iso(kept)} were deleted by retention`;
    }
    if (until < kept && until % coarser.ms !== 0) {
      until = ceilTo(until, coarser.ms);
      untilNote = `the range ends at ${iso(until)}: rows finer than ${coarser.label} before ${iso(kept)} were deleted by retention`;
    }
  }
  const notes = [fromNote, untilNote].filter((n): n is string => n !== undefined);
  const oldest = watermarks[maxLevel];
  if (oldest !== undefined && from < oldest) notes.push(`no data before ${iso(oldest)}: deleted by retention`);
  const pieces: Piece[] = [];
  const split = (a: number, b: number, li: number): void => {
    if (a >= b) return;
    const level = LEVELS[li]!;
    if (li === 0) {
      pieces.push({ level: level.name, fromMs: a, untilMs: b });
      return;
    }
    const A = ceilTo(a, level.ms);
    const B = floorTo(b, level.ms);
    if (A < B) {
      split(a, A, li - 1);
      pieces.push({ level: level.name, fromMs: A, untilMs: B });
      split(B, b, li - 1);
    } else {
      split(a, b, li - 1);
    }
  };
  split(from, until, top);
  return { pieces, fromMs: from, untilMs: until, notes };
}

/** What a query covers: a time range and which targets. */
export interface RangeQuery extends TargetFilter {
  fromMs: number;
  untilMs: number;
}

/** The targets matching a filter. */
export function matchTargets(all: readonly TargetRow[], f: TargetFilter): TargetRow[] {
  return all.filter(
    (t) =>
      (f.service === undefined || t.service === f.service) &&
      (f.host === undefined || t.host === f.host) &&
      (f.pid === undefined || t.pid === f.pid) &&
      Object.entries(f.labels ?? {}).every(([k, v]) => t.labels[k] === v),
  );
}

/** A process id as users give it (`--pid 4242`, `pid=4242`); UserError when it is not one. */
export function parsePid(text: string, what: string): number {
  const pid = /^\s*\d{1,10}\s*$/.test(text) ? Number(text) : NaN;
  if (!(pid > 0 && pid < 2 ** 32)) throw new UserError(`bad ${what} "${text.slice(0, 40)}": give a process id, a positive whole number`);
  return pid;
}

const hasFilter = (f: TargetFilter) =>
  f.service !== undefined || f.host !== undefined || f.pid !== undefined || Object.keys(f.labels ?? {}).length > 0;

export interface ProfileResult {
  /** the merged profile: one sample per stack, weighted by its count (unit: samples) */
  profile: Profile;
  /** the range actually read (wider than asked only where retention left coarser rows; see notes) */
  fromMs: number;
  untilMs: number;
  /** the targets the filter matched (all runs of every agent, including ones without rows in the range) */
  targets: TargetRow[];
  samples: number;
  pieces: Piece[];
  notes: string[];
}

/** The merged profile of every matching target over a range. */
export async function queryProfile(store: Store, q: RangeQuery): Promise<ProfileResult> {
  const all = await store.targets();
  const targets = hasFilter(q) ? matchTargets(all, q) : all;
  const ids = hasFilter(q) ? targets.map((t) => t.id) : null;
  const plan = planRange(q.fromMs, q.untilMs, await store.watermarks());
  const { counts, table } = await store.rangeStacks(plan.pieces, ids);
  const b = new ProfileBuilder('samples');
  /** the table's frame index -> the profile's frame id; -1 when the store lacks the frame, -2 not seen yet */
  const frameIds = new Int32Array(table.frames.length).fill(-2);
  let samples = 0;
  let missing = 0;
  const pool = table.pool;
  // No arrays per stack: ~10,000 stacks of 8-30 frames make a 15-minute query of a fleet.
  for (const [id, n] of counts) {
    const slot = table.slot(id);
    const from = slot < 0 ? 0 : table.from(slot);
    const to = slot < 0 ? 0 : table.to(slot);
    let complete = slot >= 0;
    for (let i = from; complete && i < to; i++) {
      const f = pool[i]!;
      if (frameIds[f] === -2) {
        const frame = table.frames[f];
        frameIds[f] = frame ? b.frame(frame) : -1;
      }
      complete = frameIds[f]! >= 0;
    }
    if (!complete) {
      missing += n;
      continue;
    }
    let s = NO_STACK;
    for (let i = from; i < to; i++) s = b.stack(s, frameIds[pool[i]!]!);
    b.sample(s, n);
    samples += n;
  }
  const notes = [...plan.notes];
  if (missing) notes.push(`${missing} samples refer to stacks missing from the store and are left out`);
  b.meta = {
    name: describeTargets(targets, q),
    clock: 'epoch',
    startUs: plan.fromMs * 1000,
    endUs: plan.untilMs * 1000,
    ...(notes.length ? { notes } : {}),
  };
  return { profile: b.build(), fromMs: plan.fromMs, untilMs: plan.untilMs, targets, samples, pieces: plan.pieces, notes };
}

function describeTargets(targets: readonly TargetRow[], f: TargetFilter): string {
  const parts = [
    f.service && `service ${f.service}`,
    f.host && `host ${f.host}`,
    f.pid !== undefined && `pid ${f.pid}`,
    ...Object.entries(f.labels ?? {}).map(([k, v]) => `${k}=${v}`),
  ].filter(Boolean);
  return parts.length ? parts.join(', ') : `all targets (${new Set(targets.map((t) => t.address)).size})`;
}

/** Sample counts per step of a range. */
export interface TimelineResult {
  stepMs: number;
  /**
   * step start (ms since the epoch) and the samples in [start, start + stepMs); every step listed. The
   * first and last steps count only their part inside the range.
   */
  points: Array<{ ms: number; samples: number }>;
  fromMs: number;
  untilMs: number;
  notes: string[];
}

const STEPS = [1000, 10_000, 60_000, 600_000, 3_600_000, 6 * 3_600_000, 86_400_000];

/** The step for a range: the smallest that gives at most `maxPoints` points. */
export function timelineStep(rangeMs: number, maxPoints = 360): number {
  return STEPS.find((s) => rangeMs / s <= maxPoints) ?? STEPS[STEPS.length - 1]!;
}

/** Samples per time step (given, or chosen for the range) of every matching target. */
export async function queryTimeline(store: Store, q: RangeQuery & { stepMs?: number }): Promise<TimelineResult> {
  const stepMs = q.stepMs ?? timelineStep(q.untilMs - q.fromMs);
  const maxLevel = [...LEVELS].reverse().find((l) => stepMs % l.ms === 0)?.name ?? 'raw';
  const ids = hasFilter(q) ? matchTargets(await store.targets(), q).map((t) => t.id) : null;
  const plan = planRange(q.fromMs, q.untilMs, await store.watermarks(), maxLevel);
  const bins = new Map<number, number>();
  for (const piece of plan.pieces) {
    const part = await store.timeCounts(piece.level, piece.fromMs, piece.untilMs, ids);
    for (const [ts, n] of part) {
      const bin = floorTo(ts, stepMs);
      bins.set(bin, (bins.get(bin) ?? 0) + n);
    }
  }
  const points: TimelineResult['points'] = [];
  for (let t = floorTo(plan.fromMs, stepMs); t < plan.untilMs; t += stepMs) points.push({ ms: t, samples: bins.get(t) ?? 0 });
  return { stepMs, points, fromMs: plan.fromMs, untilMs: plan.untilMs, notes: plan.notes };
}

/** Every stored target (every run of every agent), for pickers. */
export async function listTargets(store: Store, f: TargetFilter = {}): Promise<TargetRow[]> {
  return matchTargets(await store.targets(), f);
}

/** How long rows are kept, per level (ms); a level without a value is kept forever. */
export type Retention = Partial<Record<LevelName, number>>;

/**
 * Deletes rows older than the retention, level by level, in batches of `batch` rows so a writer
 * never waits long. Cut-offs are aligned to the next level's boundary, so queries can widen an edge
 * to coarser rows exactly. Returns rows deleted per level.
 */
export async function applyRetention(
  store: Store,
  retention: Retention,
  nowMs = Date.now(),
  batch = 5000,
  pause: () => Promise<void> = async () => {},
): Promise<Partial<Record<LevelName, number>>> {
  const out: Partial<Record<LevelName, number>> = {};
  for (let i = 0; i < LEVELS.length; i++) {
    const level = LEVELS[i]!;
    const keep = retention[level.name];
    if (keep === undefined) continue;
    const align = LEVELS[i + 1]?.ms ?? level.ms;
    const before = floorTo(nowMs - keep, align);
    let total = 0;
    for (;;) {
      const n = await store.deleteOld(level.name, before, batch);
      total += n;
      if (n < batch) break;
      await pause();
    }
    out[level.name] = total;
  }
  return out;
}
