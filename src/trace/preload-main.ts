/**
 * The trace preload's work, loaded by preload.ts in a thread that is to be traced. Installs the
 * recorder as the runtime that instrumented code calls, installs the instrumenter's load hooks,
 * and makes sure this thread's recording reaches the dump directory however the thread ends.
 *
 * Rule: the traced program must behave as untraced. Any failure here is one line on stderr and
 * the program goes on; exit codes, signals and the program's own output are left alone.
 */
import os from 'node:os';
import path from 'node:path';
import { isMainThread, threadId } from 'node:worker_threads';
import { Recorder } from '../recorder/index.js';
import { attachChannels } from '../recorder/index.js';
import { setCurrentRecorder } from '../recorder/index.js';
import { readPreloadConfig, type PreloadConfig } from '../recorder/protocol.js';
import { afterExitListeners, dumpThread } from '../recorder/index.js';
import { writeDump } from '../recorder/index.js';
import { FORWARDED_SIGNALS, markSignalSeen } from '../recorder/protocol.js';
import { announceWorker, workerRegistry } from '../recorder/index.js';
import { ownWork } from '../util/own-work.js';
import { installHooks, requireOwn } from '../instrument/index.js';
import { oneLine } from '../util/errors.js';
import { HOOKS_THREAD_ENV } from './preload-env.js';
import type { ThreadSampler } from './sampling.js';

type Sampling = typeof import('./sampling.js');

function warn(what: string, err: unknown): void {
  process.stderr.write(`stackscope: ${what}: ${oneLine(err)}\n`);
}

function processLabel(cwd: string): string {
  const script = process.argv[1] ? path.relative(cwd, process.argv[1]) || process.argv[1] : '';
  return ['node', script, ...process.argv.slice(2)].filter(Boolean).join(' ');
}

function installHooksFor(cfg: PreloadConfig, rec: Recorder): void {
  const startingHooksThread = hooksThreadStart(rec);
  // tsx's register() starts the hooks thread too, inside installHooks
  startingHooksThread(() =>
    installHooks({
      include: cfg.include,
      exclude: cfg.exclude,
      packages: cfg.includePackages,
      matchedDir: cfg.dumpDir,
      cwd: cfg.cwd,
      cacheDir: cfg.cacheDir,
      typescript: cfg.typescript,
      aroundHooksStart: startingHooksThread,
    }),
  );
}

/** Name of the span that marks the hooks thread's start inside a traced call: not the program's time. */
export const HOOKS_START_SPAN = "stackscope: starting Node's loader-hooks thread (not the program's time)";

/**
 * Around the start of Node's loader-hooks thread, now or later from inside the program: the new
 * thread runs our preload too and must know it is not the program's, and the recorder must not
 * take its start for the program's work. Started inside a traced call (a CommonJS program's first
 * module that may load an ES module), its ~100 ms would show as that call's own time: a span
 * under the call says whose time it is.
 */
function hooksThreadStart(rec: Recorder): (start: () => void) => void {
  return (start) => {
    const had = process.env[HOOKS_THREAD_ENV];
    process.env[HOOKS_THREAD_ENV] = '1';
    const depth = rec.callDepth;
    const startUs = rec.nowUs();
    try {
      ownWork(start);
    } finally {
      if (had === undefined) delete process.env[HOOKS_THREAD_ENV];
      else process.env[HOOKS_THREAD_ENV] = had;
      if (depth > 0) rec.recordSpan(HOOKS_START_SPAN, startUs, rec.nowUs(), 0, depth);
    }
  };
}

/**
 * Dumps at every way out: normal exit, uncaught exception (exit still fires), SIGINT/SIGTERM/SIGHUP;
 * at exit after the program's own exit handlers, so their calls are recorded too.
 * The main thread also dumps the workers that could not dump themselves (killed by its exit).
 */
function arrangeDumps(rec: Recorder, cfg: PreloadConfig, label: string, sampler?: ThreadSampler): void {
  if (!isMainThread) {
    const link = announceWorker(rec);
    if (sampler) loadSampling()?.offerSamplesToMain(sampler, cfg.dumpDir, rec.pid, rec.tid);
    afterExitListeners(() => {
      sampler?.stop(cfg.dumpDir, rec.pid, rec.tid);
      dumpThread(rec, cfg.dumpDir, label, warn);
      link.done();
    });
    return; // signals are delivered to the main thread only
  }
  const registry = workerRegistry(true)!;
  const dump = () => {
    sampler?.stop(cfg.dumpDir, rec.pid, rec.tid);
    dumpThread(rec, cfg.dumpDir, label, warn);
    const live: number[] = [];
    try {
      for (const w of registry.snapshots({ skipDone: true })) {
        writeDump(cfg.dumpDir, w, label);
        live.push(w.tid);
      }
    } catch (err) {
      warn('could not save the trace of worker threads', err);
    }
    // Workers still running are killed by this exit before they can stop their own profilers:
    // they are asked to (the trace says which samples end early or are missing).
    if (sampler) loadSampling()?.flushWorkerSamples(cfg.dumpDir, rec.pid, live, warn);
  };
  afterExitListeners(dump);
  const listeners = new Map<string, () => void>();
  for (const sig of FORWARDED_SIGNALS) {
    const onSignal = () => {
      markSignalSeen(cfg.dumpDir);
      // The program has its own handler: it decides what happens; 'exit' dumps if it exits.
      if (process.listenerCount(sig) > 1) return;
      dump();
      process.removeListener(sig, onSignal);
      // With no listener left Node restores the default action, so the process dies by the signal as untraced.
      process.kill(process.pid, sig);
    };
    listeners.set(sig, onSignal);
    process.on(sig, onSignal);
  }
  dieOfOwnSignals(listeners);
}

/**
 * A program that signals itself (`process.kill(process.pid)`) dies at once untraced, before its
 * next line. Our listener would run only at the next turn of the event loop, or never: Node's
 * signal handles do not keep the loop alive, so a program that ends first exited 0 instead of
 * dying by the signal. A signal to itself that only our listener would catch runs it at once.
 */
function dieOfOwnSignals(listeners: Map<string, () => void>): void {
  const kill = process.kill;
  const names = new Map(Object.entries(os.constants.signals).map(([name, no]) => [no as number, name]));
  process.kill = function kill_(pid: number, signal?: string | number): true {
    const sig = signal === undefined ? 'SIGTERM' : typeof signal === 'number' ? names.get(signal) : signal;
    const ours = sig === undefined ? undefined : listeners.get(sig);
    if (ours && Number(pid) === process.pid) {
      const all = process.listeners(sig as NodeJS.Signals);
      if (all.length === 1 && all[0] === ours) ours(); // dumps, removes itself and signals again, now with the default action
    }
    return kill.call(process, pid, signal as never);
  };
  Object.defineProperty(process.kill, 'name', { value: 'kill' });
}

/** sampling.js, loaded only with --sample (synchronously: see preload.ts), so a plain trace pays nothing for it. */
function loadSampling(): Sampling | undefined {
  try {
    return requireOwn<Sampling>(import.meta.url, './sampling.js');
  } catch (err) {
    warn('could not load the CPU profiler, the trace has no samples', err);
    return undefined;
  }
}

function startSamplingLazily(intervalUs: number): ThreadSampler | undefined {
  try {
    return loadSampling()?.startSampling(intervalUs, warn);
  } catch (err) {
    warn('could not start the CPU profiler, the trace has no samples', err);
    return undefined;
  }
}

function main(): void {
  let cfg: PreloadConfig | undefined;
  try {
    cfg = readPreloadConfig();
  } catch (err) {
    warn('bad trace configuration, not tracing', err);
    return;
  }
  if (!cfg) return; // e.g. a child started with a cleared environment: run untraced, silently
  let rec: Recorder;
  try {
    rec = new Recorder({
      capacity: cfg.bufferSize,
      minDurationUs: cfg.minDurationUs,
      onFull: cfg.onFull,
      maxDepth: cfg.maxDepth,
      throttleAfter: cfg.throttleAfter,
      cwd: cfg.cwd,
      tid: isMainThread ? 0 : threadId,
      threadName: isMainThread ? 'main' : `worker ${threadId}`,
      shared: !isMainThread,
    });
    setCurrentRecorder(rec);
  } catch (err) {
    warn('could not start the recorder, not tracing', err);
    return;
  }
  // Started before the hooks, so module loading is sampled too; stopped just before the dump.
  // Loaded only with --sample (synchronously: see preload.ts), so a plain trace pays nothing for it.
  const sampler = cfg.sampleIntervalUs ? startSamplingLazily(cfg.sampleIntervalUs) : undefined;
  try {
    arrangeDumps(rec, cfg, processLabel(cfg.cwd), sampler);
  } catch (err) {
    warn('could not arrange saving the trace', err);
  }
  try {
    installHooksFor(cfg, rec);
  } catch (err) {
    warn('could not install the instrumenter, functions will not be traced', err);
  }
  // After the hooks: their loader thread is stackscope's own, not the program's worker.
  try {
    attachChannels(rec, { async: cfg.async === true });
  } catch (err) {
    warn('could not subscribe to Node events', err);
  }
}

main();
