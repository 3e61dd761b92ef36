/**
 * The embedded store: one SQLite file (better-sqlite3), WAL mode, sample tables WITHOUT ROWID. A
 * write puts its 1 s rows in a temporary table once and derives every level from it in SQL.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Frame } from '../model/index.js';
import { UserError } from '../util/errors.js';
import {
  LEVELS,
  type IngestBatch,
  type LevelName,
  type LevelRange,
  type StackCounts,
  type Store,
  type TargetRow,
  type Watermarks,
} from './protocol.js';
import { lastCursors, rowsJson, targetLabels } from './rows.js';
import { StackCache, type StackTable } from './stack-table.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS targets (
  id INTEGER PRIMARY KEY, instance TEXT NOT NULL UNIQUE, address TEXT NOT NULL, service TEXT NOT NULL,
  host TEXT NOT NULL, pid INTEGER NOT NULL, labels TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS frames (id INTEGER PRIMARY KEY, name TEXT NOT NULL, file TEXT NOT NULL, line INTEGER NOT NULL, col INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS stacks (id INTEGER PRIMARY KEY, frames TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (address TEXT PRIMARY KEY, instance TEXT NOT NULL, cursor TEXT NOT NULL, updated INTEGER NOT NULL);
${LEVELS.map(
  (l) => `CREATE TABLE IF NOT EXISTS ${l.table} (ts INTEGER NOT NULL, target_id INTEGER NOT NULL, stack_id INTEGER NOT NULL,
  count INTEGER NOT NULL, PRIMARY KEY (ts, target_id, stack_id)) WITHOUT ROWID;`,
).join('\n')}
${LEVELS.filter((l) => l.fleet)
  .map(
    (l) => `CREATE TABLE IF NOT EXISTS ${l.fleet} (ts INTEGER NOT NULL, stack_id INTEGER NOT NULL, count INTEGER NOT NULL,
  PRIMARY KEY (ts, stack_id)) WITHOUT ROWID;`,
  )
  .join('\n')}
`;

/** The meta key saying the fleet tables hold every row (a store from before them gets them filled once). */
const FLEET_KEY = 'fleet_rollups';

/**
 * A stack's frame ids as stored: 8-byte doubles (exact for the 52-bit ids), read back without
 * parsing; stores written before this hold them as text, `1,2,3`.
 */
function encodeFrames(frames: readonly number[]): Buffer {
  const b = Buffer.allocUnsafe(frames.length * 8);
  frames.forEach((f, i) => b.writeDoubleLE(f, i * 8));
  return b;
}
function decodeFrames(v: Buffer | string): number[] {
  if (typeof v === 'string') return v.split(',').map(Number);
  const out = new Array<number>(v.length >> 3);
  for (let i = 0; i < out.length; i++) out[i] = v.readDoubleLE(i * 8);
  return out;
}

/**
 * Adds stored stacks (frames as stored) to a table: doubles copied natively into one reused array
 * where the machine's doubles are little-endian (every platform Node runs on but s390x), no call per
 * frame, which a new process (`stackscope query`) runs before its JIT warms up.
 */
class FramesDecoder {
  private doubles = new Float64Array(256);
  private bytes = new Uint8Array(this.doubles.buffer);

  add(table: StackTable, id: number, v: Buffer | string): void {
    if (typeof v === 'string' || !LITTLE_ENDIAN) {
      table.add(id, decodeFrames(v));
      return;
    }
    if (v.length > this.bytes.length) {
      this.doubles = new Float64Array(2 ** Math.ceil(Math.log2(v.length >> 3)));
      this.bytes = new Uint8Array(this.doubles.buffer);
    }
    this.bytes.set(v);
    table.add(id, this.doubles, v.length >> 3);
  }
}
const LITTLE_ENDIAN = os.endianness() === 'LE';

/** `ts` rounded down to a multiple of `ms` (as Math.floor does, negative times included). */
const floorSql = (ms: number) => `ts - ((ts % ${ms}) + ${ms}) % ${ms}`;

const CHUNK = 500;
function chunks<T>(xs: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += CHUNK) out.push(xs.slice(i, i + CHUNK));
  return out;
}

const levelOf = (level: LevelName) => LEVELS.find((l) => l.name === level)!;

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;

  private readonly cache = new StackCache({
    readStacks: async (ids, table) => {
      const decoder = new FramesDecoder();
      for (const part of chunks(ids)) {
        const rows = this.db
          .prepare(`SELECT id, frames FROM stacks WHERE id IN (${part.map(() => '?').join(',')})`)
          .raw()
          .all(...part) as Array<[number, Buffer | string]>;
        for (const [id, frames] of rows) decoder.add(table, id, frames);
      }
    },
    readFrames: async (ids, table) => {
      for (const [id, frame] of await this.knownFrames(ids)) table.setFrame(id, frame);
    },
  });
  private constructor(
    private readonly db: Database.Database,
    readonly where: string,
    /** whether the fleet tables hold every row (not in a store written before they existed) */
    private readonly fleet: boolean,
  ) {}

  /** Opens (creating when `create`) the store at `file`; a one-line UserError when it cannot. */
  static open(file: string, opts: { create: boolean }): SqliteStore {
    if (!opts.create && !fs.existsSync(file)) throw new UserError(`no database at ${file} (stackscope collect --db ${file} creates it)`);
    if (opts.create) {
      const dir = path.dirname(path.resolve(file));
      if (!fs.existsSync(dir)) throw new UserError(`cannot create the database ${file}: no folder ${dir}`);
    }
    let db: Database.Database;
    let fleet: boolean;
    try {
      db = new Database(file, { fileMustExist: !opts.create });
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      // Grouping (queries, and every write's levels) and the write's temporary table stay in memory.
      db.pragma('temp_store = MEMORY');
      if (opts.create) {
        db.exec(SCHEMA);
        db.transaction(() => {
          if (db.prepare('SELECT 1 FROM meta WHERE key = ?').get(FLEET_KEY)) return;
          for (const l of LEVELS) {
            if (!l.fleet) continue;
            db.exec(`INSERT INTO ${l.fleet} (ts, stack_id, count) SELECT ts, stack_id, SUM(count) FROM ${l.table} GROUP BY ts, stack_id`);
          }
          db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run(FLEET_KEY, '1');
        })();
      } else db.prepare('SELECT 1 FROM targets LIMIT 1').get();
      fleet = db.prepare('SELECT 1 FROM meta WHERE key = ?').get(FLEET_KEY) !== undefined;
    } catch (err) {
      const msg = (err as Error).message;
      if (/no such table/.test(msg)) throw new UserError(`${file} is not a stackscope database (no targets table)`);
      if (/file is not a database/.test(msg)) throw new UserError(`${file} is not a stackscope database (not SQLite)`);
      throw new UserError(`cannot ${opts.create ? 'write' : 'read'} the database ${file}: ${msg.split('\n')[0]}`);
    }
    return new SqliteStore(db, file, fleet);
  }

  async cursors(addresses: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const stmt = this.db.prepare('SELECT cursor FROM cursors WHERE address = ?').pluck();
    for (const a of addresses) {
      const c = stmt.get(a) as string | undefined;
      if (c !== undefined) out.set(a, c);
    }
    return out;
  }

  async knownStacks(ids: readonly number[]): Promise<Map<number, number[]>> {
    const out = new Map<number, number[]>();
    for (const part of chunks(ids)) {
      const rows = this.db
        .prepare(`SELECT id, frames FROM stacks WHERE id IN (${part.map(() => '?').join(',')})`)
        .raw()
        .all(...part) as Array<[number, Buffer | string]>;
      for (const [id, frames] of rows) out.set(id, decodeFrames(frames));
    }
    return out;
  }

  async knownFrames(ids: readonly number[]): Promise<Map<number, Frame>> {
    const out = new Map<number, Frame>();
    for (const part of chunks(ids)) {
      const rows = this.db
        .prepare(`SELECT id, name, file, line, col FROM frames WHERE id IN (${part.map(() => '?').join(',')})`)
        .raw()
        .all(...part) as Array<[number, string, string, number, number]>;
      for (const [id, name, file, line, col] of rows) out.set(id, { name, file, line, col });
    }
    return out;
  }

  async write(batches: readonly IngestBatch[]): Promise<void> {
    const db = this.db;
    const upsertTarget = db
      .prepare(
        `INSERT INTO targets (instance, address, service, host, pid, labels, first_seen, last_seen)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (instance) DO UPDATE SET last_seen = excluded.last_seen, address = excluded.address,
      labels = excluded.labels RETURNING id`,
      )
      .pluck();
    const insFrame = db.prepare('INSERT OR IGNORE INTO frames (id, name, file, line, col) VALUES (?, ?, ?, ?, ?)');
    const insStack = db.prepare('INSERT OR IGNORE INTO stacks (id, frames) VALUES (?, ?)');
    db.exec(
      'CREATE TEMP TABLE IF NOT EXISTS ingest (ts INTEGER NOT NULL, target_id INTEGER NOT NULL, stack_id INTEGER NOT NULL, count INTEGER NOT NULL)',
    );
    // The write's 1 s rows enter SQLite as one JSON array; every level is summed from them in SQL.
    const load = db.prepare('INSERT INTO temp.ingest SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?)');
    const levels = LEVELS.flatMap((l) => {
      const ts = l.ms === 1000 ? 'ts' : floorSql(l.ms);
      const out = [
        `INSERT INTO ${l.table} (ts, target_id, stack_id, count) SELECT ${ts}, target_id, stack_id, SUM(count) FROM temp.ingest
        GROUP BY 1, 2, 3 ON CONFLICT (ts, target_id, stack_id) DO UPDATE SET count = count + excluded.count`,
      ];
      if (l.fleet && this.fleet) {
        out.push(`INSERT INTO ${l.fleet} (ts, stack_id, count) SELECT ${ts}, stack_id, SUM(count) FROM temp.ingest
        GROUP BY 1, 2 ON CONFLICT (ts, stack_id) DO UPDATE SET count = count + excluded.count`);
      }
      return out.map((sql) => db.prepare(sql));
    });
    const setCursor = db.prepare(`INSERT INTO cursors (address, instance, cursor, updated) VALUES (?, ?, ?, ?)
      ON CONFLICT (address) DO UPDATE SET instance = excluded.instance, cursor = excluded.cursor, updated = excluded.updated`);
    db.transaction(() => {
      const ids = batches.map((b) => {
        return upsertTarget.get(
          b.agent.instance,
          b.address,
          b.agent.service,
          b.agent.hostname,
          b.agent.pid,
          JSON.stringify(targetLabels(b)),
          b.readMs,
          b.readMs,
        ) as number;
      });
      for (const b of batches) {
        for (const f of b.newFrames) insFrame.run(f.id, f.frame.name, f.frame.file, f.frame.line, f.frame.col);
        for (const s of b.newStacks) insStack.run(s.id, encodeFrames(s.frames));
      }
      db.prepare('DELETE FROM temp.ingest').run();
      load.run(rowsJson(batches, ids));
      for (const stmt of levels) stmt.run();
      db.prepare('DELETE FROM temp.ingest').run();
      for (const [address, c] of lastCursors(batches)) setCursor.run(address, c.instance, c.cursor, c.readMs);
    })();
  }

  async targets(): Promise<TargetRow[]> {
    const rows = this.db
      .prepare('SELECT id, instance, address, service, host, pid, labels, first_seen, last_seen FROM targets ORDER BY id')
      .raw()
      .all() as Array<[number, string, string, string, string, number, string, number, number]>;
    return rows.map(([id, instance, address, service, host, pid, labels, firstSeenMs, lastSeenMs]) => ({
      id,
      instance,
      address,
      service,
      host,
      pid,
      labels: JSON.parse(labels) as Record<string, string>,
      firstSeenMs,
      lastSeenMs,
    }));
  }

  /** `SELECT columns` of the rows of `level` in [?, ?) of the targets (all when null: fleet rows where kept). */
  private rangeSql(level: LevelName, columns: string, targets: readonly number[] | null): string {
    const l = levelOf(level);
    if (!targets && l.fleet && this.fleet) return `SELECT ${columns} FROM ${l.fleet} WHERE ts >= ? AND ts < ?`;
    const filter = targets ? ` AND target_id IN (${targets.map((t) => Number(t)).join(',')})` : '';
    return `SELECT ${columns} FROM ${l.table} WHERE ts >= ? AND ts < ?${filter}`;
  }

  /** The statement summing the rows of `ranges` per stack (`stack_id`, `n`) and its parameters; null when it reads none. */
  private countsSql(ranges: readonly LevelRange[], targets: readonly number[] | null): { text: string; params: number[] } | null {
    if ((targets && targets.length === 0) || ranges.length === 0) return null;
    const parts = ranges.map((r) => this.rangeSql(r.level, 'stack_id, count', targets));
    return {
      text: `SELECT stack_id, SUM(count) AS n FROM (${parts.join(' UNION ALL ')}) GROUP BY stack_id`,
      params: ranges.flatMap((r) => [r.fromMs, r.untilMs]),
    };
  }

  async stackCounts(ranges: readonly LevelRange[], targets: readonly number[] | null): Promise<StackCounts> {
    const out: StackCounts = new Map();
    const q = this.countsSql(ranges, targets);
    if (!q) return out;
    // One statement: SQLite sums the ranges' rows, and only one row per stack reaches JS.
    const stmt = this.db.prepare(q.text).raw();
    for (const [stack, count] of stmt.iterate(...q.params) as IterableIterator<[number, number]>) out.set(stack, count);
    return out;
  }

  async timeCounts(level: LevelName, fromMs: number, untilMs: number, targets: readonly number[] | null): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    if (targets && targets.length === 0) return out;
    const stmt = this.db.prepare(`${this.rangeSql(level, 'ts, SUM(count)', targets)} GROUP BY ts`).raw();
    for (const [ts, count] of stmt.iterate(fromMs, untilMs) as IterableIterator<[number, number]>) out.set(ts, count);
    return out;
  }

  rangeStacks(ranges: readonly LevelRange[], targets: readonly number[] | null): Promise<{ counts: StackCounts; table: StackTable }> {
    return this.cache.forQuery(
      () => this.stackCounts(ranges, targets),
      async (table) => {
        // Nothing read yet (a new process): the stacks come with their counts, one statement.
        const counts: StackCounts = new Map();
        const q = this.countsSql(ranges, targets);
        if (q) {
          const stmt = this.db
            .prepare(`SELECT x.stack_id, x.n, s.frames FROM (${q.text}) AS x LEFT JOIN stacks AS s ON s.id = x.stack_id`)
            .raw();
          const decoder = new FramesDecoder();
          for (const [id, n, frames] of stmt.iterate(...q.params) as IterableIterator<[number, number, Buffer | string | null]>) {
            counts.set(id, n);
            if (frames !== null) decoder.add(table, id, frames);
          }
        }
        return counts;
      },
    );
  }

  async deleteOld(level: LevelName, beforeMs: number, limit: number): Promise<number> {
    const l = levelOf(level);
    return this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))`,
        )
        .run(`kept_since_${level}`, String(beforeMs));
      let n = this.db
        .prepare(
          `DELETE FROM ${l.table} WHERE (ts, target_id, stack_id) IN
        (SELECT ts, target_id, stack_id FROM ${l.table} WHERE ts < ? ORDER BY ts LIMIT ?)`,
        )
        .run(beforeMs, limit).changes;
      if (l.fleet) {
        n += this.db
          .prepare(`DELETE FROM ${l.fleet} WHERE (ts, stack_id) IN (SELECT ts, stack_id FROM ${l.fleet} WHERE ts < ? ORDER BY ts LIMIT ?)`)
          .run(beforeMs, limit).changes;
      }
      return n;
    })();
  }

  async watermarks(): Promise<Watermarks> {
    const out: Watermarks = {};
    const rows = this.db.prepare("SELECT key, value FROM meta WHERE key LIKE 'kept_since_%'").raw().all() as Array<[string, string]>;
    for (const [key, value] of rows) out[key.slice('kept_since_'.length) as LevelName] = Number(value);
    return out;
  }

  async rowCounts(): Promise<Record<LevelName, number>> {
    const out = {} as Record<LevelName, number>;
    for (const l of LEVELS) {
      const tables = l.fleet ? [l.table, l.fleet] : [l.table];
      out[l.name] = tables.reduce((n, t) => n + (this.db.prepare(`SELECT COUNT(*) FROM ${t}`).pluck().get() as number), 0);
    }
    return out;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
