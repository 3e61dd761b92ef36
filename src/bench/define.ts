/**
 * The bench-file API. A bench file default-exports `defineBench({...})`; the harness loads it in
 * a child process, calls `setup` once, then calls strategies by name as the parent schedules them.
 */

export type Awaitable<T> = T | Promise<T>;

/** One way of doing the job; gets what `setup` returned. Its return value is ignored. */
export type Strategy<Ctx> = (ctx: Ctx) => Awaitable<unknown>;

export interface BenchDefinition<Ctx = unknown> {
  /** shown in reports and used for the output folder (default: the file name without .bench.ts) */
  name?: string;
  /** runs once per child process before any strategy; its result is passed to every strategy */
  setup?: () => Awaitable<Ctx>;
  /** runs once per child process after the last strategy run (also after failures) */
  teardown?: (ctx: Ctx) => Awaitable<void>;
  /** the strategies, by name; every run of a strategy must do the same amount of work */
  strategies: Record<string, Strategy<Ctx>>;
  /** defaults for --runs, --warmup and --timeout (the command line wins) */
  runs?: number;
  warmup?: number;
  /**
   * seconds one run of a strategy may take before it is failed as "timed out" and its process
   * replaced, so one stuck strategy cannot hang the whole bench (default 60)
   */
  timeout?: number;
}

/** Marks the definition so the harness can tell it from any other default export. */
export const BENCH_MARK = Symbol.for('stackscope.bench');

export interface MarkedBench<Ctx = unknown> extends BenchDefinition<Ctx> {
  readonly [BENCH_MARK]: true;
}

/**
 * Declares a bench. Typed so that `setup`'s result flows into every strategy's `ctx`:
 *
 *   export default defineBench({
 *     setup: async () => ({ server: await startServer() }),
 *     strategies: { batched: ({ server }) => sync(server.url) },
 *     teardown: ({ server }) => server.close(),
 *   });
 */
export function defineBench<Ctx = undefined>(def: BenchDefinition<Ctx>): MarkedBench<Ctx> {
  return Object.assign({}, def, { [BENCH_MARK]: true as const });
}

/**
 * Finds the bench definition among a module's exports (default export, or a named `bench`), or
 * says what is wrong in a phrase the CLI puts after the file name.
 */
export function findBench(mod: Record<string, unknown>): BenchDefinition<unknown> | string {
  const candidates = [mod.default, mod.bench];
  // A CommonJS bench compiled by tsx arrives as { default: { default: def } }.
  const nested = (mod.default as Record<string, unknown> | undefined)?.default;
  if (nested) candidates.push(nested);
  const def = candidates.find((c) => c && typeof c === 'object' && (BENCH_MARK in c || 'strategies' in c)) as
    BenchDefinition<unknown> | undefined;
  if (!def) return 'no bench exported (expected `export default defineBench({ strategies: {...} })`)';
  if (!def.strategies || typeof def.strategies !== 'object') return 'the bench has no `strategies` object';
  const names = Object.keys(def.strategies);
  if (names.length === 0) return 'the bench has no strategies';
  const bad = names.find((n) => typeof def.strategies[n] !== 'function');
  if (bad !== undefined) return `strategy "${bad}" is not a function`;
  if (def.setup !== undefined && typeof def.setup !== 'function') return '`setup` is not a function';
  if (def.teardown !== undefined && typeof def.teardown !== 'function') return '`teardown` is not a function';
  // Checked here so a bad default reads as a problem of the file, not as NaN runs later.
  for (const [key, ok, rule] of [
    ['runs', Number.isInteger(def.runs) && def.runs! >= 1, 'an integer >= 1'],
    ['warmup', Number.isInteger(def.warmup) && def.warmup! >= 0, 'an integer >= 0'],
    ['timeout', typeof def.timeout === 'number' && def.timeout > 0 && Number.isFinite(def.timeout), 'a number of seconds > 0'],
  ] as const) {
    if (def[key] !== undefined && !ok) return `\`${key}\` must be ${rule}`;
  }
  return def;
}
