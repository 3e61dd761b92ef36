/**
 * Entry of a bench child process (forked by the harness, see runner.ts). Opens the private channel
 * and takes the parent's key from it, then loads the bench file, runs `setup`, then runs strategies
 * one at a time as the parent asks, timing each run and, in trace or sample mode, keeping a
 * representative recording per strategy for the outputs. Node's IPC channel is left to the
 * bench's code: `process.send` works as it does in any forked process, and the harness ignores it.
 */
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { findBench, type BenchDefinition } from './define.js';
import { CHANNEL_FD, CHILD_CONFIG_ENV, type ChildConfig, type ChildFiles, type FromChild, type Signed, type ToChild } from './protocol.js';
import { readLines, writeLine } from './channel.js';
import { watchHeap } from './memory.js';
import { Keeper, liveRecorder, sampleObserver, traceObserver, tracedAndSampledObserver, type Observer, type TracedRun } from './observe.js';
import { writeSampleOutputs, writeTraceOutputs } from './outputs.js';
import type { CpuProfile } from '../formats/cpuprofile.js';
import type { FoldedStacks } from '../formats/folded.js';
import { dropObserverSamples, remapProfile, strategyFolded } from './sampled.js';
import { readChildEnv } from '../util/child-env.js';

const config = (readChildEnv<ChildConfig>(CHILD_CONFIG_ENV, { take: true }) ?? {}) as ChildConfig;
const channel = new net.Socket({ fd: CHANNEL_FD, readable: true, writable: true });
// The parent went away (Ctrl-C, crash) or let this process go: release what setup acquired and go.
let onClose = (): void => process.exit(1);
channel.on('close', () => onClose());
channel.on('error', () => {});
const requests: ToChild[] = [];
let request: ((m: ToChild) => void) | undefined;
readLines(channel, (m) => {
  if (typeof m !== 'object' || m === null) return;
  if (request) request(m as ToChild);
  else requests.push(m as ToChild);
});
/** The key, the parent's first message, taken before any of the bench's code runs. */
const key = await new Promise<string>((resolve) => {
  request = (m) => {
    if (m.t === 'hello') resolve(m.key);
  };
});
request = undefined;
const send = (m: FromChild) => writeLine(channel, { ...m, key } satisfies Signed);

function errorText(err: unknown): string {
  // tsx/esbuild syntax errors put the useful part in `errors`, after a "Transform failed" line.
  const first = (err as { errors?: { text?: string; location?: { line: number; column: number } }[] })?.errors?.[0];
  if (first?.text) return `syntax error: ${first.text}${first.location ? ` (line ${first.location.line}:${first.location.column})` : ''}`;
  if (err instanceof Error) {
    // Through the ESM loader only the message survives: "Transform failed with 1 error:\n<file>:L:C: ERROR: text".
    const detail = /:(\d+):(\d+): ERROR: (.*)/.exec(err.message);
    if (detail) return `syntax error: ${detail[3]} (line ${detail[1]}:${detail[2]})`;
    return `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}`.split('\n')[0]!;
  }
  return String(err);
}

async function fatal(message: string): Promise<never> {
  await send({ t: 'fatal', message });
  process.exit(1);
}

let def: BenchDefinition<unknown>;
try {
  const mod = (await import(pathToFileURL(path.resolve(config.file)).href)) as Record<string, unknown>;
  const found = findBench(mod);
  if (typeof found === 'string') await fatal(found);
  def = found as BenchDefinition<unknown>;
} catch (err) {
  def = await fatal(`failed to load: ${errorText(err)}`);
}

let ctx: unknown;
try {
  ctx = def.setup ? await def.setup() : undefined;
} catch (err) {
  await fatal(`setup failed: ${errorText(err)}`);
}

type Observed = { observer: Observer<unknown>; keeper: Keeper<unknown> };
let observed: Observed | undefined;
let closeObserver = () => {};
const warnings: string[] = [];
if (config.mode === 'trace') {
  if (!liveRecorder()) await fatal('trace mode: the tracer is not loaded in the bench process');
  const { getRecorder } = await import('../trace/api.js');
  const trace = traceObserver(getRecorder());
  if (config.traceSample) {
    const intervalUs = config.sampleIntervalUs ?? 1000;
    const s = sampleObserver(intervalUs);
    observed = { observer: tracedAndSampledObserver(trace, s, intervalUs, remapProfile), keeper: new Keeper() };
    closeObserver = () => s.close();
  } else {
    observed = { observer: trace, keeper: new Keeper() };
  }
} else if (config.mode === 'sample') {
  const s = sampleObserver(config.sampleIntervalUs ?? 1000);
  observed = { observer: s, keeper: new Keeper() };
  closeObserver = () => s.close();
}

const foldedBy = new Map<string, FoldedStacks>();

// An error nobody awaits (a promise a strategy forgot to await, a throwing timer callback) is
// that strategy's failure, not a crash of the whole bench. It belongs to the strategy running,
// else to the one that ran last (its leftover work is what still runs between runs). Sent at
// once rather than with the run's reply: the run may never reply (it may then time out).
let current: string | undefined;
let lastRun: string | undefined;
const stray = (kind: string) => (reason: unknown) => {
  const owner = current ?? lastRun;
  const when = current ? '' : owner ? ' after its run' : ' outside any run';
  void send({ t: 'stray', strategy: owner, error: `${kind}${when}: ${errorText(reason)}` });
};
process.on('unhandledRejection', stray('unhandled rejection'));
process.on('uncaughtException', stray('uncaught exception'));

/** Outputs in the bench's own strategy order, whatever order the runs came in. */
function inOrder<R>(entries: [string, R][]): [string, R][] {
  const names = Object.keys(def.strategies);
  return entries.sort((a, b) => names.indexOf(a[0]) - names.indexOf(b[0]));
}

async function run(id: number, strategy: string, record: boolean, heap: boolean): Promise<FromChild> {
  const fn = def.strategies[strategy];
  if (!fn) return { t: 'done', run: id, strategy, ms: NaN, error: `no strategy named "${strategy}"` };
  const watch = record ? observed : undefined;
  await watch?.observer.before();
  const heapPeak = heap ? watchHeap() : undefined;
  const t0 = performance.now();
  let error: string | undefined;
  current = lastRun = strategy;
  try {
    await fn(ctx);
  } catch (err) {
    error = errorText(err);
  }
  current = undefined;
  const ms = performance.now() - t0;
  const grew = heapPeak?.();
  if (watch) {
    const rec = await watch.observer.after();
    if (!error) {
      watch.keeper.offer(strategy, ms, rec);
      // Folded stacks add up every measured run: more samples, and the same runs per strategy.
      if (config.mode === 'sample') {
        const folded = foldedBy.get(strategy) ?? new Map();
        foldedBy.set(strategy, strategyFolded(dropObserverSamples(remapProfile(rec as CpuProfile)), folded));
      }
    }
  }
  return { t: 'done', run: id, strategy, ms, ...(grew === undefined ? {} : { heapPeak: grew }), ...(error === undefined ? {} : { error }) };
}

async function finish(outDir: string | null): Promise<void> {
  let files: ChildFiles = {};
  try {
    if (outDir && observed && config.mode === 'trace') {
      const keeper = observed.keeper;
      const meta = { bench: def.name ?? path.basename(config.file), benchFile: path.relative(process.cwd(), config.file) };
      files = await writeTraceOutputs(outDir, inOrder(keeper.entries() as [string, TracedRun][]), meta, (s) => keeper.msOf(s));
    } else if (outDir && observed && config.mode === 'sample') {
      files = writeSampleOutputs(outDir, inOrder(observed.keeper.entries() as [string, CpuProfile][]), foldedBy);
    }
  } catch (err) {
    warnings.push(`could not write outputs: ${errorText(err)}`);
  }
  closeObserver();
  try {
    await def.teardown?.(ctx);
  } catch (err) {
    warnings.push(`teardown failed: ${errorText(err)}`);
  }
  await send({ t: 'finished', files, warnings });
  process.exit(0);
}

// One message at a time: a strategy must never overlap another in the same process.
let queue = Promise.resolve();
const handle = (m: ToChild) => {
  queue = queue.then(async () => {
    if (m.t === 'run') await send(await run(m.run, m.strategy, m.record, m.heap));
    else if (m.t === 'finish') await finish(m.outDir);
  });
};
request = handle;
requests.splice(0).forEach(handle);
onClose = () => {
  void Promise.resolve(def.teardown?.(ctx))
    .catch(() => {})
    .finally(() => process.exit(1));
};

await send({
  t: 'ready',
  name: def.name,
  strategies: Object.keys(def.strategies),
  runs: def.runs,
  warmup: def.warmup,
  timeout: def.timeout,
});
