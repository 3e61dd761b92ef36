/**
 * The agent's worker thread: holds an inspector session to the main thread, turns profiler windows
 * into bounded stack tables, and serves them over HTTP. Living off the main thread is what lets the
 * endpoint answer while the application's JavaScript is busy.
 */
import os from 'node:os';
import inspector from 'node:inspector';
import { parentPort, workerData } from 'node:worker_threads';
import { foldedKeyResolver, forEachTimedSample, type CpuProfile } from '../formats/cpuprofile.js';
import { chainSourceMaps, diskSourceMaps, sourceMapProfile } from './source-maps.js';
import { MainThreadSourceMaps, type SourceMapAnswer, type SourceMapRequest } from './agent-source-maps.js';
import { StackTable } from './stack-table.js';
import { WindowHistory } from './history.js';
import { StallLog, monotonicUs, type StallRange } from './stalls.js';
import { WindowSampler } from './window-sampler.js';
import { createAgentServer, type AgentState } from './server.js';
import type { AgentConfig } from './agent-config.js';

export type ToWorker = { type: 'stall'; range: StallRange } | { type: 'stop' } | { type: 'exit' } | SourceMapAnswer;
export type FromWorker = { type: 'ready'; port: number; host: string } | { type: 'error'; message: string } | { type: 'stopped' } | SourceMapRequest;

const cfg = workerData as AgentConfig & { exitAck: Int32Array };
const port = parentPort!;
const send = (m: FromWorker): void => port.postMessage(m);

// Profile timestamps are monotonic µs (process.hrtime); this converts them to wall-clock ms.
const epochOffsetMs = Date.now() - monotonicUs() / 1000;
const epochOfUs = (us: number): number => epochOffsetMs + us / 1000;

const diskMaps = diskSourceMaps();
// Maps of scripts compiled in memory (tsx) exist only in the main thread: see agent-source-maps.ts.
const mainMaps = new MainThreadSourceMaps(send);
const sourceMaps = chainSourceMaps(diskMaps, mainMaps.lookup);

/** Source-maps a profile, first fetching from the main thread the maps of scripts met for the first time. */
async function mapProfile(profile: CpuProfile): Promise<CpuProfile> {
  const unknown = new Set<string>();
  for (const n of profile.nodes) {
    const url = n.callFrame.url;
    if (url && !unknown.has(url) && !diskMaps(url)) unknown.add(url);
  }
  await mainMaps.fetch(unknown);
  return sourceMapProfile(profile, sourceMaps);
}
const startedMs = Date.now();
const cumulative = new StackTable(cfg.maxStacks);
let cumulativeStartMs = startedMs;
let cumulativeEndMs = startedMs;
const history = new WindowHistory(Math.random().toString(36).slice(2, 10), cfg.historyWindows);
const stalls = new StallLog(epochOfUs);
let idleSamples = 0;
let windowsDone = 0;

function labelled(profile: CpuProfile) {
  const keyOf = foldedKeyResolver();
  const table = new StackTable(cfg.maxStacks);
  const timed: Array<{ ts: number; key: string | null }> = [];
  let idle = 0;
  forEachTimedSample(profile, ({ stack, ts }) => {
    const key = keyOf(stack);
    timed.push({ ts, key });
    if (key === null) idle++;
    else table.add(key);
  });
  return { table, timed, idle };
}

// Windows are processed in order, each after the maps it needs have arrived (usually at once).
let windowQueue: Promise<void> = Promise.resolve();
function onWindow(profile: CpuProfile, intervalUs: number): void {
  // Every step catches: one bad window must not stop the queue (and with it all later windows).
  windowQueue = windowQueue.then(async () => {
    try {
      addWindow(await mapProfile(profile), intervalUs);
    } catch (err) {
      send({ type: 'error', message: `could not process a profile window: ${(err as Error).message}` });
    }
  });
}

function addWindow(profile: CpuProfile, intervalUs: number): void {
  const { table, timed, idle } = labelled(profile);
  const startMs = epochOfUs(profile.startTime);
  const endMs = epochOfUs(profile.endTime);
  history.push({ startMs, endMs, intervalUs, samples: table.samples, stacks: table.stacks, foldedStacks: table.foldedStacks });
  cumulative.addAll(table.stacks);
  cumulativeEndMs = endMs;
  idleSamples += idle;
  windowsDone++;
  stalls.addWindow(timed, profile.endTime);
}

const session = new inspector.Session();
session.connectToMainThread();
const sampler = new WindowSampler(session, cfg.intervalUs, cfg.windowMs, onWindow);

const state: AgentState = {
  token: cfg.token,
  cumulative,
  get cumulativeStartMs() { return cumulativeStartMs; },
  get cumulativeEndMs() { return cumulativeEndMs; },
  reset() {
    cumulative.clear();
    cumulativeStartMs = cumulativeEndMs;
  },
  history,
  meta: () => ({
    pid: process.pid,
    hostname: os.hostname(),
    intervalUs: cfg.intervalUs,
    windowMs: cfg.windowMs,
    startedAt: new Date(startedMs).toISOString(),
    samples: cumulative.samples,
    windowStart: new Date(cumulativeStartMs).toISOString(),
    windowEnd: new Date(cumulativeEndMs).toISOString(),
    stacks: cumulative.stacks.size,
    maxStacks: cfg.maxStacks,
    foldedStacks: cumulative.foldedStacks,
    foldedSamples: cumulative.foldedSamples,
    idleSamples,
    totalSamples: history.totalSamples,
    windows: windowsDone,
    historyWindows: history.size,
    cursor: history.cursorOf(history.lastSeq),
    stallThresholdMs: cfg.stallThresholdMs,
    stalls: stalls.stalls.length,
  }),
  stalls: () => ({ thresholdMs: cfg.stallThresholdMs, stalls: stalls.stalls }),
  busyRecording: () => sampler.busyRecording,
  async record(seconds, intervalUs) {
    const profile = await mapProfile(await sampler.record(seconds, intervalUs));
    return { profile, startEpochMs: epochOfUs(profile.startTime) };
  },
};

port.on('message', (m: ToWorker) => {
  if (m.type === 'stall') stalls.addStall(m.range);
  else if (m.type === 'sourceMaps') mainMaps.answer(m);
  else if (m.type === 'exit') {
    session.disconnect();
    Atomics.store(cfg.exitAck, 0, 1);
    Atomics.notify(cfg.exitAck, 0);
  }
  else if (m.type === 'stop') {
    server.close();
    sampler.stop().catch(() => undefined).then(() => windowQueue).finally(() => {
      session.disconnect();
      send({ type: 'stopped' });
      port.close();
    });
  }
});

const server = createAgentServer(state);
server.on('error', (err) => send({ type: 'error', message: `cannot listen on ${cfg.host}:${cfg.port}: ${err.message}` }));
try {
  await sampler.start();
  server.listen(cfg.port, cfg.host, () => {
    const addr = server.address();
    send({ type: 'ready', port: typeof addr === 'object' && addr ? addr.port : cfg.port, host: cfg.host });
  });
} catch (err) {
  send({ type: 'error', message: `cannot start the profiler: ${(err as Error).message}` });
}
