/**
 * Messages between the harness (parent) and a bench child process, over the IPC channel of
 * `child_process.fork`. The parent drives: it alone decides the order of runs, so interleaving
 * and randomisation live in one place, and a child only ever runs one strategy at a time.
 */

export type BenchMode = 'off' | 'trace' | 'sample';

/** How the child is told what to load and observe (JSON in the STACKSCOPE_BENCH_CHILD env var). */
export interface ChildConfig {
  /** absolute path of the bench file */
  file: string;
  /** how this child observes its runs; 'off' children give the untraced timings */
  mode: BenchMode;
  /** sampling interval, µs (sample mode) */
  sampleIntervalUs?: number;
}

export const CHILD_CONFIG_ENV = 'STACKSCOPE_BENCH_CHILD';

export type ToChild =
  /** run one strategy once; `record` = keep the trace/profile of this run as a candidate output */
  | { t: 'run'; strategy: string; record: boolean }
  /** write outputs (null dir: none), tear down, exit */
  | { t: 'finish'; outDir: string | null };

export type FromChild =
  | { t: 'ready'; name: string | undefined; strategies: string[]; runs?: number; warmup?: number; timeout?: number }
  /** the bench cannot run at all (load or setup failed); `message` names the problem */
  | { t: 'fatal'; message: string }
  | { t: 'done'; strategy: string; ms: number; error?: string }
  /**
   * an error nobody awaited (unhandled rejection, exception in a callback), sent as it happens:
   * it fails `strategy` (the one running, else the one that ran last); no strategy: a warning
   */
  | { t: 'stray'; strategy: string | undefined; error: string }
  | { t: 'finished'; files: ChildFiles; warnings: string[] };

/** Output files written by a child, by strategy. */
export interface ChildFiles {
  traces?: Record<string, string>;
  combinedTrace?: string;
  cpuprofiles?: Record<string, string>;
  folded?: Record<string, string>;
}
