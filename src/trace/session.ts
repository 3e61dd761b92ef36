/**
 * One `stackscope trace` run: validate, run the program under the preload, gather the threads'
 * dumps, write trace.json. The program runs in a child process so that its exit code, signals and
 * stdio are its own; stackscope only watches from outside and converts afterwards.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { UserError, scriptNotFound } from '../util/errors.js';
import { thousands } from '../util/numbers.js';
import { isPackageName, transformCacheDir, unmatchedScope } from '../instrument/protocol.js';
import { checkWritable, replaceFile } from '../util/output-file.js';
import { DEFAULT_THROTTLE_AFTER, TRACE_ENV, type PreloadConfig } from '../recorder/protocol.js';
import { FORWARDED_SIGNALS, signalSeen } from '../recorder/protocol.js';
import { childEnv } from '../util/child-env.js';
import { omittedSummary, type MinDurationRaised, type ThrottledSummary } from './summary.js';

export interface TraceOptions {
  script: string;
  args: string[];
  out: string;
  /** globs of files to trace besides the program's own (see the README for what they match) */
  include?: string[];
  exclude?: string[];
  /** packages to trace (`marked`, `@scope/name`), wherever and however they are installed */
  includePackages?: string[];
  bufferSize?: number;
  minDurationUs?: number;
  /**
   * what a thread's full ring buffer does: 'raise' (default) raises the minimum duration so the
   * trace covers the whole run; 'drop-oldest' keeps every call of the run's end
   */
  onFull?: 'raise' | 'drop-oldest';
  maxDepth?: number;
  /**
   * a function whose last this-many calls were each shorter than the minimum duration in force,
   * with no traced call inside, is no longer timed (default 10,000; 0: never); see `throttled`
   */
  throttleAfter?: number;
  nodeArgs?: string[];
  cwd?: string;
  /** keep the per-thread dumps here instead of a temp dir that is deleted (tests, debugging) */
  dumpDir?: string;
  /** also sample every traced thread with V8's CPU profiler at this interval (µs): `--sample` */
  sampleIntervalUs?: number;
  /** async causality (`--async`, default off): flows from the call that scheduled each callback, request ids */
  async?: boolean;
  /** progress of writing the trace (see WriteTraceOptions.onProgress) */
  onProgress?: (done: number, total: number) => void;
}

export interface TraceResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  tracePath: string;
  events: number;
  /** size of the trace file written, bytes (0 when none was) */
  bytes: number;
  /** records lost to ring overflow plus Node events lost to their cap, all threads */
  dropped: number;
  /** ring overflow: ms into the trace from which every thread's calls are complete */
  completeFromMs?: number;
  /** a full ring raised the minimum duration */
  minDurationRaised?: MinDurationRaised;
  /** functions no longer timed (throttled) */
  throttled?: ThrottledSummary;
  /** number of thread recordings found (0: the program was killed before any could be saved) */
  threads: number;
  /** `--sample`: CPU samples written, over all threads */
  samples?: number;
  /** `--sample`: threads whose samples end before their calls do (`lastSampleTs` set) or are missing */
  samplesIncomplete?: Array<{ pid: number; thread: string; lastSampleTs?: number; why: string }>;
  /** set when the trace could not be written (the program's status is still valid) */
  writeError?: string;
  /** the include patterns and packages that matched no module the program loaded */
  unmatched?: { include: string[]; packages: string[] };
}

const STUCK_AFTER_MS = 500;
const TS_ENTRY = /\.(ts|mts|cts|tsx)$/i;

export const PRELOAD_PATH = fileURLToPath(new URL('./preload.js', import.meta.url));
/** What a TypeScript entry is run with besides the preload (see ts-entry.ts). */
const TS_ENTRY_IMPORT = new URL('./ts-entry.js', import.meta.url).href;

export async function runTrace(opts: TraceOptions): Promise<TraceResult> {
  const cwd = path.resolve(opts.cwd ?? process.cwd());
  const script = path.resolve(cwd, opts.script);
  const out = path.resolve(cwd, opts.out);
  validate(opts, script, out);

  const ownDumpDir = !opts.dumpDir;
  const dumpDir = opts.dumpDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'stackscope-'));
  fs.mkdirSync(dumpDir, { recursive: true });
  try {
    const include = opts.include ?? [];
    const includePackages = opts.includePackages ?? [];
    const cfg: PreloadConfig = {
      dumpDir,
      cwd,
      include,
      exclude: opts.exclude ?? [],
      includePackages,
      typescript: TS_ENTRY.test(script),
      bufferSize: opts.bufferSize,
      minDurationUs: opts.minDurationUs,
      onFull: opts.onFull,
      maxDepth: opts.maxDepth,
      throttleAfter: opts.throttleAfter,
      cacheDir: transformCacheDir(cwd) ?? false,
      sampleIntervalUs: opts.sampleIntervalUs,
      async: opts.async === true,
    };
    const finished = runChild(script, opts, cwd, cfg);
    // What reads the dumps and writes the trace is needed only once the program has ended: loaded
    // while it runs, so the program starts sooner.
    const recorderStage = import('../recorder/index.js');
    const build = import('./build.js');
    const samplesModule = opts.sampleIntervalUs ? import('./samples.js') : undefined;
    for (const p of [recorderStage, build, samplesModule])
      p?.catch(() => {
        /* reported where it is awaited */
      });
    const { exitCode, signal } = await finished;
    const unmatched = unmatchedScope(dumpDir, include, includePackages);
    const { readDumpDir, groupProcesses } = await recorderStage;

    const threads = readDumpDir(dumpDir, (file, err) =>
      process.stderr.write(`stackscope: skipped unreadable dump ${file}: ${err instanceof Error ? err.message : String(err)}\n`),
    );
    const processes = groupProcesses(threads);
    const dropped = threads.reduce((n, t) => n + t.recording.dropped + t.recording.droppedNodeEvents, 0);
    const base = { exitCode, signal, tracePath: out, dropped, threads: threads.length, unmatched };
    // Nothing was recorded (node could not start the program, or it was SIGKILLed): an earlier
    // trace at the same path is worth more than an empty one, so nothing is written.
    if (threads.length === 0) return { ...base, events: 0, bytes: 0 };
    const samples = opts.sampleIntervalUs
      ? (await samplesModule!).TraceSamples.read(dumpDir, cwd, (file, err) =>
          process.stderr.write(`stackscope: skipped unreadable samples ${file}: ${err instanceof Error ? err.message : String(err)}\n`),
        )
      : undefined;
    try {
      // Into a temporary file first: a trace that fails half-way does not cost the old one.
      const { writeTrace, isGzipPath } = await build;
      const summary = replaceFile(out, (file) =>
        writeTrace(file, processes, {
          gzip: isGzipPath(out),
          metadata: {
            command: ['node', ...(opts.nodeArgs ?? []), opts.script, ...opts.args].join(' '),
            exitCode,
            signal,
            bufferSize: opts.bufferSize,
            minDurationUs: opts.minDurationUs,
            onFull: opts.onFull ?? 'raise',
            maxDepth: opts.maxDepth,
            throttleAfter: opts.throttleAfter ?? DEFAULT_THROTTLE_AFTER,
            async: opts.async === true,
          },
          onProgress: opts.onProgress,
          samples,
        }),
      );
      const completeFromMs = summary.cuts.length ? Math.max(...summary.cuts.map((c) => c.completeFrom)) / 1000 : undefined;
      return {
        ...base,
        events: summary.events,
        bytes: fs.statSync(out).size,
        completeFromMs,
        ...omittedSummary(summary.throttled, summary.minDurations),
        ...(samples ? { samples: samples.written } : {}),
        ...(samples?.gaps.length
          ? { samplesIncomplete: samples.gaps.map(({ pid, thread, lastSampleTs, why }) => ({ pid, thread, lastSampleTs, why })) }
          : {}),
      };
    } catch (err) {
      // The program has run: its exit status must still come through, so this is reported, not thrown.
      return { ...base, events: 0, bytes: 0, writeError: err instanceof Error ? err.message : String(err) };
    }
  } finally {
    if (ownDumpDir) fs.rmSync(dumpDir, { recursive: true, force: true });
  }
}

/** V8 cannot sample much faster than this; below it the profiler's own cost swamps the program. */
export const MIN_SAMPLE_INTERVAL_US = 50;

/** The most calls a thread's ring may hold: 40 bytes each, so 2 GB per thread. */
export const MAX_BUFFER_SIZE = 50_000_000;

/** Everything that can be checked before the program runs is checked before it runs. */
function validate(opts: TraceOptions, script: string, out: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(script);
  } catch {
    throw scriptNotFound('trace', opts.script);
  }
  if (!st.isFile()) throw new UserError(`script is ${st.isDirectory() ? 'a folder' : 'not a file'}: ${opts.script}`);
  checkWritable(out, 'trace', opts.out);
  for (const name of opts.includePackages ?? []) {
    if (!isPackageName(name))
      throw new UserError(`--include-package takes a package name such as marked or @scope/name (got "${name}"); for files use --include`);
  }
  const interval = opts.sampleIntervalUs;
  if (interval !== undefined && !(Number.isFinite(interval) && interval >= MIN_SAMPLE_INTERVAL_US && interval <= 1e6)) {
    throw new UserError(`--interval must be from ${MIN_SAMPLE_INTERVAL_US} µs to 1 s (got ${interval} µs)`);
  }
  if (opts.minDurationUs !== undefined && !(Number.isFinite(opts.minDurationUs) && opts.minDurationUs >= 0)) {
    throw new UserError(`--min-duration must be a number of µs >= 0 (got ${opts.minDurationUs})`);
  }
  if (opts.onFull !== undefined && opts.onFull !== 'raise' && opts.onFull !== 'drop-oldest') {
    throw new UserError(`--on-full must be raise or drop-oldest (got ${String(opts.onFull)})`);
  }
  const { bufferSize, maxDepth } = opts;
  if (bufferSize !== undefined && !(Number.isInteger(bufferSize) && bufferSize >= 1 && bufferSize <= MAX_BUFFER_SIZE)) {
    throw new UserError(`--buffer-size must be a whole number of calls from 1 to ${thousands(MAX_BUFFER_SIZE)} (got ${bufferSize})`);
  }
  const { throttleAfter } = opts;
  if (throttleAfter !== undefined && !(Number.isInteger(throttleAfter) && throttleAfter >= 0)) {
    throw new UserError(`--throttle must be a whole number of calls >= 0 (got ${throttleAfter})`);
  }
  // max-depth N keeps depths 0..N-1: 0 would keep nothing.
  if (maxDepth !== undefined && !(Number.isInteger(maxDepth) && maxDepth >= 1)) {
    throw new UserError(`--max-depth must be a whole number >= 1 (got ${maxDepth})`);
  }
}

function runChild(
  script: string,
  opts: TraceOptions,
  cwd: string,
  cfg: PreloadConfig,
): Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const tsEntry = cfg.typescript ? ['--import', TS_ENTRY_IMPORT] : [];
    const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--require', PRELOAD_PATH, ...tsEntry, script, ...opts.args], {
      cwd,
      stdio: 'inherit',
      env: { ...process.env, ...childEnv(TRACE_ENV, cfg) },
    });
    // While the program runs, signals are its business: pass them on and do not die of them
    // ourselves, or the trace of a Ctrl-C'd program would never be written.
    let firstSignalAt = 0;
    let killedFor: NodeJS.Signals | null = null;
    const forward = (sig: NodeJS.Signals) => {
      const now = Date.now();
      // Asked again, and the program has not run a line of JS since the first signal: it is
      // stuck in a synchronous loop, where untraced it would have died at once.
      if (firstSignalAt && now - firstSignalAt >= STUCK_AFTER_MS && child.pid !== undefined && !signalSeen(cfg.dumpDir, child.pid)) {
        process.stderr.write(
          `stackscope: the program does not respond to ${sig} (busy in a synchronous loop?); killing it, its trace is lost\n`,
        );
        killedFor = sig;
        try {
          child.kill('SIGKILL');
        } catch {
          /* already gone */
        }
        return;
      }
      if (!firstSignalAt) firstSignalAt = now;
      try {
        child.kill(sig);
      } catch {
        /* already gone */
      }
    };
    for (const sig of FORWARDED_SIGNALS) process.on(sig, forward);
    const done = () => {
      for (const sig of FORWARDED_SIGNALS) process.removeListener(sig, forward);
    };
    child.once('error', (err) => {
      done();
      reject(new UserError(`could not start node: ${err.message}`));
    });
    child.once('exit', (exitCode, signal) => {
      done();
      // Leave as the untraced program would have: by the signal that was asked for, not SIGKILL.
      resolve({ exitCode, signal: signal === 'SIGKILL' && killedFor ? killedFor : signal });
    });
  });
}
