/**
 * The agent's service, in its worker thread (loaded by worker.ts once the profiler runs): turns the
 * profiler's chunks into interned stacks, windows and a history under a byte budget, resolves
 * stalls, and serves it all over HTTP.
 */
import v8 from 'node:v8';
import { addCpuProfile, type CpuProfile } from '../formats/cpuprofile.js';
import { foldedKey, type FoldedStacks } from '../formats/folded.js';
import { modelFrameLabel, type Frame } from '../model/index.js';
import { chainSourceMaps, diskSourceMaps, sourceMapProfile } from '../sample/index.js';
import { MainThreadSourceMaps } from './source-maps.js';
import { NO_STACK, StackStore } from './store.js';
import { WindowHistory, type ClosedWindow } from './history.js';
import { BUCKET_MS, WindowRecorder, type Chunk } from './windows.js';
import { StallLog, monotonicUs } from './stalls.js';
import { MIN_FLUSH_MS, type ChunkSampler } from './sampler.js';
import { createAgentServer, type AgentState } from './server.js';
import { PROTOCOL_VERSION, type StacksResponse, type WireWindow } from './protocol.js';
import type { FromWorker, ToWorker, WorkerData } from './worker.js';

/** The most count entries one /stacks answer carries (a collector asks again for the rest). */
const MAX_COUNTS_PER_RESPONSE = 200_000;
/** Answers cached for repeated polls: at most 4 of at most this size (outside the data budget). */
const STACKS_CACHE_MAX_BODY = 2 << 20;
/** What the stall log keeps at least when memory is short: stalls are resolved within a second or two. */
const STALL_MIN_KEEP_US = 5e6;
/** How long a request waits for the chunk it asked for before it is answered with what is there. */
const FRESH_WAIT_MS = 1000;

export interface ServiceContext {
  cfg: WorkerData;
  sampler: ChunkSampler;
  send: (m: FromWorker) => void;
  /** called once the service has stopped (after a 'stop' message) */
  onStopped: () => void;
}

/** Starts the service; returns the handlers for the profiler's chunks and the main thread's messages. */
export function startService(ctx: ServiceContext): { onChunk: (p: CpuProfile) => void; onMessage: (m: ToWorker) => void } {
  const { cfg, sampler, send } = ctx;

  // Profile timestamps are monotonic µs (process.hrtime); this converts them to wall-clock ms.
  const epochOffsetMs = Date.now() - monotonicUs() / 1000;
  const epochOfUs = (us: number): number => epochOffsetMs + us / 1000;

  const diskMaps = diskSourceMaps();
  // Maps of scripts compiled in memory (tsx) exist only in the main thread: see source-maps.ts.
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

  /** A profile's samples as a chunk of interned stacks (idle samples kept as NO_STACK: windows count them). */
  function toChunk(profile: CpuProfile, store: StackStore): Chunk {
    const ts: number[] = [];
    const stacks: number[] = [];
    addCpuProfile(
      {
        frame: (f) => store.frame(f),
        stack: (parent, frame) => store.stack(parent, frame),
        sample: (stack, _weight, t = NaN) => {
          ts.push(t);
          stacks.push(stack);
        },
        idle: (t) => {
          ts.push(t);
          stacks.push(NO_STACK);
        },
      },
      profile,
    );
    return { store, startUs: profile.startTime, endUs: profile.endTime, ts: Float64Array.from(ts), stacks: Int32Array.from(stacks) };
  }

  /** Folded label of a stack (`name (file:line)` frames, root first). */
  function stackLabel(store: StackStore, stack: number, memo?: Map<number, string>): string {
    const frameLabel = (f: number): string => {
      let l = memo?.get(f);
      if (l === undefined) {
        l = modelFrameLabel(store.frames[f]!);
        memo?.set(f, l);
      }
      return l;
    };
    return foldedKey(store.framesOf(stack).map(frameLabel));
  }

  const startedMs = Date.now();
  const store = new StackStore();
  const history = new WindowHistory(cfg.identity.instance, cfg.historyWindows);
  const stalls = new StallLog(epochOfUs, (s, id) => stackLabel(s, id));
  let recorder: WindowRecorder | null = null;
  let droppedWindows = 0;
  let memoryUsed = 0;
  let migrations = 0;

  /**
   * Keeps the agent's data under its budget (see the README's memory bound): the tables move to a
   * new store when theirs passes a quarter of the budget (keeping their heaviest stacks in an
   * eighth, folding the rest); past the budget, the stall log keeps only its last seconds and then
   * the oldest windows leave the history (collectors see them as missed).
   */
  function enforceBudget(): void {
    const budget = cfg.maxMemoryBytes;
    const r = recorder!;
    if (r.store.bytes > budget / 4) {
      r.migrate(budget / 8);
      migrations++;
    }
    const used = (): number => {
      const stores = new Set([r.store, ...history.stores(), ...stalls.stores()]);
      let n = history.bytes + r.bytes + stalls.bytes;
      for (const s of stores) n += s.bytes;
      return n;
    };
    memoryUsed = used();
    if (memoryUsed > budget) {
      stalls.trim(STALL_MIN_KEEP_US);
      memoryUsed = used();
    }
    while (memoryUsed > budget && history.dropOldest()) {
      droppedWindows++;
      memoryUsed = used();
    }
  }

  function addProfile(profile: CpuProfile): void {
    if (!recorder) {
      recorder = new WindowRecorder(store, history, {
        windowMs: cfg.windowMs,
        intervalUs: cfg.intervalUs,
        maxStacks: cfg.maxStacks,
        epochOfUs,
        startMs: epochOfUs(profile.startTime),
      });
    }
    const chunk = toChunk(profile, recorder.store);
    recorder.addChunk(chunk);
    stalls.addChunk(chunk);
    enforceBudget();
  }

  // Chunks are processed in order, each after the maps it needs have arrived (usually at once).
  let chunkQueue: Promise<void> = Promise.resolve();
  let reportedChunkError = false;
  function onChunk(profile: CpuProfile): void {
    // Every step catches: one bad chunk must not stop the queue (and with it all later chunks).
    chunkQueue = chunkQueue.then(async () => {
      try {
        addProfile(await mapProfile(profile));
      } catch (err) {
        if (!reportedChunkError) send({ type: 'error', message: `could not process a profile chunk: ${(err as Error).message}` });
        reportedChunkError = true;
      }
    });
  }

  /** Flushes the profiler (at most every MIN_FLUSH_MS) and waits, boundedly, until the chunk is in. */
  async function fresh(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const waited = sampler.flush(MIN_FLUSH_MS).then(() => chunkQueue);
    await Promise.race([
      waited,
      new Promise((r) => {
        timer = setTimeout(r, FRESH_WAIT_MS);
      }),
    ]).catch(() => undefined);
    clearTimeout(timer);
  }

  function stacksResponse(since: string | undefined, limit: number): StacksResponse {
    const r = history.since(since, limit, MAX_COUNTS_PER_RESPONSE);
    const frames: Frame[] = [];
    const stacks: number[][] = [];
    const frameIdx = new Map<StackStore, Map<number, number>>();
    const stackIdx = new Map<StackStore, Map<number, number>>();
    const indexOf = (s: StackStore, stack: number): number => {
      let fm = frameIdx.get(s);
      let sm = stackIdx.get(s);
      if (!fm || !sm) {
        frameIdx.set(s, (fm = new Map()));
        stackIdx.set(s, (sm = new Map()));
      }
      let i = sm.get(stack);
      if (i === undefined) {
        const list = s.framesOf(stack).map((f) => {
          let fi = fm!.get(f);
          if (fi === undefined) {
            fi = frames.length;
            frames.push(s.frames[f]!);
            fm!.set(f, fi);
          }
          return fi;
        });
        i = stacks.length;
        stacks.push(list);
        sm.set(stack, i);
      }
      return i;
    };
    const windows = r.windows.map((w: ClosedWindow): WireWindow => {
      const counts: Array<[number, number, number]> = [];
      for (let k = 0; k < w.counts.length; k += 3) counts.push([w.counts[k]!, indexOf(w.store, w.counts[k + 1]!), w.counts[k + 2]!]);
      return {
        seq: w.seq,
        startMs: w.startMs,
        endMs: w.endMs,
        intervalUs: w.intervalUs,
        samples: w.samples,
        idleSamples: w.idleSamples,
        counts,
        foldedStacks: w.foldedStacks,
        ...(w.notes.length ? { notes: w.notes } : {}),
      };
    });
    return {
      protocol: PROTOCOL_VERSION,
      agent: cfg.identity,
      bucketMs: BUCKET_MS,
      cursor: r.cursor,
      lastCursor: history.cursorOf(history.lastSeq),
      restarted: r.restarted,
      missedWindows: r.missedWindows,
      frames,
      stacks,
      windows,
    };
  }

  function cumulativeFolded(): FoldedStacks {
    const out: FoldedStacks = new Map();
    if (!recorder) return out;
    const memo = new Map<number, string>();
    const table = recorder.cumulative;
    for (const [s, n] of table.counts) {
      const key = stackLabel(table.store, s, memo);
      out.set(key, (out.get(key) ?? 0) + n);
    }
    return out;
  }

  const stacksCache = new Map<string, Buffer>();
  const iso = (ms: number): string => new Date(ms).toISOString();

  const state: AgentState = {
    token: cfg.token,
    async folded(reset) {
      await fresh();
      const stacks = cumulativeFolded();
      const c = recorder?.cumulative;
      const headers = {
        'X-Stackscope-Pid': String(cfg.identity.pid),
        'X-Stackscope-Hostname': cfg.identity.hostname,
        'X-Stackscope-Service': cfg.identity.service,
        'X-Stackscope-Instance': cfg.identity.instance,
        'X-Stackscope-Interval-Us': String(cfg.intervalUs),
        'X-Stackscope-Samples': String(c?.samples ?? 0),
        'X-Stackscope-Window-Start': iso(recorder?.cumulativeStartMs ?? startedMs),
        'X-Stackscope-Window-End': iso(recorder?.cumulativeEndMs ?? startedMs),
        'X-Stackscope-Folded-Stacks': String(c?.foldedStacks ?? 0),
      };
      if (reset) recorder?.resetCumulative();
      return { stacks, headers };
    },
    meta: () => {
      const c = recorder?.cumulative;
      const heap = v8.getHeapStatistics();
      return {
        protocol: PROTOCOL_VERSION,
        ...cfg.identity,
        startedAt: iso(cfg.identity.startedMs),
        windowMs: cfg.windowMs,
        bucketMs: BUCKET_MS,
        samples: c?.samples ?? 0,
        windowStart: iso(recorder?.cumulativeStartMs ?? startedMs),
        windowEnd: iso(recorder?.cumulativeEndMs ?? startedMs),
        stacks: c?.counts.size ?? 0,
        maxStacks: cfg.maxStacks,
        foldedStacks: c?.foldedStacks ?? 0,
        foldedSamples: c?.foldedSamples ?? 0,
        idleSamples: recorder?.idleSamples ?? 0,
        totalSamples: history.totalSamples,
        windows: recorder?.windowsClosed ?? 0,
        historyWindows: history.size,
        windowsDroppedForMemory: droppedWindows,
        cursor: history.cursorOf(history.lastSeq),
        memory: {
          budgetBytes: cfg.maxMemoryBytes,
          usedBytes: memoryUsed,
          storeMigrations: migrations,
          workerHeapUsedBytes: heap.used_heap_size,
          workerHeapLimitBytes: heap.heap_size_limit,
        },
        stallThresholdMs: cfg.stallThresholdMs,
        stalls: stalls.stalls.length,
      };
    },
    stacks(since, limit) {
      // Collectors poll with the same cursor until a window closes: answer those from a small cache.
      const key = `${since}|${limit}|${history.lastSeq}|${history.size}|${history.dropped}`;
      let body = stacksCache.get(key);
      if (body === undefined) {
        body = Buffer.from(JSON.stringify(stacksResponse(since, limit)));
        if (body.length <= STACKS_CACHE_MAX_BODY) {
          if (stacksCache.size >= 4) stacksCache.delete(stacksCache.keys().next().value!);
          stacksCache.set(key, body);
        }
      }
      return body;
    },
    stalls: () => ({ thresholdMs: cfg.stallThresholdMs, stalls: stalls.stalls }),
    busyRecording: () => sampler.busyRecording,
    async record(seconds, intervalUs, signal) {
      const profile = await mapProfile(await sampler.record(seconds, intervalUs, signal));
      return { profile, startEpochMs: epochOfUs(profile.startTime) };
    },
  };

  let stopping = false;
  function onMessage(m: ToWorker): void {
    if (m.type === 'stall') {
      stalls.addStall(m.range);
      // Fetch the samples of the stall now, so /stalls lists it a moment after it ended.
      void sampler.flush(MIN_FLUSH_MS).then(
        () => {
          if (stalls.waiting) setTimeout(() => void sampler.flush(MIN_FLUSH_MS), MIN_FLUSH_MS).unref();
        },
        () => undefined,
      );
    } else if (m.type === 'sourceMaps') mainMaps.answer(m);
    else if (m.type === 'stop' && !stopping) {
      stopping = true;
      server.close();
      server.closeAllConnections();
      sampler
        .stop()
        .catch(() => undefined)
        .then(() => chunkQueue)
        .finally(() => {
          recorder?.closeNow(recorder.cumulativeEndMs);
          ctx.onStopped();
        });
    }
  }

  const server = createAgentServer(state, { maxBufferedBytes: Math.max(16 << 20, cfg.maxMemoryBytes / 2) });
  server.on('error', (err) => send({ type: 'error', message: `cannot listen on ${cfg.host}:${cfg.port}: ${err.message}` }));
  server.listen(cfg.port, cfg.host, () => {
    const addr = server.address();
    send({ type: 'ready', port: typeof addr === 'object' && addr ? addr.port : cfg.port, host: cfg.host });
  });
  return { onChunk, onMessage };
}
