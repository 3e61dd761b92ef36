/**
 * The harness: starts the bench children, schedules every run, collects the timings.
 *
 * Order of runs: in each round every (child, strategy) pair runs once, in a freshly shuffled
 * order, one at a time across all children. A machine that warms up, throttles or gets busy
 * mid-bench then spreads its drift over all strategies instead of favouring the ones that ran
 * first. In trace and sample mode an untraced child runs alongside the observed one in the same
 * rounds, so the observer effect is measured under the same conditions.
 *
 * A run that does not answer within the timeout (an endless loop, a promise that never settles)
 * or whose process dies fails its strategy; that process is replaced by a fresh one (setup runs
 * again) so the other strategies still run and are reported.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { UserError } from '../util/errors.js';
import { CHILD_CONFIG_ENV, type BenchMode, type ChildConfig, type ChildFiles, type FromChild, type ToChild } from './protocol.js';
import { tracerLaunch } from './launch.js';
import { prepareOutDir } from './outputs.js';
import { TRACE_ENV } from '../recorder/config.js';
import { MAX_TIMER_S } from '../sample/options.js';

export interface RunOptions {
  file: string;
  runs?: number;
  warmup?: number;
  mode?: BenchMode;
  /** where trace/profile outputs go; null: write none */
  outDir?: string | null;
  /** only these strategies (names must exist) */
  strategies?: string[];
  sampleIntervalUs?: number;
  /** seconds one run may take before its strategy fails as timed out (default: the bench's, else 60) */
  timeout?: number;
  /**
   * The order of one round's runs (default: a fresh random order every round). For reproducing a
   * particular order, as the harness's own tests do; a random order is what keeps drift fair.
   */
  order?: (runs: RoundRun[]) => RoundRun[];
  /** called after every run (progress display) */
  onProgress?: (done: number, total: number, label: string) => void;
}

/** One run of a round: which process runs which strategy. */
export interface RoundRun {
  process: 'untraced' | 'observed';
  strategy: string;
}

export interface RawResults {
  name: string;
  file: string;
  mode: BenchMode;
  runs: number;
  warmup: number;
  /** how the runs were ordered, in words */
  order: string;
  /** the per-run timeout that applied, seconds */
  timeout: number;
  strategies: string[];
  /** ms per measured run, by strategy: untraced child */
  untraced: Record<string, number[]>;
  /** same for the observed (trace/sample) child */
  observed?: Record<string, number[]>;
  /** first error per failed strategy */
  errors: Record<string, string>;
  files: ChildFiles;
  outDir: string | null;
  warnings: string[];
}

export const DEFAULT_TIMEOUT_S = 60;
/** More runs than anyone waits for; the statistics (bootstrap) grow with them. */
const MAX_RUNS = 100_000;
/**
 * Setup and finishing (writing outputs, teardown) are not runs and may legitimately take longer
 * than a short --timeout; they are bounded too, so a hanging teardown cannot hang the bench.
 */
const MIN_SETUP_MS = 60_000;
/** How long a process that is let go gets to run its teardown before it is killed outright. */
const TEARDOWN_GRACE_MS = 2_000;

const CHILD_ENTRY = fileURLToPath(new URL('./child.js', import.meta.url));

function tsxLoader(): string {
  try { return import.meta.resolve('tsx'); } catch { return 'tsx'; }
}

/** What waiting on a child can give: its message, no answer in time, or its death. */
type Reply = FromChild | { t: 'timeout' } | { t: 'exited'; message: string };

/** One bench child process and a request/response channel to it. */
class BenchChild {
  /** strategies this process holds a recording of (lost with the process if it is replaced) */
  readonly recorded = new Set<string>();
  /** errors nobody awaited, reported by the child as they happen */
  onStray: (strategy: string | undefined, error: string) => void = () => {};
  private proc: ChildProcess;
  private waiting: ((m: Reply) => void) | undefined;
  private output = '';
  private exitReply: Reply | undefined;
  private exited: Promise<void>;

  constructor(
    readonly role: 'untraced' | 'observed',
    private readonly config: ChildConfig,
    private readonly execArgv: string[],
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.proc = fork(CHILD_ENTRY, [], {
      execArgv,
      env: { ...env, [CHILD_CONFIG_ENV]: JSON.stringify(config) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    // The bench's own console output is kept for diagnosis, not mixed into the report.
    const keep = (b: Buffer) => { this.output = (this.output + b.toString()).slice(-4000); };
    this.proc.stdout!.on('data', keep);
    this.proc.stderr!.on('data', keep);
    // A send to a process that just died reports here; its exit is handled below.
    this.proc.on('error', () => {});
    this.proc.on('message', (m: FromChild) => {
      if (m.t === 'stray') return this.onStray(m.strategy, m.error);
      this.answer(m);
    });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => {
      const tail = this.output.trim().split('\n').filter(Boolean).pop();
      this.exitReply = { t: 'exited', message: `bench process exited unexpectedly (${signal ?? `code ${code}`})${tail ? `: ${tail}` : ''}` };
      this.answer(this.exitReply);
      resolve();
    }));
  }

  /** A fresh process like this one (same role, configuration and environment). */
  replacement(): BenchChild {
    return new BenchChild(this.role, this.config, this.execArgv, this.env);
  }

  private answer(m: Reply): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.(m);
  }

  /** Next message from the child (the first one is 'ready' or 'fatal'), within `limitMs`. */
  next(limitMs: number): Promise<Reply> {
    if (this.exitReply) return Promise.resolve(this.exitReply);
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.answer({ t: 'timeout' }), limitMs);
      this.waiting = (m) => { clearTimeout(timer); resolve(m); };
    });
  }

  request(m: ToChild, limitMs: number): Promise<Reply> {
    const reply = this.next(limitMs);
    if (!this.exitReply) this.proc.send(m);
    return reply;
  }

  /**
   * Lets the process go: closing the channel makes it tear down and exit (child.ts); one stuck in
   * synchronous code never gets to, and is killed after a grace period.
   */
  async stop(): Promise<void> {
    if (this.exitReply) return;
    if (this.proc.connected) this.proc.disconnect();
    const grace = new Promise<void>((resolve) => setTimeout(resolve, TEARDOWN_GRACE_MS).unref());
    await Promise.race([this.exited, grace]);
    if (!this.exitReply) this.proc.kill('SIGKILL');
    await this.exited;
  }
}

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

/** Waits for a child's 'ready'; anything else means the bench cannot run at all. */
async function ready(child: BenchChild, shown: string, limitMs: number): Promise<Extract<FromChild, { t: 'ready' }>> {
  const m = await child.next(limitMs);
  if (m.t === 'ready') return m;
  if (m.t === 'fatal' || m.t === 'exited') throw new UserError(`${shown}: ${m.message}`);
  if (m.t === 'timeout') throw new UserError(`${shown}: setup did not finish within ${limitMs / 1000} s`);
  throw new UserError(`${shown}: bench process did not start`);
}

export async function runBench(opts: RunOptions): Promise<RawResults> {
  const file = path.resolve(opts.file);
  const shown = opts.file;
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (!st) throw new UserError(`${shown}: no such bench file`);
  if (!st.isFile()) throw new UserError(`${shown}: ${st.isDirectory() ? 'a folder' : 'not a file'}, not a bench file`);
  const mode = opts.mode ?? 'off';
  for (const [flag, v, min] of [['--runs', opts.runs, 1], ['--warmup', opts.warmup, 0]] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= min && v <= MAX_RUNS)) throw new UserError(`${flag} must be an integer from ${min} to ${MAX_RUNS.toLocaleString('en-US')} (got ${v})`);
  }
  if (opts.timeout !== undefined && !(opts.timeout > 0 && opts.timeout <= MAX_TIMER_S)) {
    throw new UserError(`--timeout must be a number of seconds > 0 and at most ${MAX_TIMER_S.toLocaleString('en-US')} (got ${opts.timeout})`);
  }
  if (opts.sampleIntervalUs !== undefined && !(opts.sampleIntervalUs >= 10 && opts.sampleIntervalUs <= 1e6)) {
    throw new UserError(`--interval must be from 10 µs to 1 s (got ${opts.sampleIntervalUs} µs)`);
  }
  // Found out now, not after minutes of runs (the default folder, named after the bench, is checked once the bench is loaded).
  const observes = mode !== 'off' && opts.outDir !== null;
  if (observes && typeof opts.outDir === 'string') prepareOutDir(opts.outDir);
  const baseArgv = ['--import', tsxLoader()];
  const children: BenchChild[] = [];
  const cleanEnv = { ...process.env };
  delete cleanEnv.NODE_OPTIONS;
  delete cleanEnv[TRACE_ENV]; // the untraced child must really be untraced
  children.push(new BenchChild('untraced', { file, mode: 'off' }, baseArgv, cleanEnv));
  let cleanup = () => {};
  if (mode === 'trace') {
    // The preload registers tsx itself, ahead of the instrumenter: no second `--import tsx`.
    const launch = tracerLaunch(file);
    cleanup = launch.cleanup;
    children.push(new BenchChild('observed', { file, mode }, launch.execArgv, { ...cleanEnv, ...launch.env }));
  } else if (mode === 'sample') {
    children.push(new BenchChild('observed', { file, mode, sampleIntervalUs: opts.sampleIntervalUs ?? 1000 }, baseArgv, cleanEnv));
  }
  const setupMs = Math.max(MIN_SETUP_MS, (opts.timeout ?? 0) * 1000);
  try {
    const readies = await Promise.allSettled(children.map((c) => ready(c, shown, setupMs)));
    const failed = readies.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const first = (readies[0] as PromiseFulfilledResult<Extract<FromChild, { t: 'ready' }>>).value;

    const name = first.name ?? path.basename(file).replace(/\.bench\.[cm]?[jt]s$|\.[cm]?[jt]s$/, '');
    const outDir = observes ? prepareOutDir(opts.outDir ?? path.join('stackscope-out', name)) : null;

    let strategies = first.strategies;
    if (opts.strategies?.length) {
      const unknown = opts.strategies.filter((s) => !strategies.includes(s));
      if (unknown.length) {
        throw new UserError(`${shown}: no strategy named "${unknown[0]}" (the bench has: ${strategies.join(', ')})`);
      }
      strategies = strategies.filter((s) => opts.strategies!.includes(s));
    }
    const runs = opts.runs ?? first.runs ?? 10;
    const warmup = opts.warmup ?? first.warmup ?? 1;
    const timeout = opts.timeout ?? first.timeout ?? DEFAULT_TIMEOUT_S;

    const times = children.map(() => Object.fromEntries(strategies.map((s) => [s, [] as number[]])) as Record<string, number[]>);
    const errors: Record<string, string> = {};
    const warnings: string[] = [];
    const listen = (child: BenchChild) => {
      child.onStray = (strategy, error) => {
        if (strategy === undefined) warnings.push(error);
        else errors[strategy] ??= error;
      };
      return child;
    };
    children.forEach(listen);
    let observedReplaced = false;
    /** Runs one strategy once in child `ci`; a run that hangs or kills its process fails the strategy. */
    const runOnce = async (ci: number, strategy: string, record: boolean): Promise<number | undefined> => {
      const child = children[ci]!;
      const reply = await child.request({ t: 'run', strategy, record }, timeout * 1000);
      if (reply.t === 'done') {
        if (reply.error !== undefined) errors[strategy] ??= reply.error;
        else if (record) child.recorded.add(strategy);
        return reply.error === undefined ? reply.ms : undefined;
      }
      if (reply.t === 'fatal') throw new UserError(`${shown}: ${reply.message}`);
      if (reply.t !== 'timeout' && reply.t !== 'exited') throw new UserError(`${shown}: unexpected message from the bench process`);
      errors[strategy] ??= reply.t === 'timeout' ? `timed out after ${timeout} s` : reply.message;
      // Whatever the stuck run still does is no one's business: a fresh process for the others.
      await child.stop();
      if (child.role === 'observed') observedReplaced = true;
      children[ci] = listen(child.replacement());
      await ready(children[ci]!, shown, setupMs);
      // A fresh process is cold (JIT, caches, connections): warm it up as the first one was, so
      // the runs it measures next compare with the runs measured before.
      for (let i = 0; i < warmup; i++) {
        for (const s of strategies) if (errors[s] === undefined) await runOnce(ci, s, false);
      }
      return undefined;
    };

    const total = (warmup + runs) * strategies.length * children.length;
    let done = 0;
    for (let round = 0; round < warmup + runs; round++) {
      const measured = round >= warmup;
      const slots = (opts.order ?? shuffle)(children.flatMap((c) => strategies.map((strategy) => ({ process: c.role, strategy }))));
      for (const { process: role, strategy } of slots) {
        const ci = children.findIndex((c) => c.role === role);
        const what = `${measured ? '' : 'warm-up '}${strategy}${children.length > 1 ? ` (${role === 'observed' ? mode + 'd' : 'untraced'})` : ''}`;
        if (errors[strategy] === undefined) {
          const ms = await runOnce(ci, strategy, measured && role === 'observed');
          if (ms !== undefined && measured) times[ci]![strategy]!.push(ms);
        }
        opts.onProgress?.(++done, total, errors[strategy] === undefined ? what : `${what}: failed`);
      }
    }

    // A replaced observing process took its recordings with it: the outputs hold only the runs of
    // its replacement, and whatever that one has not recorded yet is recorded once more (unmeasured).
    const observer = children[1];
    if (observer && observedReplaced && outDir !== null) {
      const missing = strategies.filter((s) => errors[s] === undefined && !observer.recorded.has(s));
      for (const s of missing) await runOnce(1, s, true);
      const extra = missing.length ? `; the outputs of ${missing.join(', ')} come from one extra run` : '';
      warnings.push(`the ${mode}d process was replaced after a failure: its outputs hold only the runs since${extra}`);
    }

    let files: ChildFiles = {};
    for (const child of children) {
      const reply = await child.request({ t: 'finish', outDir: child.role === 'observed' ? outDir : null }, setupMs);
      if (reply.t === 'finished') {
        warnings.push(...reply.warnings);
        if (child.role === 'observed') files = reply.files;
      } else if (reply.t === 'fatal' || reply.t === 'exited') {
        warnings.push(reply.message);
      } else if (reply.t === 'timeout') {
        warnings.push(`the ${child.role} process did not finish (outputs, teardown) within ${setupMs / 1000} s`);
      }
    }
    return {
      name, file: shown, mode, runs, warmup, timeout, strategies,
      order: opts.order ? 'as given by the caller' : 'shuffled every round, all strategies and processes interleaved',
      untraced: times[0]!,
      observed: children.length > 1 ? times[1] : undefined,
      errors, files, outDir, warnings,
    };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    cleanup();
  }
}
