/**
 * The agent's worker thread. Holds an inspector session to the main thread and starts the profiler
 * before anything else is loaded (this module imports only the sampler), so sampling begins as
 * early as possible; the service (tables, history, HTTP: service.ts) loads meanwhile and takes
 * every chunk from the first. Living off the main thread is what lets the endpoint answer while the
 * application's JavaScript is busy.
 */
import inspector from 'node:inspector';
import { parentPort, workerData } from 'node:worker_threads';
import { ChunkSampler } from './sampler.js';
import type { CpuProfile } from '../formats/cpuprofile.js';
import type { AgentConfig } from './config.js';
import type { AgentIdentity } from './protocol.js';
import type { SourceMapAnswer, SourceMapRequest } from './source-maps.js';
import type { StallRange } from './stalls.js';

export type ToWorker = { type: 'stall'; range: StallRange } | { type: 'stop' } | { type: 'exit' } | SourceMapAnswer;
export type FromWorker =
  | { type: 'ready'; port: number; host: string }
  | { type: 'error'; message: string }
  | { type: 'stopped' }
  | { type: 'anchor'; start: string | null; end: string | null }
  | SourceMapRequest;

export interface WorkerData extends AgentConfig {
  exitAck: Int32Array;
  identity: AgentIdentity;
}

/** Chunks are one bucket (1 s) long: a bucket is complete when its chunk arrives. */
const CHUNK_MS = 1000;

const cfg = workerData as WorkerData;
const port = parentPort!;
const send = (m: FromWorker): void => port.postMessage(m);

// Until the service is loaded, chunks and messages wait here, in order.
const early: Array<{ chunk: CpuProfile } | { message: ToWorker }> = [];
let onChunk = (p: CpuProfile): void => {
  early.push({ chunk: p });
};
let onMessage = (m: ToWorker): void => {
  early.push({ message: m });
};

const session = new inspector.Session();
session.connectToMainThread();
let reportedError = false;
const sampler = new ChunkSampler(
  session,
  cfg.intervalUs,
  CHUNK_MS,
  (p) => onChunk(p),
  (start, end) => send({ type: 'anchor', start, end }),
  (message) => {
    if (!reportedError) send({ type: 'error', message });
    reportedError = true;
  },
);

port.on('message', (m: ToWorker) => {
  if (m.type === 'exit') {
    // Synchronous: the main thread waits for this word before it exits.
    sampler.disconnectAll();
    session.disconnect();
    Atomics.store(cfg.exitAck, 0, 1);
    Atomics.notify(cfg.exitAck, 0);
  } else onMessage(m);
});

try {
  await sampler.start();
} catch (err) {
  send({ type: 'error', message: `cannot start the profiler: ${(err as Error).message}` });
  throw err;
}
const { startService } = await import('./service.js');
const service = startService({
  cfg,
  sampler,
  send,
  onStopped: () => {
    session.disconnect();
    send({ type: 'stopped' });
    port.close();
  },
});
onChunk = service.onChunk;
onMessage = service.onMessage;
for (const e of early.splice(0)) {
  if ('chunk' in e) onChunk(e.chunk);
  else onMessage(e.message);
}
