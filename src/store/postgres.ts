/**
 * The fleet store: PostgreSQL through `pg`. Several collectors, each with its own targets, write to
 * one database at once: frames and stacks are inserted with ON CONFLICT DO NOTHING in id order (no
 * deadlock between writers), rows are upserted with their counts added, and the schema is created
 * under an advisory lock.
 */
import pg from 'pg';
import type { Frame } from '../model/index.js';
import { UserError } from '../util/errors.js';
import {
  LEVELS,
  StoreUnavailableError,
  type IngestBatch,
  type LevelName,
  type LevelRange,
  type StackCounts,
  type Store,
  type TargetRow,
  type Watermarks,
} from './protocol.js';
import { fleetRows, lastCursors, levelRows, targetLabels } from './rows.js';
import { StackCache, type StackTable } from './stack-table.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS targets (
  id SERIAL PRIMARY KEY, instance TEXT NOT NULL UNIQUE, address TEXT NOT NULL, service TEXT NOT NULL,
  host TEXT NOT NULL, pid INTEGER NOT NULL, labels JSONB NOT NULL, first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS frames (id BIGINT PRIMARY KEY, name TEXT NOT NULL, file TEXT NOT NULL, line INTEGER NOT NULL, col INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS stacks (id BIGINT PRIMARY KEY, frames BIGINT[] NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (address TEXT PRIMARY KEY, instance TEXT NOT NULL, cursor TEXT NOT NULL, updated BIGINT NOT NULL);
${LEVELS.map(
  (l) => `CREATE TABLE IF NOT EXISTS ${l.table} (ts BIGINT NOT NULL, target_id INTEGER NOT NULL, stack_id BIGINT NOT NULL,
  count BIGINT NOT NULL, PRIMARY KEY (ts, target_id, stack_id));`,
).join('\n')}
${LEVELS.filter((l) => l.fleet)
  .map(
    (l) =>
      `CREATE TABLE IF NOT EXISTS ${l.fleet} (ts BIGINT NOT NULL, stack_id BIGINT NOT NULL, count BIGINT NOT NULL, PRIMARY KEY (ts, stack_id));`,
  )
  .join('\n')}
`;

/**
 * A stack's frame ids (`column`) as a JSON array, read with JSON.parse: pg's generic array parser took
 * about half of the JS time of a fleet's 15-minute query (~10,000 stacks), and of the ways measured
 * (text split in JS, parsed by hand, JSON) JSON.parse costs least, also in a new process where the
 * JIT has not warmed up (`stackscope query`). Ids are below 2^53: exact as JSON numbers.
 */
const framesJson = (column: string) => `array_to_json(${column})::text`;

/** The meta key saying the fleet tables hold every row (a store from before them gets them filled once). */
const FLEET_KEY = 'fleet_rollups';

const levelOf = (level: LevelName) => LEVELS.find((l) => l.name === level)!;

/** A connection string shown without its password. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

/** Errors of a database that is down or unreachable (connection refused, shut down, reset). */
function isUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return (
    /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH|57P0[1-3]|08\d\d\d)$/.test(e.code ?? '') ||
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(e.message ?? '')
  );
}

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;

  /** whether the fleet tables hold every row (not in a store written before they existed) */
  private fleet = false;

  private readonly cache = new StackCache({
    readStacks: async (ids, table) => {
      const r = await this.run(() =>
        this.pool.query({
          text: `SELECT id::float8, ${framesJson('frames')} FROM stacks WHERE id = ANY($1::bigint[])`,
          values: [ids],
          rowMode: 'array',
        }),
      );
      for (const [id, frames] of r.rows as Array<[number, string]>) table.add(id, JSON.parse(frames) as number[]);
    },
    readFrames: async (ids, table) => {
      for (const [id, frame] of await this.knownFrames(ids)) table.setFrame(id, frame);
    },
  });

  private constructor(
    private readonly pool: pg.Pool,
    readonly where: string,
  ) {}

  static async open(url: string, opts: { create: boolean }): Promise<PostgresStore> {
    const where = redactUrl(url);
    const pool = new pg.Pool({
      connectionString: url,
      max: 4,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 10_000,
      // The store's statements read up to a few hundred thousand narrow rows: starting parallel
      // workers cost more than they saved (a 15-minute query of a fleet: 185 ms with them, 38 ms
      // without, measured on 2 busy cores). A server that refuses the setting is used as it is.
      onConnect: async (client) => {
        await client.query('SET max_parallel_workers_per_gather = 0').catch(() => {});
      },
    });
    // A connection dropped by the server (idle, or between a transaction's statements) must not crash
    // the process: the statement in flight fails and is reported, and the next one reconnects.
    pool.on('error', () => {});
    pool.on('connect', (client) => client.on('error', () => {}));
    const store = new PostgresStore(pool, where);
    try {
      if (opts.create) {
        await store.tx(async (c) => {
          await c.query('SELECT pg_advisory_xact_lock(7318001)');
          await c.query(SCHEMA);
          if ((await c.query('SELECT 1 FROM meta WHERE key = $1', [FLEET_KEY])).rowCount) return;
          for (const l of LEVELS) {
            if (!l.fleet) continue;
            await c.query(
              `INSERT INTO ${l.fleet} (ts, stack_id, count) SELECT ts, stack_id, SUM(count) FROM ${l.table} GROUP BY ts, stack_id`,
            );
          }
          await c.query('INSERT INTO meta (key, value) VALUES ($1, $2)', [FLEET_KEY, '1']);
        });
      } else {
        await pool.query('SELECT 1 FROM targets LIMIT 1');
      }
      store.fleet = ((await pool.query('SELECT 1 FROM meta WHERE key = $1', [FLEET_KEY])).rowCount ?? 0) > 0;
    } catch (err) {
      await pool.end().catch(() => {});
      const msg = (err as Error).message?.split('\n')[0] || String((err as { code?: string }).code ?? err);
      if (/relation "targets" does not exist/.test(msg)) throw new UserError(`${where} holds no stackscope data (no targets table)`);
      throw new UserError(`cannot reach the database ${where}: ${msg}`);
    }
    return store;
  }

  private async tx<T>(work: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const out = await work(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }

  private async run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (isUnavailable(err))
        throw new StoreUnavailableError((err as Error).message?.split('\n')[0] || String((err as { code?: string }).code));
      throw err;
    }
  }

  async cursors(addresses: readonly string[]): Promise<Map<string, string>> {
    return this.run(async () => {
      const r = await this.pool.query<{ address: string; cursor: string }>(
        'SELECT address, cursor FROM cursors WHERE address = ANY($1::text[])',
        [addresses],
      );
      return new Map(r.rows.map((x) => [x.address, x.cursor]));
    });
  }

  async knownStacks(ids: readonly number[]): Promise<Map<number, number[]>> {
    if (!ids.length) return new Map();
    return this.run(async () => {
      const r = await this.pool.query({
        text: `SELECT id::float8, ${framesJson('frames')} FROM stacks WHERE id = ANY($1::bigint[])`,
        values: [ids],
        rowMode: 'array',
      });
      return new Map((r.rows as Array<[number, string]>).map(([id, frames]) => [id, JSON.parse(frames) as number[]]));
    });
  }

  async knownFrames(ids: readonly number[]): Promise<Map<number, Frame>> {
    if (!ids.length) return new Map();
    return this.run(async () => {
      const r = await this.pool.query<{ id: number } & Frame>(
        'SELECT id::float8 AS id, name, file, line, col FROM frames WHERE id = ANY($1::bigint[])',
        [ids],
      );
      return new Map(r.rows.map(({ id, name, file, line, col }) => [id, { name, file, line, col }]));
    });
  }

  async write(batches: readonly IngestBatch[]): Promise<void> {
    if (!batches.length) return;
    await this.run(() =>
      this.tx(async (c) => {
        // One statement for all targets (the last batch of an instance wins), one for all cursors.
        const byInstance = new Map(batches.map((b) => [b.agent.instance, b]));
        const ts = [...byInstance.values()];
        const r = await c.query<{ id: number; instance: string }>(
          `INSERT INTO targets (instance, address, service, host, pid, labels, first_seen, last_seen)
        SELECT i, a, s, h, p, l::jsonb, t, t FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::bigint[]) AS x(i, a, s, h, p, l, t)
        ON CONFLICT (instance) DO UPDATE SET last_seen = excluded.last_seen, address = excluded.address, labels = excluded.labels
        RETURNING id, instance`,
          [
            ts.map((b) => b.agent.instance),
            ts.map((b) => b.address),
            ts.map((b) => b.agent.service),
            ts.map((b) => b.agent.hostname),
            ts.map((b) => b.agent.pid),
            ts.map((b) => JSON.stringify(targetLabels(b))),
            ts.map((b) => b.readMs),
          ],
        );
        const idOf = new Map(r.rows.map((x) => [x.instance, x.id]));
        const ids = batches.map((b) => idOf.get(b.agent.instance)!);
        const frames = new Map<number, Frame>();
        const stacks = new Map<number, number[]>();
        for (const b of batches) {
          for (const f of b.newFrames) frames.set(f.id, f.frame);
          for (const s of b.newStacks) stacks.set(s.id, s.frames);
        }
        if (frames.size) {
          const fs = [...frames].sort((a, b) => a[0] - b[0]);
          await c.query(
            `INSERT INTO frames (id, name, file, line, col) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::int[])
          ON CONFLICT (id) DO NOTHING`,
            [fs.map((x) => x[0]), fs.map((x) => x[1].name), fs.map((x) => x[1].file), fs.map((x) => x[1].line), fs.map((x) => x[1].col)],
          );
        }
        if (stacks.size) {
          const ss = [...stacks].sort((a, b) => a[0] - b[0]);
          // Arrays of differing lengths do not unnest into rows: frames travel as text '{1,2,3}'.
          await c.query(
            `INSERT INTO stacks (id, frames) SELECT id, f::bigint[] FROM unnest($1::bigint[], $2::text[]) AS t(id, f)
          ON CONFLICT (id) DO NOTHING`,
            [ss.map((x) => x[0]), ss.map((x) => `{${x[1].join(',')}}`)],
          );
        }
        const rows = levelRows(batches, ids);
        for (const l of LEVELS) {
          const r = rows[l.name];
          if (!r.ts.length) continue;
          await c.query(
            `INSERT INTO ${l.table} (ts, target_id, stack_id, count)
          SELECT * FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::bigint[])
          ON CONFLICT (ts, target_id, stack_id) DO UPDATE SET count = ${l.table}.count + excluded.count`,
            [r.ts, r.target, r.stack, r.count],
          );
          if (!l.fleet || !this.fleet) continue;
          const f = fleetRows(r);
          await c.query(
            `INSERT INTO ${l.fleet} (ts, stack_id, count) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[])
          ON CONFLICT (ts, stack_id) DO UPDATE SET count = ${l.fleet}.count + excluded.count`,
            [f.ts, f.stack, f.count],
          );
        }
        const cursors = [...lastCursors(batches)];
        await c.query(
          `INSERT INTO cursors (address, instance, cursor, updated) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
        ON CONFLICT (address) DO UPDATE SET instance = excluded.instance, cursor = excluded.cursor, updated = excluded.updated`,
          [cursors.map((x) => x[0]), cursors.map((x) => x[1].instance), cursors.map((x) => x[1].cursor), cursors.map((x) => x[1].readMs)],
        );
      }),
    );
  }

  async targets(): Promise<TargetRow[]> {
    return this.run(async () => {
      const r = await this.pool
        .query(`SELECT id, instance, address, service, host, pid, labels, first_seen::float8 AS f, last_seen::float8 AS l
        FROM targets ORDER BY id`);
      return r.rows.map((x) => ({
        id: x.id,
        instance: x.instance,
        address: x.address,
        service: x.service,
        host: x.host,
        pid: x.pid,
        labels: x.labels as Record<string, string>,
        firstSeenMs: x.f,
        lastSeenMs: x.l,
      }));
    });
  }

  /** `SELECT columns` of the rows of `level` in [$from, $until) of `$targets` (null: all, from fleet rows where kept). */
  private rangeSql(level: LevelName, columns: string, from: string, until: string, targets: string | null): string {
    const l = levelOf(level);
    if (!targets && l.fleet && this.fleet) return `SELECT ${columns} FROM ${l.fleet} WHERE ts >= ${from} AND ts < ${until}`;
    const filter = targets ? ` AND target_id = ANY(${targets}::int[])` : '';
    return `SELECT ${columns} FROM ${l.table} WHERE ts >= ${from} AND ts < ${until}${filter}`;
  }

  /** The statement summing the rows of `ranges` per stack (`stack_id`, `n`); null when it reads none. */
  private countsSql(ranges: readonly LevelRange[], targets: readonly number[] | null): { text: string; values: unknown[] } | null {
    if ((targets && targets.length === 0) || ranges.length === 0) return null;
    const t = targets ? `$${2 * ranges.length + 1}` : null;
    const parts = ranges.map((r, i) => this.rangeSql(r.level, 'stack_id, count', `$${2 * i + 1}`, `$${2 * i + 2}`, t));
    const values: unknown[] = ranges.flatMap((r) => [r.fromMs, r.untilMs]);
    if (targets) values.push(targets);
    return { text: `SELECT stack_id, SUM(count) AS n FROM (${parts.join(' UNION ALL ')}) AS x GROUP BY stack_id`, values };
  }

  async stackCounts(ranges: readonly LevelRange[], targets: readonly number[] | null): Promise<StackCounts> {
    const out: StackCounts = new Map();
    const q = this.countsSql(ranges, targets);
    if (!q) return out;
    // One statement: the server sums the ranges' rows and sends one row per stack.
    const r = await this.run(() =>
      this.pool.query({ text: `SELECT stack_id::float8, n::float8 FROM (${q.text}) AS x`, values: q.values, rowMode: 'array' }),
    );
    for (const [k, n] of r.rows as Array<[number, number]>) out.set(k, n);
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
          const r = await this.run(() =>
            this.pool.query({
              text: `SELECT x.stack_id::float8, x.n::float8, ${framesJson('s.frames')} FROM (${q.text}) AS x
          LEFT JOIN stacks s ON s.id = x.stack_id`,
              values: q.values,
              rowMode: 'array',
            }),
          );
          for (const [id, n, frames] of r.rows as Array<[number, number, string | null]>) {
            counts.set(id, n);
            if (frames !== null) table.add(id, JSON.parse(frames) as number[]);
          }
        }
        return counts;
      },
    );
  }

  async timeCounts(level: LevelName, fromMs: number, untilMs: number, targets: readonly number[] | null): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    if (targets && targets.length === 0) return out;
    const r = await this.run(() =>
      this.pool.query({
        text: `${this.rangeSql(level, 'ts::float8, SUM(count)::float8', '$1', '$2', targets ? '$3' : null)} GROUP BY ts`,
        values: targets ? [fromMs, untilMs, targets] : [fromMs, untilMs],
        rowMode: 'array',
      }),
    );
    for (const [k, n] of r.rows as Array<[number, number]>) out.set(k, n);
    return out;
  }

  async deleteOld(level: LevelName, beforeMs: number, limit: number): Promise<number> {
    const l = levelOf(level);
    return this.run(() =>
      this.tx(async (c) => {
        await c.query(
          `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE
        SET value = GREATEST(meta.value::bigint, excluded.value::bigint)::text`,
          [`kept_since_${level}`, String(beforeMs)],
        );
        let n = 0;
        for (const table of l.fleet ? [l.table, l.fleet] : [l.table]) {
          const r = await c.query(
            `DELETE FROM ${table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${table} WHERE ts < $1 ORDER BY ts LIMIT $2))`,
            [beforeMs, limit],
          );
          n += r.rowCount ?? 0;
        }
        return n;
      }),
    );
  }

  async watermarks(): Promise<Watermarks> {
    const r = await this.run(() =>
      this.pool.query<{ key: string; value: string }>("SELECT key, value FROM meta WHERE key LIKE 'kept_since_%'"),
    );
    const out: Watermarks = {};
    for (const { key, value } of r.rows) out[key.slice('kept_since_'.length) as LevelName] = Number(value);
    return out;
  }

  async rowCounts(): Promise<Record<LevelName, number>> {
    const out = {} as Record<LevelName, number>;
    for (const l of LEVELS) {
      const tables = l.fleet ? [l.table, l.fleet] : [l.table];
      const count = tables.map((t) => `(SELECT COUNT(*) FROM ${t})`).join(' + ');
      const r = await this.run(() => this.pool.query({ text: `SELECT (${count})::float8`, rowMode: 'array' }));
      out[l.name] = (r.rows[0] as number[])[0]!;
    }
    return out;
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => {});
  }
}
