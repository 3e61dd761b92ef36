/**
 * The harness: starts the bench children, schedules every run, collects the timings.
 *
 * Order of runs: in each round every (child, strategy) pair runs once, in a freshly shuffled
 * order, one at a time across all children. A machine that warms up, throttles or gets busy
 * mid-bench then spreads its drift over all strategies instead of favouring the ones that ran
 * first. In trace and sample mode an untraced child runs alongside the observed one in the same
 * rounds, so the observer effect is measured under the same conditions.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { UserError } from '../util/errors.js';
import { CHILD_CONFIG_ENV, type BenchMode, type ChildConfig, type ChildFiles, type FromChild, type ToChild } from './protocol.js';
import { tracerLaunch } from './launch.js';
import { TRACE_ENV } from '../recorder/config.js';

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
  /** called after every run (progress display) */
  onProgress?: (done: number, total: number, label: string) => void;
}

export interface RawResults {
  name: string;
  file: string;
  mode: BenchMode;
  runs: number;
  warmup: number;
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

const CHILD_ENTRY = fileURLToPath(new URL('./child.js', import.meta.url));

function tsxLoader(): string {
  try { return import.meta.resolve('tsx'); } catch { return 'tsx'; }
}

/** One bench child process and a request/response channel to it. */
class BenchChild {
  private proc: ChildProcess;
  private waiting: ((m: FromChild) => void) | undefined;
  private output = '';
  private exited: Promise<number | null>;

  constructor(readonly role: 'untraced' | 'observed', config: ChildConfig, execArgv: string[], env: NodeJS.ProcessEnv) {
    this.proc = fork(CHILD_ENTRY, [], {
      execArgv,
      env: { ...env, [CHILD_CONFIG_ENV]: JSON.stringify(config) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    // The bench's own console output is kept for diagnosis, not mixed into the report.
    const keep = (b: Buffer) => { this.output = (this.output + b.toString()).slice(-4000); };
    this.proc.stdout!.on('data', keep);
    this.proc.stderr!.on('data', keep);
    this.proc.on('message', (m: FromChild) => {
      const w = this.waiting;
      this.waiting = undefined;
      w?.(m);
    });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code) => resolve(code)));
    this.exited.then((code) => {
      const w = this.waiting;
      this.waiting = undefined;
      const tail = this.output.trim().split('\n').filter(Boolean).pop();
      w?.({ t: 'fatal', message: `bench process exited unexpectedly (code ${code})${tail ? `: ${tail}` : ''}` });
    });
  }

  /** Next message from the child (the first one is 'ready' or 'fatal'). */
  next(): Promise<FromChild> {
    return new Promise((resolve) => { this.waiting = resolve; });
  }

  request(m: ToChild): Promise<FromChild> {
    const reply = this.next();
    this.proc.send(m);
    return reply;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill();
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

export async function runBench(opts: RunOptions): Promise<RawResults> {
  const file = path.resolve(opts.file);
  const shown = opts.file;
  if (!fs.existsSync(file)) throw new UserError(`${shown}: no such bench file`);
  const mode = opts.mode ?? 'off';
  for (const [flag, v, min] of [['--runs', opts.runs, 1], ['--warmup', opts.warmup, 0]] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= min)) throw new UserError(`${flag} must be an integer >= ${min}`);
  }
  if (opts.sampleIntervalUs !== undefined && !(opts.sampleIntervalUs >= 10)) throw new UserError('--interval must be at least 10 µs');
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
  try {
    const readies = await Promise.all(children.map((c) => c.next()));
    const fatal = readies.find((m) => m.t === 'fatal');
    if (fatal && fatal.t === 'fatal') throw new UserError(`${shown}: ${fatal.message}`);
    const ready = readies[0]!;
    if (ready.t !== 'ready') throw new UserError(`${shown}: bench process did not start`);

    const name = ready.name ?? path.basename(file).replace(/\.bench\.[cm]?[jt]s$|\.[cm]?[jt]s$/, '');
    const outDir = opts.outDir === null || mode === 'off' ? null : path.resolve(opts.outDir ?? path.join('stackscope-out', name));
    // Found out now, not after minutes of runs.
    if (outDir) {
      try { fs.mkdirSync(outDir, { recursive: true }); fs.accessSync(outDir, fs.constants.W_OK); } catch (err) {
        throw new UserError(`cannot write outputs to ${opts.outDir ?? outDir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    }

    let strategies = ready.strategies;
    if (opts.strategies?.length) {
      const unknown = opts.strategies.filter((s) => !strategies.includes(s));
      if (unknown.length) {
        throw new UserError(`${shown}: no strategy named "${unknown[0]}" (the bench has: ${strategies.join(', ')})`);
      }
      strategies = strategies.filter((s) => opts.strategies!.includes(s));
    }
    const runs = Math.max(1, Math.floor(opts.runs ?? ready.runs ?? 10));
    const warmup = Math.max(0, Math.floor(opts.warmup ?? ready.warmup ?? 1));

    const times = children.map(() => Object.fromEntries(strategies.map((s) => [s, [] as number[]])) as Record<string, number[]>);
    const errors: Record<string, string> = {};
    const total = (warmup + runs) * strategies.length * children.length;
    let done = 0;
    for (let round = 0; round < warmup + runs; round++) {
      const measured = round >= warmup;
      const slots = shuffle(children.flatMap((_, ci) => strategies.map((s) => [ci, s] as const)));
      for (const [ci, strategy] of slots) {
        if (errors[strategy] !== undefined) { done++; continue; }
        const child = children[ci]!;
        const reply = await child.request({ t: 'run', strategy, record: measured && child.role === 'observed' });
        if (reply.t === 'fatal') throw new UserError(`${shown}: ${reply.message}`);
        if (reply.t !== 'done') throw new UserError(`${shown}: unexpected message from the bench process`);
        if (reply.error !== undefined) errors[strategy] = reply.error;
        else if (measured) times[ci]![strategy]!.push(reply.ms);
        const what = `${measured ? '' : 'warm-up '}${strategy}${children.length > 1 ? ` (${child.role === 'observed' ? mode + 'd' : 'untraced'})` : ''}`;
        opts.onProgress?.(++done, total, what);
      }
    }

    const warnings: string[] = [];
    let files: ChildFiles = {};
    for (const child of children) {
      const reply = await child.request({ t: 'finish', outDir: child.role === 'observed' ? outDir : null });
      if (reply.t === 'finished') {
        warnings.push(...reply.warnings);
        if (child.role === 'observed') files = reply.files;
      } else if (reply.t === 'fatal') {
        warnings.push(reply.message);
      }
    }
    return {
      name, file: shown, mode, runs, warmup, strategies,
      untraced: times[0]!,
      observed: children.length > 1 ? times[1] : undefined,
      errors, files, outDir, warnings,
    };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    cleanup();
  }
}
