/**
 * The production agent, in-process: `startAgent()` starts the sampler's worker thread and the stall
 * heartbeat, and resolves once the HTTP endpoint listens. Nothing here keeps the process alive, and
 * no failure of the agent throws into the application after start: it is reported once on stderr.
 */
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import crypto from 'node:crypto';
import inspector from 'node:inspector';
import { Worker, isMainThread } from 'node:worker_threads';
import { ownVersion } from '../util/version.js';
import { resolveAgentConfig, type AgentConfig, type AgentOptions } from './config.js';
import { watchStalls } from './stalls.js';
import { answerSourceMapRequest } from './source-maps.js';
import type { AgentIdentity } from './protocol.js';
import type { FromWorker, ToWorker, WorkerData } from './worker.js';

export type { AgentOptions } from './config.js';

export interface Agent {
  /** who this agent is to collectors (also in /meta and every /stacks answer) */
  identity: AgentIdentity;
  host: string;
  port: number;
  /** http://host:port */
  url: string;
  pid: number;
  /** Closes the endpoint, publishes the last window and ends the worker. */
  stop(): Promise<void>;
}

const RUNNING = Symbol.for('stackscope.agent');
type Global = typeof globalThis & { [RUNNING]?: Promise<Agent> };

let reported = false;
/** The agent speaks at most once: a profiler must not flood the logs of the program it watches. */
export function reportAgentFailure(message: string): void {
  if (reported) return;
  reported = true;
  process.stderr.write(`stackscope agent: ${message}\n`);
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || (net.isIPv4(host) && host.startsWith('127.')) || host === '::1';
}

/** The warning for an endpoint reachable beyond this machine without a token, or null. */
export function exposureWarning(host: string, port: number, token: string | undefined): string | null {
  if (token !== undefined || isLoopback(host)) return null;
  return `listening on ${host}:${port} without a token: anyone who can reach it can read this process's profiles (set STACKSCOPE_TOKEN)`;
}

function identityOf(cfg: AgentConfig): AgentIdentity {
  return {
    instance: crypto.randomBytes(8).toString('hex'),
    service: cfg.service,
    labels: cfg.labels,
    hostname: os.hostname(),
    pid: process.pid,
    startedMs: Date.now(),
    intervalUs: cfg.intervalUs,
    version: ownVersion(),
  };
}

/** The main thread's half of the anchor profile (see sampler.ts), with the console as it was at start. */
const consoleProfile = console.profile.bind(console);
const consoleProfileEnd = console.profileEnd.bind(console);
function anchor(start: string | null, end: string | null): void {
  try {
    if (start) consoleProfile(start);
    if (end) consoleProfileEnd(end);
  } catch {
    /* no inspector: chunks are then taken without an anchor */
  }
}

/**
 * Starts sampling the main thread and serving the endpoint. One agent per process: a second call
 * returns the first agent. Call it from the main thread (the sampler always profiles the main thread).
 */
export function startAgent(options: AgentOptions = {}): Promise<Agent> {
  const g = globalThis as Global;
  if (g[RUNNING]) return g[RUNNING]!;
  const p = launch(options);
  g[RUNNING] = p;
  p.catch(() => {
    delete g[RUNNING];
  });
  return p;
}

function launch(options: AgentOptions): Promise<Agent> {
  if (!isMainThread) return Promise.reject(new Error('startAgent must be called on the main thread'));
  const cfg = resolveAgentConfig(options);
  const identity = identityOf(cfg);
  primeInlineFrames();
  const ext = path.extname(new URL(import.meta.url).pathname);
  const workerUrl = new URL(`./worker${ext}`, import.meta.url);
  // The worker gets none of the application's preloads (its own APM agents, loaders); from sources
  // (tests under tsx) it needs the TypeScript loader.
  const execArgv = ext === '.ts' ? ['--import', import.meta.resolve('tsx')] : [];
  // The worker acknowledges through this word that it let go of the main thread's inspector.
  const exitAck = new Int32Array(new SharedArrayBuffer(4));
  const workerData: WorkerData = { ...cfg, exitAck, identity };
  // The heap limit contains the worker: past it V8 ends the worker, never the host (reported once).
  const worker = new Worker(workerUrl, { workerData, execArgv, resourceLimits: { maxOldGenerationSizeMb: cfg.workerHeapMb } });
  const post = (m: ToWorker): void => worker.postMessage(m);

  // A session still connected when the process exits makes Node print "Waiting for the debugger to
  // disconnect..." on stderr (after process.exit or an uncaught exception): have the worker
  // disconnect first. Synchronous, as 'exit' handlers must be; bounded, so exit never hangs.
  let alive = true;
  const onExit = (): void => {
    if (!alive) return;
    try {
      worker.postMessage({ type: 'exit' } satisfies ToWorker);
      Atomics.wait(exitAck, 0, 0, 300);
    } catch {
      /* exiting anyway */
    }
  };
  process.on('exit', onExit);

  return new Promise<Agent>((resolve, reject) => {
    let ready = false;
    let stopStalls: (() => void) | null = null;
    let onStopped: (() => void) | null = null;
    // Listeners go on before unref(): a 'message' listener added later would ref the worker again.
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'anchor') {
        anchor(m.start, m.end);
      } else if (m.type === 'sourceMaps') {
        // Only this thread has the maps of scripts compiled in memory (tsx): source-maps.ts.
        post(answerSourceMapRequest(m));
      } else if (m.type === 'ready') {
        ready = true;
        stopStalls = watchStalls(cfg.stallThresholdMs, (range) => post({ type: 'stall', range }));
        const warning = exposureWarning(m.host, m.port, cfg.token);
        if (warning) process.stderr.write(`stackscope agent: ${warning}\n`);
        resolve({
          identity,
          host: m.host,
          port: m.port,
          url: `http://${m.host.includes(':') ? `[${m.host}]` : m.host}:${m.port}`,
          pid: process.pid,
          stop: () =>
            new Promise<void>((done) => {
              stopStalls?.();
              onStopped = done;
              post({ type: 'stop' });
              // If the worker cannot finish (main thread about to exit), do not hang the caller.
              setTimeout(done, 2000).unref();
            }).finally(() => {
              delete (globalThis as Global)[RUNNING];
            }),
        });
      } else if (m.type === 'stopped') {
        onStopped?.();
        void worker.terminate();
      } else if (m.type === 'error') {
        if (!ready) {
          void worker.terminate();
          reject(new Error(m.message));
        } else reportAgentFailure(m.message);
      }
    });
    worker.on('error', (err) => {
      stopStalls?.();
      if (!ready) reject(err);
      else if ((err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY') {
        reportAgentFailure(`stopped: its worker reached its heap limit (${cfg.workerHeapMb} MiB); the program goes on unprofiled`);
      } else reportAgentFailure(`sampler stopped: ${err.message}`);
    });
    worker.on('exit', (code) => {
      alive = false;
      process.removeListener('exit', onExit);
      stopStalls?.();
      onStopped?.();
      if (!ready) reject(new Error(`agent worker exited (code ${code}) before it was ready`));
    });
    worker.unref();
  });
}

/**
 * V8 keeps the positions that let the profiler name inlined functions only in code optimised after
 * a profiler has run once in the isolate. The worker's session starts tens of ms later, so run one
 * empty profile here, synchronously, before the application's code gets hot.
 */
function primeInlineFrames(): void {
  try {
    const s = new inspector.Session();
    s.connect();
    for (const m of ['Profiler.enable', 'Profiler.start', 'Profiler.stop', 'Profiler.disable']) s.post(m);
    s.disconnect();
  } catch {
    /* inspector unavailable: frames of inlined functions go to their callers */
  }
}
