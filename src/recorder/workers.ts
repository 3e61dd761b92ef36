/**
 * Lets the main thread read worker threads' recordings without their help.
 *
 * A worker killed by the main thread's `process.exit()` or by a signal never runs its own 'exit'
 * handler, and a worker stuck in a synchronous loop cannot answer a message. So each worker
 * records into a ring in shared memory and announces it (plus every growth of its function and
 * span tables) on a BroadcastChannel. The main thread drains that channel synchronously
 * (`receiveMessageOnPort`), which works even inside its own 'exit' handler, and copies the rings.
 *
 * Node events (HTTP, GC, ...) are objects, not ring records: the worker posts them too, batched per
 * microtask (they are rare: one message per tick that had any), and the main thread keeps its copy
 * within the same cap. What a worker cannot post is lost with it: events of the tick it was killed
 * in, and GC entries still queued in its PerformanceObserver (delivered only when its loop turns).
 */
import { BroadcastChannel, receiveMessageOnPort } from 'node:worker_threads';
import type { FunctionInfo } from '../model/frame.js';
import { copyLiveRing, copyRing, thinningOf, type Recorder } from './runtime.js';
import type { NodeEvent, ThreadRecording, ThrottledFunction } from './recording.js';

const BUS = 'stackscope:workers';

type Msg =
  | { type: 'hello'; pid: number; tid: number; threadName: string; timeOrigin: number; buf: SharedArrayBuffer; ctl: SharedArrayBuffer }
  | { type: 'fns'; tid: number; base: number; fns: FunctionInfo[] }
  | { type: 'span'; tid: number; id: number; name: string }
  | { type: 'events'; tid: number; events: NodeEvent[]; dropped: number }
  | { type: 'clear'; tid: number }
  | { type: 'throttled'; tid: number; entry: ThrottledFunction; after: number }
  | { type: 'done'; tid: number };

interface RemoteThread {
  pid: number;
  tid: number;
  threadName: string;
  timeOrigin: number;
  buf: Float64Array;
  ctl: Float64Array;
  functions: FunctionInfo[];
  spanNames: string[];
  nodeEvents: NodeEvent[];
  droppedNodeEvents: number;
  throttled: ThrottledFunction[];
  throttleAfter: number;
  /** the worker wrote its own dump */
  done: boolean;
}

const MAX_DONE_KEPT = 8;

function openBus(): BroadcastChannel {
  const bc = new BroadcastChannel(BUS);
  // The channel must never keep a thread alive that would otherwise exit.
  (bc as unknown as { unref(): void }).unref();
  return bc;
}

/** In a worker: share the (shared-memory) recorder's ring and tables with the main thread. */
export function announceWorker(rec: Recorder): { done(): void } {
  const ring = rec.sharedRing;
  if (!ring) throw new Error('worker recorder must be created with shared: true');
  const bc = openBus();
  // A BroadcastChannel also receives what every other worker posts: read and drop it, or it would
  // pile up unread in this worker for as long as it lives.
  bc.onmessage = () => {};
  const tid = rec.tid;
  const post = (m: Msg) => bc.postMessage(m);
  post({ type: 'hello', pid: rec.pid, tid, threadName: rec.threadName, timeOrigin: performance.timeOrigin, buf: ring.buf, ctl: ring.ctl });
  if (rec.functions.length) post({ type: 'fns', tid, base: 0, fns: rec.functions.slice() });
  rec.spanNames.forEach((name, id) => post({ type: 'span', tid, id, name }));
  let pending: NodeEvent[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const events = pending;
    pending = [];
    post({ type: 'events', tid, events, dropped: rec.droppedNodeEvents });
  };
  rec.listener = {
    functionsAdded: (base, fns) => post({ type: 'fns', tid, base, fns }),
    spanAdded: (id, name) => post({ type: 'span', tid, id, name }),
    nodeEvent: (ev) => {
      if (!scheduled) {
        scheduled = true;
        queueMicrotask(flush);
      }
      if (ev) pending.push(ev);
    },
    throttled: (entry) => post({ type: 'throttled', tid, entry, after: rec.throttleLimit }),
    cleared: () => {
      pending = [];
      post({ type: 'clear', tid });
    },
  };
  return { done: () => post({ type: 'done', tid }) };
}

/** In the main thread: keeps track of the workers' shared rings. */
export class WorkerRegistry {
  private readonly bc = openBus();
  private readonly threads = new Map<number, RemoteThread>();
  /** tids of workers that dumped themselves, oldest first */
  private readonly doneOrder: number[] = [];

  constructor() {
    this.bc.onmessage = (ev: unknown) => this.handle((ev as { data: Msg }).data);
  }

  /** Every worker seen (rings stay readable after exit; the last MAX_DONE_KEPT that dumped themselves), after draining the channel. */
  snapshots(opts: { skipDone?: boolean } = {}): ThreadRecording[] {
    this.drain();
    const out: ThreadRecording[] = [];
    for (const t of this.threads.values()) {
      if (opts.skipDone && t.done) continue;
      // A worker that has not dumped itself may still be running: its ring is copied as a consistent snapshot.
      const { records, count, dropped } = t.done ? copyRing(t.buf, t.ctl[0]!) : copyLiveRing(t.buf, t.ctl);
      out.push({
        pid: t.pid,
        tid: t.tid,
        threadName: t.threadName,
        timeOrigin: t.timeOrigin,
        functions: t.functions.slice(),
        spanNames: t.spanNames.slice(),
        records,
        count,
        dropped,
        nodeEvents: t.nodeEvents.slice(),
        droppedNodeEvents: t.droppedNodeEvents,
        ...thinningOf(t.ctl),
        ...(t.throttled.length > 0 ? { throttled: t.throttled.slice(), throttleAfter: t.throttleAfter } : {}),
      });
    }
    return out;
  }

  private drain(): void {
    for (let m = receiveMessageOnPort(this.bc as never); m; m = receiveMessageOnPort(this.bc as never)) {
      this.handle((m as { message: Msg }).message);
    }
  }

  private handle(m: Msg): void {
    try {
      if (m.type === 'hello') {
        this.threads.set(m.tid, {
          pid: m.pid,
          tid: m.tid,
          threadName: m.threadName,
          timeOrigin: m.timeOrigin,
          buf: new Float64Array(m.buf),
          ctl: new Float64Array(m.ctl),
          functions: [],
          spanNames: [],
          nodeEvents: [],
          droppedNodeEvents: 0,
          throttled: [],
          throttleAfter: 0,
          done: false,
        });
        return;
      }
      const t = this.threads.get(m.tid);
      if (!t) return;
      if (m.type === 'fns')
        m.fns.forEach((f, i) => {
          t.functions[m.base + i] = f;
        });
      else if (m.type === 'span') t.spanNames[m.id] = m.name;
      else if (m.type === 'events') {
        // The worker's own cap already bounds what it adds between two clears.
        for (const ev of m.events) t.nodeEvents.push(ev);
        t.droppedNodeEvents = m.dropped;
      } else if (m.type === 'throttled') {
        // Timed again (untilUs): the same function's entry, updated.
        const k = t.throttled.findIndex((e) => e.id === m.entry.id);
        if (k >= 0) t.throttled[k] = m.entry;
        else t.throttled.push(m.entry);
        t.throttleAfter = m.after;
      } else if (m.type === 'clear') {
        t.throttled = [];
        t.nodeEvents = [];
        t.droppedNodeEvents = 0;
      } else if (m.type === 'done') {
        t.done = true;
        // A worker pool that recycles workers must not pin a ring (20 MB at the default capacity)
        // per worker ever started: a worker that dumped itself is kept only for saveTrace(), and
        // only the most recent few.
        this.doneOrder.push(m.tid);
        if (this.doneOrder.length > MAX_DONE_KEPT) this.threads.delete(this.doneOrder.shift()!);
      }
    } catch {
      /* a malformed message only costs that worker's trace */
    }
  }
}

const REGISTRY = Symbol.for('stackscope.workerRegistry');

/** The main thread's registry, created on first use; undefined in workers (they see only themselves). */
export function workerRegistry(create = false): WorkerRegistry | undefined {
  const g = globalThis as { [REGISTRY]?: WorkerRegistry };
  if (!g[REGISTRY] && create) g[REGISTRY] = new WorkerRegistry();
  return g[REGISTRY];
}
