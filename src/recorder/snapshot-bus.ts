/**
 * On-demand snapshots across threads (for the in-process `saveTrace`): the asking thread
 * broadcasts a request; every other traced thread of the process answers with its snapshot.
 * A thread that is busy in a long synchronous loop cannot answer, hence the timeout.
 */
import { BroadcastChannel } from 'node:worker_threads';
import type { Recorder } from './runtime.js';
import type { ThreadRecording } from './recording.js';
import { flushGc } from './channels.js';

const BUS = 'stackscope:snapshot';

interface Request { type: 'req'; id: string }
interface Response { type: 'res'; id: string; recording: ThreadRecording }

let bus: BroadcastChannel | undefined;
const waiting = new Map<string, (r: ThreadRecording) => void>();

function channel(): BroadcastChannel {
  if (!bus) {
    bus = new BroadcastChannel(BUS);
    // Listening must not keep a thread alive that would otherwise exit.
    (bus as unknown as { unref(): void }).unref();
  }
  return bus;
}

/** Makes this thread answer snapshot requests from the others. */
export function attachSnapshotResponder(rec: Recorder): void {
  const ch = channel();
  ch.onmessage = (ev: unknown) => {
    try {
      const msg = (ev as { data: Request | Response }).data;
      if (msg.type === 'req') {
        flushGc();
        ch.postMessage({ type: 'res', id: msg.id, recording: rec.snapshot() } satisfies Response);
      } else if (msg.type === 'res') {
        waiting.get(msg.id)?.(msg.recording);
      }
    } catch { /* a failed answer only means a missing thread in an on-demand trace */ }
  };
}

/** Asks the other threads for their snapshots; resolves with what arrived within `timeoutMs`. */
export function requestSnapshots(timeoutMs = 250): Promise<ThreadRecording[]> {
  if (!bus) return Promise.resolve([]);
  const id = `${process.pid}-${Math.random().toString(36).slice(2)}`;
  const got: ThreadRecording[] = [];
  return new Promise((resolve) => {
    waiting.set(id, (r) => got.push(r));
    // A ref'd timer: the process stays alive while the caller awaits the answers.
    setTimeout(() => {
      waiting.delete(id);
      resolve(got);
    }, timeoutMs);
    channel().postMessage({ type: 'req', id } satisfies Request);
  });
}
