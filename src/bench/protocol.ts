/**
 * Messages between the harness (parent) and a bench child process. The parent drives: it alone
 * decides the order of runs, so interleaving and randomisation live in one place, and a child only
 * ever runs one strategy at a time.
 *
 * They travel on a private channel (see channel.ts), never on Node's IPC channel: the bench's own
 * code may use `process.send` (a server telling a process manager it is ready), and nothing it
 * sends there may be taken for a reply. Every message from the child carries a key the parent
 * handed it on the private channel before the bench file was loaded, and every run reply names
 * the run it answers.
 */

export type BenchMode = 'off' | 'trace' | 'sample';

/** How the child is told what to load and observe (JSON in the STACKSCOPE_BENCH_CHILD env var). */
export interface ChildConfig {
  /** absolute path of the bench file */
  file: string;
  /** how this child observes its runs; 'off' children give the untraced timings */
  mode: BenchMode;
  /** sampling interval, µs (sample mode, and trace mode with traceSample) */
  sampleIntervalUs?: number;
  /** trace mode: also sample each observed run into its trace (`--sample`) */
  traceSample?: boolean;
}

export const CHILD_CONFIG_ENV = 'STACKSCOPE_BENCH_CHILD';

/** The file descriptor of the private channel in the child (0-2 are stdio, 3 is Node's IPC). */
export const CHANNEL_FD = 4;

export type ToChild =
  /** the first message: the key the child signs its messages with */
  | { t: 'hello'; key: string }
  /**
   * run one strategy once; `record` = keep the trace/profile of this run as a candidate output;
   * `heap` = watch the heap during the run (costs time at every garbage collection: untimed runs only)
   */
  | { t: 'run'; run: number; strategy: string; record: boolean; heap: boolean }
  /** write outputs (null dir: none), tear down, exit */
  | { t: 'finish'; outDir: string | null };

export type FromChild =
  | { t: 'ready'; name: string | undefined; strategies: string[]; runs?: number; warmup?: number; timeout?: number }
  /** the bench cannot run at all (load or setup failed); `message` names the problem */
  | { t: 'fatal'; message: string }
  /**
   * `run` and `strategy` repeat the request's. `heapPeak` (asked for with `heap`): bytes, the most
   * the V8 heap (used plus external, i.e. Buffers and ArrayBuffers) held during the run above what
   * it held at its start.
   */
  | { t: 'done'; run: number; strategy: string; ms: number; heapPeak?: number; error?: string }
  /**
   * an error nobody awaited (unhandled rejection, exception in a callback), sent as it happens:
   * it fails `strategy` (the one running, else the one that ran last); no strategy: a warning
   */
  | { t: 'stray'; strategy: string | undefined; error: string }
  | { t: 'finished'; files: ChildFiles; warnings: string[] };

/** What the child writes on the channel: a message and the key. */
export type Signed = FromChild & { key: string };

/** Output files written by a child, by strategy. */
export interface ChildFiles {
  traces?: Record<string, string>;
  combinedTrace?: string;
  cpuprofiles?: Record<string, string>;
  folded?: Record<string, string>;
}
