/** The collect stage: poll agents losslessly into a store. */
import { LEVELS, openStore, parseDuration, type Retention } from '../store/index.js';
import { UserError } from '../util/errors.js';
import { Collector, type CollectorStats } from './collector.js';
import { createLogger, type Logger } from './log.js';
import { mergeTargets, parseAddress, parsePorts, TargetsFile, type Target } from './targets.js';

export { Collector, type CollectorOptions, type CollectorStats } from './collector.js';
export { pollStacks, type PollResult, type ProblemKind } from './poll.js';
export { parseAddress, parsePorts, parseTargetsFile, readTargetsFile, type Target } from './targets.js';
export { createLogger, type Logger, type LogEvent } from './log.js';

export interface CollectOptions {
  /** `--db`: an SQLite file or a postgres:// URL */
  db: string;
  targets?: string[];
  targetsFile?: string;
  host?: string;
  ports?: string;
  intervalMs?: number;
  timeoutMs?: number;
  concurrency?: number;
  bufferRows?: number;
  retention?: Retention;
  token?: string;
  json?: boolean;
  log?: Logger;
  /** stops the collector (after its current round, writing what it holds) */
  signal?: AbortSignal;
  summaryEveryMs?: number;
}

export const COLLECT_DEFAULTS = { intervalMs: 10_000, concurrency: 16, bufferRows: 1_000_000 } as const;

/** The target list a collector starts with; UserError for a bad target, file or port range. */
export function resolveTargets(o: Pick<CollectOptions, 'targets' | 'targetsFile' | 'host' | 'ports'>): {
  initial: Target[];
  file?: TargetsFile;
} {
  const given = (o.targets ?? []).map((t) => ({ address: parseAddress(t), labels: {} }));
  if ((o.host === undefined) !== (o.ports === undefined))
    throw new UserError('--host and --ports go together: --host 127.0.0.1 --ports 9000-9015');
  const ranged =
    o.host !== undefined ? parsePorts(o.ports!).map((p) => ({ address: parseAddress(`${o.host}:${p}`, '--host'), labels: {} })) : [];
  const file = o.targetsFile !== undefined ? new TargetsFile(o.targetsFile) : undefined;
  const initial = mergeTargets(given, ranged, file?.refresh().targets ?? []);
  if (!initial.length && !file) throw new UserError('no targets: give --target host:port, --targets-file FILE, or --host H --ports A-B');
  return { initial, file };
}

/** Runs a collector until `signal` aborts; resolves with its final statistics. */
export async function collect(o: CollectOptions): Promise<CollectorStats> {
  const log = o.log ?? createLogger(o.json ?? false);
  const { initial, file } = resolveTargets(o);
  const intervalMs = o.intervalMs ?? COLLECT_DEFAULTS.intervalMs;
  const timeoutMs = o.timeoutMs ?? Math.max(1000, Math.min(5000, intervalMs));
  const store = await openStore(o.db, { create: true });
  let targets = initial;
  const fixed = mergeTargets(
    (o.targets ?? []).map((t) => ({ address: parseAddress(t), labels: {} })),
    o.host !== undefined ? parsePorts(o.ports!).map((p) => ({ address: `${o.host}:${p}`, labels: {} })) : [],
  );
  const collector = new Collector(store, {
    intervalMs,
    timeoutMs,
    concurrency: o.concurrency ?? COLLECT_DEFAULTS.concurrency,
    bufferRows: o.bufferRows ?? COLLECT_DEFAULTS.bufferRows,
    token: o.token,
    retention: o.retention,
    log,
    summaryEveryMs: o.summaryEveryMs,
    targets: () => {
      if (file) {
        const r = file.refresh();
        if (r.error) log('targets', r.error, { file: file.file });
        if (r.changed) {
          targets = mergeTargets(fixed, r.targets);
          log('targets', `${file.file} changed: now ${targets.length} targets`, { file: file.file, targets: targets.length });
        }
      }
      return targets;
    },
  });
  log(
    'start',
    `collecting from ${targets.length} target${targets.length === 1 ? '' : 's'} every ${intervalMs / 1000} s into ${store.where}`,
    { targets: targets.length, intervalMs, store: store.where },
  );
  const stop = () => collector.stop();
  o.signal?.addEventListener('abort', stop);
  if (o.signal?.aborted) stop();
  try {
    await collector.run();
    if (!(await collector.flush())) {
      const held = collector.snapshot().bufferedRows;
      log(
        'stop',
        `${held} rows read but not written (the database is unavailable): their cursors were not stored, so the next collector reads them again from the agents`,
        { unwritten: held },
      );
    }
  } finally {
    o.signal?.removeEventListener('abort', stop);
    await store.close();
  }
  const stats = collector.snapshot();
  log(
    'stop',
    `stopped: ${stats.samples} samples in ${stats.windows} windows read, ${stats.rowsWritten} rows written${stats.missedWindows ? `, ${stats.missedWindows} windows missed` : ''}`,
    { ...stats },
  );
  return stats;
}

/**
 * `--retention 7d` (every level), or per level: `raw=1d`, `minute=7d`, `10min=30d`, `hour=90d`
 * (repeatable; a level given alone overrides the general value). UserError when unusable.
 */
export function parseRetention(values: readonly string[]): Retention | undefined {
  if (!values.length) return undefined;
  const out: Retention = {};
  const names = LEVELS.map((l) => l.name);
  let all: number | undefined;
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq < 0) {
      all = parseDuration(v, '--retention');
      continue;
    }
    const level = names.find((n) => n === v.slice(0, eq));
    if (!level) throw new UserError(`bad --retention "${v}": give a duration (7d) or level=duration with level ${names.join(', ')}`);
    out[level] = parseDuration(v.slice(eq + 1), `--retention ${level}`);
  }
  for (const n of names) if (out[n] === undefined && all !== undefined) out[n] = all;
  for (let i = 1; i < names.length; i++) {
    if ((out[names[i - 1]!] ?? 0) > (out[names[i]!] ?? Infinity)) {
      throw new UserError(`bad --retention: a finer level cannot be kept longer than a coarser one (${names.join(' ≤ ')})`);
    }
  }
  return out;
}
