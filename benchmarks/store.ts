/**
 * The collector's store, SQLite and PostgreSQL side by side on the same data:
 * - ingest: 100 targets polled every 10 s, 100 rows (1 s bucket × stack) per target per poll, from a
 *   pool of 10,000 distinct stacks (each target uses 300 of them, a few hot, most rare); written
 *   through Store.write one round (100 batches) per transaction, as the collector writes;
 * - bytes on disk per ingested row (every level, frames and stacks included);
 * - queries through the library API (queryProfile: rows, stacks, frames, the model profile built):
 *   the last 15 minutes of all targets, and the last 24 hours. The 24 hours before the ingested
 *   minutes are filled with the rollup rows their ingest and a retention would have left (hour rows
 *   for 25 hours, 10-minute rows for 2 hours, minute rows for 1 hour), written directly, since
 *   ingesting a full day of 1 s rows would take too long for a benchmark.
 *
 *   npx tsc -p . && node --import tsx benchmarks/store.ts [--minutes 20] [--pg postgres://…] [--no-pg] [--no-sqlite] [--keep]
 *
 * Without --pg a throwaway PostgreSQL cluster is started (initdb/pg_ctl) and removed afterwards.
 */
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { rng } from '../src/util/random.js';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Frame } from '../src/model/index.js';
import { IdResolver, LEVELS, openStore, queryProfile, type IngestBatch, type Store } from '../src/store/index.js';
import { pgMissing, startPg, type PgCluster } from '../test/helpers/collect.js';

const arg = (name: string, d?: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : d;
};
const MINUTES = Number(arg('minutes', '20'));
const TARGETS = 100;
const POOL = 10_000;
const WORKING_SET = 300;
const ROWS_PER_POLL = 100;
const INTERVAL_MS = 10_000;

// ~900 B stacks: 3,000 frames with realistic names, 8 to 30 deep.
const r = rng(7);
const frames: Frame[] = Array.from({ length: 3000 }, (_, i) => ({
  name: `${['Router', 'Store', 'Cache', 'Codec', 'Queue'][i % 5]}.${['handle', 'get', 'load', 'parse', 'flush', 'emit'][i % 6]}${i}`,
  file: `/srv/app/node_modules/pkg${i % 40}/lib/module${i % 97}.js`,
  line: 1 + ((i * 37) % 900),
  col: 1 + ((i * 13) % 80),
}));
// Stacks grow from a call tree (a few roots, each stack its parent plus 1 to 3 frames), so they share
// prefixes like real ones; 8 to 30 frames deep.
const pool: number[][] = [];
const pick = () => Math.floor(r() * frames.length);
while (pool.length < POOL) {
  const parent = pool.length < 50 || r() < 0.05 ? Array.from({ length: 5 }, pick) : pool[Math.floor(r() * pool.length)]!;
  const stack = [...parent, ...Array.from({ length: 1 + Math.floor(r() * 3) }, pick)];
  if (stack.length >= 8 && stack.length <= 30) pool.push(stack);
  else if (stack.length < 8) pool.push([...stack, ...Array.from({ length: 8 - stack.length }, pick)]);
}
const sets: number[][] = Array.from({ length: TARGETS }, () => Array.from({ length: WORKING_SET }, () => Math.floor(r() * POOL)));
const instances = Array.from({ length: TARGETS }, (_, t) => `bench${t}`);

const agent = (t: number) => ({
  instance: instances[t]!,
  service: `svc${t % 5}`,
  labels: { zone: `z${t % 3}` },
  hostname: `host${t % 20}`,
  pid: 1000 + t,
  startedMs: 0,
  intervalUs: 10_000,
  version: 'bench',
});

/** One poll's rows of target t for the 10 s from `startMs`: 10 buckets × 10 stacks (skewed to the hot ones). */
function pollRows(t: number, startMs: number, rand: () => number): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  const perBucket = ROWS_PER_POLL / 10;
  for (let b = 0; b < 10; b++) {
    const used = new Set<number>();
    while (used.size < perBucket) used.add(Math.floor(rand() ** 2 * WORKING_SET));
    for (const i of used) out.push([startMs + b * 1000, sets[t]![i]!, 1 + Math.floor(rand() * 30)]);
  }
  return out;
}

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

interface Result {
  ingestRowsPerS: number;
  rows: number;
  bytesPerRow: number;
  /** a store's queries after its first (its stack table filled), sorted */
  q15: number[];
  q24: number[];
  /** the first query of a newly opened store (new connections, nothing read yet), sorted */
  q15first: number[];
  q24first: number[];
  /** the first query of a new process (as `stackscope query` runs it), sorted */
  q15process: number[];
  samples15: number;
  samples24: number;
}

type FillRows = Record<string, Array<[number, number, number, number]>>;
type FleetRows = Record<string, Array<[number, number, number]>>;

/** The first query of a new process, ms (the built library, as the CLI runs it); NaN without a build. */
function processQuery(db: string, fromMs: number, untilMs: number): number {
  const lib = path.resolve(import.meta.dirname, '../dist/store/index.js');
  if (!fs.existsSync(lib)) return NaN;
  const code = `const { openStore, queryProfile } = await import(${JSON.stringify(pathToFileURL(lib).href)});
const s = await openStore(${JSON.stringify(db)});
const t0 = performance.now();
await queryProfile(s, { fromMs: ${fromMs}, untilMs: ${untilMs} });
console.log(performance.now() - t0);
await s.close();`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`the query process failed: ${r.stderr.trim()}`);
  return Number(r.stdout.trim());
}

async function bench(
  db: string,
  store: Store,
  sizeOf: () => Promise<number>,
  fill: (rows: FillRows, fleet: FleetRows) => Promise<void>,
  nowMs: number,
): Promise<Result> {
  const resolver = new IdResolver(store);
  // The stack table resolved once per target, like a collector's cache after its first polls.
  const ids = new Map<number, number>();
  const startMs = Math.floor((nowMs - MINUTES * 60_000) / INTERVAL_MS) * INTERVAL_MS;
  const rand = rng(99);
  let rows = 0;
  let writeMs = 0;
  const targetIds = new Map<number, number>();
  for (let ts = startMs; ts + INTERVAL_MS <= nowMs; ts += INTERVAL_MS) {
    const batches: IngestBatch[] = [];
    for (let t = 0; t < TARGETS; t++) {
      const raw = pollRows(t, ts, rand);
      const used = [...new Set(raw.map((x) => x[1]))];
      const res = await resolver.resolve(
        frames,
        used.map((s) => pool[s]!),
      );
      used.forEach((s, i) => ids.set(s, res.stackIds[i]!));
      batches.push({
        address: `10.0.0.${t}:9464`,
        agent: agent(t),
        labels: {},
        cursor: `${instances[t]}-${ts}`,
        readMs: ts + INTERVAL_MS,
        newFrames: res.newFrames,
        newStacks: res.newStacks,
        rows: raw.flatMap(([b, s, c]) => [b, ids.get(s)!, c]),
      });
      rows += raw.length;
    }
    const t0 = performance.now();
    await store.write(batches);
    resolver.commit();
    writeMs += performance.now() - t0;
  }
  const bytes = await sizeOf();
  const targets = await store.targets();
  for (const t of targets) targetIds.set(Number(t.instance.slice(5)), t.id);

  // The day before, as its ingest and a retention would have left it: hour rows for 25 hours, 10-minute
  // rows for 2 hours, minute rows for 1 hour (the edges of the queried ranges), drawn like the polls.
  const hourMs = 3_600_000;
  const fr = rng(5);
  const fillRows: FillRows = {};
  const fleetFill: FleetRows = {};
  const kept: Record<string, number> = {};
  for (const [level, back, draws] of [
    ['minute', hourMs, 600],
    ['10min', 2 * hourMs, 6000],
    ['hour', 25 * hourMs, 36_000],
  ] as const) {
    const ms = LEVELS.find((l) => l.name === level)!.ms;
    const from = Math.floor((nowMs - back) / hourMs) * hourMs;
    kept[level] = from;
    const rows: FillRows[string] = (fillRows[level] = []);
    for (let ts = from; ts < Math.floor(startMs / ms) * ms; ts += ms) {
      for (let t = 0; t < TARGETS; t++) {
        const m = new Map<number, number>();
        for (let i = 0; i < draws / 10; i++) {
          const s = ids.get(sets[t]![Math.floor(fr() ** 2 * WORKING_SET)]!);
          if (s !== undefined) m.set(s, (m.get(s) ?? 0) + 10 + Math.floor(fr() * 300));
        }
        for (const [s, c] of m) rows.push([ts, targetIds.get(t)!, s, c]);
      }
    }
  }
  // The same rows summed over targets, for the fleet tables.
  for (const level of Object.keys(fillRows)) {
    const sums = new Map<string, [number, number, number]>();
    for (const [ts, , s, c] of fillRows[level]!) {
      const k = `${ts}:${s}`;
      const x = sums.get(k);
      if (x) x[2] += c;
      else sums.set(k, [ts, s, c]);
    }
    fleetFill[level] = [...sums.values()];
  }
  await fill(fillRows, fleetFill);
  // The retention's watermarks: finer rows before these times were deleted (queries widen to coarser ones).
  await store.deleteOld('raw', Math.ceil(startMs / 60_000) * 60_000, 1e9);
  for (const level of ['minute', '10min'] as const) await store.deleteOld(level, kept[level]!, 1e9);

  const time = async (fromMs: number): Promise<{ ms: number[]; first: number[]; samples: number }> => {
    const first: number[] = [];
    let samples = 0;
    for (let i = 0; i < 5; i++) {
      const fresh = await openStore(db);
      const t0 = performance.now();
      samples = (await queryProfile(fresh, { fromMs, untilMs: nowMs })).samples;
      first.push(performance.now() - t0);
      await fresh.close();
    }
    await queryProfile(store, { fromMs, untilMs: nowMs });
    const ms: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const q = await queryProfile(store, { fromMs, untilMs: nowMs });
      ms.push(performance.now() - t0);
      if (q.samples !== samples) throw new Error(`a repeated query answered ${q.samples} samples, the first ${samples}`);
    }
    return { ms: ms.sort((a, b) => a - b), first: first.sort((a, b) => a - b), samples };
  };
  const q15 = await time(nowMs - 15 * 60_000);
  const q24 = await time(nowMs - 24 * hourMs);
  const q15process = Array.from({ length: 5 }, () => processQuery(db, nowMs - 15 * 60_000, nowMs)).sort((a, b) => a - b);
  return {
    ingestRowsPerS: rows / (writeMs / 1000),
    rows,
    bytesPerRow: bytes / rows,
    q15: q15.ms,
    q24: q24.ms,
    q15first: q15.first,
    q24first: q24.first,
    q15process,
    samples15: q15.samples,
    samples24: q24.samples,
  };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-store-bench-'));
const nowMs = Math.floor(Date.now() / 1000) * 1000 - 1500; // not on a minute boundary: edges come from finer rows
const results: Array<[string, Result]> = [];

// SQLite
if (!process.argv.includes('--no-sqlite')) {
  const file = path.join(dir, 'bench.db');
  const store = await openStore(file, { create: true });
  const db = new Database(file);
  const res = await bench(
    file,
    store,
    async () => {
      db.pragma('wal_checkpoint(TRUNCATE)');
      return fs.statSync(file).size + (fs.existsSync(file + '-wal') ? fs.statSync(file + '-wal').size : 0);
    },
    async (rows, fleet) => {
      for (const level of Object.keys(rows)) {
        const l = LEVELS.find((l) => l.name === level)!;
        const ins = db.prepare(
          `INSERT INTO ${l.table} (ts, target_id, stack_id, count) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET count = count + excluded.count`,
        );
        const insFleet = db.prepare(
          `INSERT INTO ${l.fleet} (ts, stack_id, count) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET count = count + excluded.count`,
        );
        db.transaction(() => {
          for (const x of rows[level]!) ins.run(...x);
          for (const x of fleet[level]!) insFleet.run(...x);
        })();
      }
    },
    nowMs,
  );
  results.push(['SQLite (better-sqlite3, WAL)', res]);
  db.close();
  await store.close();
}

// PostgreSQL
let cluster: PgCluster | undefined;
let url: string | undefined = arg('pg');
if (process.argv.includes('--no-pg')) url = undefined;
else if (!url && !pgMissing()) {
  cluster = await startPg();
  url = cluster.url;
}
if (url) {
  try {
    const store = await openStore(url, { create: true });
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const res = await bench(
      url,
      store,
      async () => {
        await client.query('VACUUM');
        const t = ['targets', 'frames', 'stacks', 'cursors', ...LEVELS.flatMap((l) => (l.fleet ? [l.table, l.fleet] : [l.table]))];
        const q = await client.query(`SELECT SUM(pg_total_relation_size(t))::float8 AS b FROM unnest($1::text[]) AS t`, [t]);
        return q.rows[0].b as number;
      },
      async (rows, fleet) => {
        for (const level of Object.keys(rows)) {
          const l = LEVELS.find((l) => l.name === level)!;
          const table = l.table;
          const x = rows[level]!;
          for (let i = 0; i < x.length; i += 50_000) {
            const part = x.slice(i, i + 50_000);
            await client.query(
              `INSERT INTO ${table} (ts, target_id, stack_id, count) SELECT * FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::bigint[])
              ON CONFLICT (ts, target_id, stack_id) DO UPDATE SET count = ${table}.count + excluded.count`,
              [part.map((r) => r[0]), part.map((r) => r[1]), part.map((r) => r[2]), part.map((r) => r[3])],
            );
          }
          const f = fleet[level]!;
          for (let i = 0; i < f.length; i += 50_000) {
            const part = f.slice(i, i + 50_000);
            await client.query(
              `INSERT INTO ${l.fleet} (ts, stack_id, count) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[])
              ON CONFLICT (ts, stack_id) DO UPDATE SET count = ${l.fleet}.count + excluded.count`,
              [part.map((r) => r[0]), part.map((r) => r[1]), part.map((r) => r[2])],
            );
          }
        }
        await client.query('ANALYZE');
      },
      nowMs,
    );
    results.push(['PostgreSQL 15 (pg)', res]);
    await client.end();
    await store.close();
  } finally {
    cluster?.destroy();
  }
} else {
  console.log(`PostgreSQL skipped: ${pgMissing()}`);
}
if (!process.argv.includes('--keep')) fs.rmSync(dir, { recursive: true, force: true });
else console.log('kept', dir);

const med = (xs: number[]) => xs[Math.floor(xs.length / 2)]!;
console.log(
  `\nload average ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')} on ${os.cpus().length} cores`,
);
console.log(
  `${TARGETS} targets, ${fmt(POOL)} distinct stacks, ${MINUTES} minutes of 1 s rows ingested (${fmt(results[0]?.[1].rows ?? 0)} rows); queries: median of 5\n`,
);
console.log(
  "last 15 min / 24 h: a store's queries after its first; first: the first query of a newly opened store;\nprocess: the first query of a new process (as `stackscope query` runs it)\n",
);
console.log('| store | ingest rows/s | bytes/row on disk | last 15 min | first | process | last 24 h | first |');
console.log('|---|---|---|---|---|---|---|---|');
const ms = (xs: number[]) => (Number.isNaN(med(xs)) ? 'no build' : `${fmt(med(xs))} ms`);
for (const [name, x] of results) {
  console.log(
    `| ${name} | ${fmt(x.ingestRowsPerS)} | ${fmt(x.bytesPerRow)} | ${ms(x.q15)} | ${ms(x.q15first)} | ${ms(x.q15process)} | ${ms(x.q24)} | ${ms(x.q24first)} |`,
  );
}
const [a, b] = results;
if (a && b && (a[1].samples15 !== b[1].samples15 || a[1].samples24 !== b[1].samples24)) {
  console.log(
    `warning: the stores answered differently: 15 min ${a[1].samples15} vs ${b[1].samples15}, 24 h ${a[1].samples24} vs ${b[1].samples24}`,
  );
} else if (a && b) {
  console.log(`\n(both stores answered the same: ${fmt(a[1].samples15)} samples in 15 min, ${fmt(a[1].samples24)} in 24 h)`);
}
