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
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { UserError } from '../util/errors.js';
import { thousands } from '../util/numbers.js';
import {
  CHANNEL_FD,
  CHILD_CONFIG_ENV,
  type BenchMode,
  type ChildConfig,
  type ChildFiles,
  type FromChild,
  type Signed,
  type ToChild,
} from './protocol.js';
import { readLines, writeLine } from './channel.js';
import { tracerLaunch } from './launch.js';
import { prepareOutDir } from './outputs.js';
import { TRACE_ENV } from '../recorder/protocol.js';
import { MAX_TIMER_S } from '../sample/index.js';
import { childEnv } from '../util/child-env.js';

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
  /** trace mode: also sample every observed run into its trace, at sampleIntervalUs (default 1 ms) */
  traceSample?: boolean;
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
  /**
   * bytes, by strategy: how far the heap grew at most during one extra, untimed run in the untraced
   * process after the measured ones (watching the heap slows garbage collection down)
   */
  heapPeak: Record<string, number>;
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
  try {
    return import.meta.resolve('tsx');
  } catch {
    return 'tsx';
  }
}

/** What waiting on a child can give: its message, no answer in time, or its death. */
type Reply<M extends FromChild = FromChild> = M | { t: 'timeout' } | { t: 'exited'; message: string };
type Msg<T extends FromChild['t']> = Extract<FromChild, { t: T }>;

/** Messages the harness did not take, over all its children: said once, in a warning. */
interface Ignored {
  /** sent by the bench's code with process.send (Node's IPC channel, which the harness does not use) */
  ipc: number;
  /** on the private channel but not a message the harness was waiting for, or without its key */
  channel: number;
}

/** One bench child process and a request/response channel to it. */
class BenchChild {
  /** strategies this process holds a recording of (lost with the process if it is replaced) */
  readonly recorded = new Set<string>();
  /** errors nobody awaited, reported by the child as they happen */
  onStray: (strategy: string | undefined, error: string) => void = () => {};
  private proc: ChildProcess;
  private channel: Socket;
  private readonly key = randomBytes(16).toString('hex');
  private runs = 0;
  private waiting: { accepts: (m: FromChild) => boolean; answer: (m: Reply) => void } | undefined;
  private output = '';
  private exitReply: Reply | undefined;
  private exited: Promise<void>;

  constructor(
    readonly role: 'untraced' | 'observed',
    private readonly config: ChildConfig,
    private readonly execArgv: string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly ignored: Ignored,
  ) {
    this.proc = fork(CHILD_ENTRY, [], {
      execArgv,
      env: { ...env, ...childEnv(CHILD_CONFIG_ENV, config) },
      // fd 3: Node's IPC, left to the bench's code; fd 4 (CHANNEL_FD): the harness's own channel.
      stdio: ['ignore', 'pipe', 'pipe', 'ipc', 'pipe'],
    });
    // The bench's own console output is kept for diagnosis, not mixed into the report.
    const keep = (b: Buffer) => {
      this.output = (this.output + b.toString()).slice(-4000);
    };
    this.proc.stdout!.on('data', keep);
    this.proc.stderr!.on('data', keep);
    // A send to a process that just died reports here; its exit is handled below.
    this.proc.on('error', () => {});
    this.proc.on('message', () => {
      ignored.ipc++;
    });
    this.channel = this.proc.stdio[CHANNEL_FD] as Socket;
    this.channel.on('error', () => {});
    readLines(this.channel, (m) => this.receive(m));
    void writeLine(this.channel, { t: 'hello', key: this.key } satisfies ToChild);
    this.exited = new Promise((resolve) =>
      this.proc.on('exit', (code, signal) => {
        const tail = this.output.trim().split('\n').filter(Boolean).pop();
        this.exitReply = {
          t: 'exited',
          message: `bench process exited unexpectedly (${signal ?? `code ${code}`})${tail ? `: ${tail}` : ''}`,
        };
        this.answer(this.exitReply);
        resolve();
      }),
    );
  }

  /** A fresh process like this one (same role, configuration and environment). */
  replacement(): BenchChild {
    return new BenchChild(this.role, this.config, this.execArgv, this.env, this.ignored);
  }

  /** Takes a message from the private channel if it carries the key and is one being waited for. */
  private receive(value: unknown): void {
    const { key, ...m } = (typeof value === 'object' && value !== null ? value : {}) as Partial<Signed>;
    if (key !== this.key || typeof m.t !== 'string') return void this.ignored.channel++;
    const msg = m as FromChild;
    if (msg.t === 'stray') return this.onStray(msg.strategy, msg.error);
    if (this.waiting?.accepts(msg)) this.answer(msg);
    else this.ignored.channel++;
  }

  private answer(m: Reply): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.answer(m);
  }

  /** The next message `accepts` takes, within `limitMs` (or the process's death). */
  private next<M extends FromChild>(limitMs: number, accepts: (m: FromChild) => m is M): Promise<Reply<M>> {
    if (this.exitReply) return Promise.resolve(this.exitReply as Reply<M>);
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.answer({ t: 'timeout' }), limitMs);
      this.waiting = {
        accepts,
        answer: (m) => {
          clearTimeout(timer);
          resolve(m as Reply<M>);
        },
      };
    });
  }

  /** The child's first message: 'ready', or 'fatal' when the bench cannot run. */
  started(limitMs: number): Promise<Reply<Msg<'ready' | 'fatal'>>> {
    return this.next(limitMs, (m): m is Msg<'ready' | 'fatal'> => m.t === 'ready' || m.t === 'fatal');
  }

  /** Runs `strategy` once; only the reply to this very run answers. */
  run(strategy: string, record: boolean, heap: boolean, limitMs: number): Promise<Reply<Msg<'done' | 'fatal'>>> {
    const run = ++this.runs;
    return this.request(
      { t: 'run', run, strategy, record, heap },
      limitMs,
      (m): m is Msg<'done' | 'fatal'> => m.t === 'fatal' || (m.t === 'done' && m.run === run && m.strategy === strategy),
    );
  }

  finish(outDir: string | null, limitMs: number): Promise<Reply<Msg<'finished' | 'fatal'>>> {
    return this.request({ t: 'finish', outDir }, limitMs, (m): m is Msg<'finished' | 'fatal'> => m.t === 'finished' || m.t === 'fatal');
  }

  private request<M extends FromChild>(m: ToChild, limitMs: number, accepts: (m: FromChild) => m is M): Promise<Reply<M>> {
    const reply = this.next(limitMs, accepts);
    if (!this.exitReply) void writeLine(this.channel, m);
    return reply;
  }

  /**
   * Lets the process go: closing the channel makes it tear down and exit (child.ts); one stuck in
   * synchronous code never gets to, and is killed after a grace period.
   */
  async stop(): Promise<void> {
    if (this.exitReply) return;
    this.channel.end();
    if (this.proc.connected) this.proc.disconnect();
    const grace = new Promise<void>((resolve) => setTimeout(resolve, TEARDOWN_GRACE_MS).unref());
    await Promise.race([this.exited, grace]);
    if (!this.exitReply) this.proc.kill('SIGKILL');
    await this.exited;
  }
}

/** One warning per kind of message the harness ignored, with how many there were. */
function ignoredWarnings({ ipc, channel }: Ignored): string[] {
  const n = (k: number) => `${k} message${k === 1 ? '' : 's'}`;
  const out: string[] = [];
  if (ipc)
    out.push(
      `the bench's code sent ${n(ipc)} with process.send: the harness does not use that channel and ignored ${ipc === 1 ? 'it' : 'them'}`,
    );
  if (channel)
    out.push(
      `${n(channel)} on the harness's private channel did not come from the harness's code or answered no request, and ${channel === 1 ? 'was' : 'were'} ignored`,
    );
  return out;
}

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

/** Waits for a child's 'ready'; anything else means the bench cannot run at all. */
async function ready(child: BenchChild, shown: string, limitMs: number): Promise<Msg<'ready'>> {
  const m = await child.started(limitMs);
  if (m.t === 'ready') return m;
  if (m.t === 'timeout') throw new UserError(`${shown}: setup did not finish within ${limitMs / 1000} s`);
  throw new UserError(`${shown}: ${m.message}`);
}

export async function runBench(opts: RunOptions): Promise<RawResults> {
  const file = path.resolve(opts.file);
  const shown = opts.file;
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (!st) throw new UserError(`${shown}: no such bench file`);
  if (!st.isFile()) throw new UserError(`${shown}: ${st.isDirectory() ? 'a folder' : 'not a file'}, not a bench file`);
  const mode = opts.mode ?? 'off';
  for (const [flag, v, min] of [
    ['--runs', opts.runs, 1],
    ['--warmup', opts.warmup, 0],
  ] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= min && v <= MAX_RUNS))
      throw new UserError(`${flag} must be an integer from ${min} to ${thousands(MAX_RUNS)} (got ${v})`);
  }
  if (opts.timeout !== undefined && !(opts.timeout > 0 && opts.timeout <= MAX_TIMER_S)) {
    throw new UserError(`--timeout must be a number of seconds > 0 and at most ${thousands(MAX_TIMER_S)} (got ${opts.timeout})`);
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
  const ignored: Ignored = { ipc: 0, channel: 0 };
  children.push(new BenchChild('untraced', { file, mode: 'off' }, baseArgv, cleanEnv, ignored));
  let cleanup = () => {};
  if (mode === 'trace') {
    // The preload registers tsx itself, ahead of the instrumenter: no second `--import tsx`.
    const launch = tracerLaunch(file);
    cleanup = launch.cleanup;
    const sampled = opts.traceSample ? { traceSample: true, sampleIntervalUs: opts.sampleIntervalUs ?? 1000 } : {};
    children.push(new BenchChild('observed', { file, mode, ...sampled }, launch.execArgv, { ...cleanEnv, ...launch.env }, ignored));
  } else if (mode === 'sample') {
    children.push(new BenchChild('observed', { file, mode, sampleIntervalUs: opts.sampleIntervalUs ?? 1000 }, baseArgv, cleanEnv, ignored));
  }
  const setupMs = Math.max(MIN_SETUP_MS, (opts.timeout ?? 0) * 1000);
  try {
    const readies = await Promise.allSettled(children.map((c) => ready(c, shown, setupMs)));
    const failed = readies.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const first = (readies[0] as PromiseFulfilledResult<Msg<'ready'>>).value;

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

    const perStrategy = () =>
      children.map(() => Object.fromEntries(strategies.map((s) => [s, [] as number[]])) as Record<string, number[]>);
    const times = perStrategy();
    const heapPeak: Record<string, number> = {};
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
    const runOnce = async (ci: number, strategy: string, record: boolean, heap = false): Promise<Msg<'done'> | undefined> => {
      const child = children[ci]!;
      const reply = await child.run(strategy, record, heap, timeout * 1000);
      if (reply.t === 'done') {
        if (reply.error !== undefined) errors[strategy] ??= reply.error;
        else if (record) child.recorded.add(strategy);
        return reply.error === undefined ? reply : undefined;
      }
      if (reply.t === 'fatal') throw new UserError(`${shown}: ${reply.message}`);
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

    const total = ((warmup + runs) * children.length + 1) * strategies.length;
    let done = 0;
    for (let round = 0; round < warmup + runs; round++) {
      const measured = round >= warmup;
      const slots = (opts.order ?? shuffle)(children.flatMap((c) => strategies.map((strategy) => ({ process: c.role, strategy }))));
      for (const { process: role, strategy } of slots) {
        const ci = children.findIndex((c) => c.role === role);
        const what = `${measured ? '' : 'warm-up '}${strategy}${children.length > 1 ? ` (${role === 'observed' ? mode + 'd' : 'untraced'})` : ''}`;
        if (errors[strategy] === undefined) {
          const r = await runOnce(ci, strategy, measured && role === 'observed');
          if (r !== undefined && measured) times[ci]![strategy]!.push(r.ms);
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

    // Memory, once per strategy in a run of its own: watching the heap costs time at every
    // garbage collection, which must not be in the timings.
    for (const strategy of strategies) {
      if (errors[strategy] === undefined) {
        const r = await runOnce(0, strategy, false, true);
        if (r?.heapPeak !== undefined) heapPeak[strategy] = r.heapPeak;
        if (errors[strategy] !== undefined) errors[strategy] = `in its untimed heap run: ${errors[strategy]}`;
      }
      opts.onProgress?.(++done, total, `heap of ${strategy}${errors[strategy] === undefined ? '' : ': failed'}`);
    }

    let files: ChildFiles = {};
    for (const child of children) {
      const reply = await child.finish(child.role === 'observed' ? outDir : null, setupMs);
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
      name,
      file: shown,
      mode,
      runs,
      warmup,
      timeout,
      strategies,
      order: opts.order ? 'as given by the caller' : 'shuffled every round, all strategies and processes interleaved',
      untraced: times[0]!,
      observed: children.length > 1 ? times[1] : undefined,
      heapPeak,
      errors,
      files,
      outDir,
      warnings: [...warnings, ...ignoredWarnings(ignored)],
    };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    cleanup();
  }
}
