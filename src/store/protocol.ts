/**
 * The store of collected profiles, behind one interface with two implementations (SQLite for one
 * machine, PostgreSQL for fleets). The collector writes batches; queries read merged profiles and
 * timelines of any time range.
 *
 * Shape: targets (one row per agent instance: service, host, pid, labels), frames and stacks
 * deduplicated by a hash of their content, sample rows (bucket start, target, stack, count) at four
 * levels (the agents' 1 s buckets, per minute, per 10 minutes, per hour), the same rollups once more
 * without the target (fleet rows: what queries of every target read), and one cursor per polled
 * address, written in the same transaction as the samples it covers.
 */
import type { AgentIdentity } from '../agent/protocol.js';
import type { Frame } from '../model/index.js';
import type { StackTable } from './stack-table.js';

/**
 * The levels sample rows are kept at, finest first. `ms` is a row's time span; `fleet` the table of
 * the level's rows summed over all targets (none for 1 s rows, which differ little when summed).
 */
export const LEVELS = [
  { name: 'raw', table: 'samples', fleet: null, ms: 1000, label: '1 s' },
  { name: 'minute', table: 'samples_1m', fleet: 'fleet_1m', ms: 60_000, label: '1 min' },
  { name: '10min', table: 'samples_10m', fleet: 'fleet_10m', ms: 600_000, label: '10 min' },
  { name: 'hour', table: 'samples_1h', fleet: 'fleet_1h', ms: 3_600_000, label: '1 h' },
] as const;
export type LevelName = (typeof LEVELS)[number]['name'];

/** Rows of one level over a time range, [fromMs, untilMs) aligned to the level. */
export interface LevelRange {
  level: LevelName;
  fromMs: number;
  untilMs: number;
}

/** What one poll of one address read, ready to store (tables already resolved to stored ids). */
export interface IngestBatch {
  /** the polled address, `host:port` */
  address: string;
  agent: AgentIdentity;
  /** labels from the targets file, added to (and overriding) the agent's own */
  labels: Record<string, string>;
  /** the cursor to store: the next one to ask this address with */
  cursor: string;
  /** when it was read, ms since the epoch */
  readMs: number;
  /** stacks this batch refers to that the store may not hold yet (id -> frames root first) */
  newStacks: StoredStack[];
  newFrames: StoredFrame[];
  /** flat triples: bucket start ms, stored stack id, count */
  rows: number[];
}

export interface StoredFrame {
  id: number;
  frame: Frame;
}
export interface StoredStack {
  id: number;
  frames: number[];
}

/** A stored target: one run of an agent. */
export interface TargetRow {
  id: number;
  instance: string;
  address: string;
  service: string;
  host: string;
  pid: number;
  labels: Record<string, string>;
  firstSeenMs: number;
  lastSeenMs: number;
}

/** Which targets a query covers: all that match every given filter. */
export interface TargetFilter {
  service?: string;
  host?: string;
  /**
   * the process id the agent reported: the runs of that pid (a restarted agent is a new run with its
   * own pid, so this selects the rows of the process that had it; give host too when pids repeat)
   */
  pid?: number;
  /** every label must match */
  labels?: Record<string, string>;
}

/** Aggregated sample counts: per stored stack id. */
export type StackCounts = Map<number, number>;

/** The oldest time each level still holds in full (data before it was deleted by retention). */
export type Watermarks = Partial<Record<LevelName, number>>;

/** The operations each implementation provides; queries and plans are built on these. */
export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** a short description for logs (the file, or the database without its password) */
  readonly where: string;
  /** the stored cursor of every address this collector polls (null: never read) */
  cursors(addresses: readonly string[]): Promise<Map<string, string>>;
  /** stacks and frames already stored, of the given ids (the collector's cache misses) */
  knownStacks(ids: readonly number[]): Promise<Map<number, number[]>>;
  knownFrames(ids: readonly number[]): Promise<Map<number, Frame>>;
  /** writes batches in one transaction: targets, frames, stacks, rows at every level, cursors */
  write(batches: readonly IngestBatch[]): Promise<void>;
  targets(): Promise<TargetRow[]>;
  /**
   * counts per stack, summed over the rows of every range, of the given targets (all when null: read
   * from the fleet rows where the level has them)
   */
  stackCounts(ranges: readonly LevelRange[], targets: readonly number[] | null): Promise<StackCounts>;
  /** counts per row time of `level` rows in [fromMs, untilMs) */
  timeCounts(level: LevelName, fromMs: number, untilMs: number, targets: readonly number[] | null): Promise<Map<number, number>>;
  /**
   * The counts of stackCounts, and a table holding their stacks and the frames they refer to (stacks
   * not stored are absent from it, frames not stored undefined). The store keeps the table for its
   * next queries: stored stacks and frames never change, so only the ones it lacks are read.
   */
  rangeStacks(ranges: readonly LevelRange[], targets: readonly number[] | null): Promise<{ counts: StackCounts; table: StackTable }>;
  /**
   * Deletes rows of `level` (per target and fleet) older than `beforeMs`, at most `limit` of each at a
   * time, and records the level's watermark. Returns the rows deleted (fewer than `limit`: done).
   */
  deleteOld(level: LevelName, beforeMs: number, limit: number): Promise<number>;
  watermarks(): Promise<Watermarks>;
  /** rows per level (per target and fleet), for stats */
  rowCounts(): Promise<Record<LevelName, number>>;
  close(): Promise<void>;
}

/** The store could not be reached or written right now (the collector buffers and retries). */
export class StoreUnavailableError extends Error {}
