/**
 * A protocol-v2 test agent: a real HTTP server in a child process (started with `fork`, tsx loaded)
 * that serves deterministic windows behind cursors exactly as the protocol says, so collector tests
 * can count what an agent produced and compare it with what a store holds.
 *
 * Windows are produced in real time, one every `periodMs`; each holds a deterministic draw (from
 * `seed` and the window's seq) of the stack pool. Controlled over IPC: `mode` (ok, hang: accept and
 * never answer, garbage: answer with broken JSON or a response that fails validation), `freeze`
 * (stop producing), `totals` (per-stack totals of every produced and every served window).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PROTOCOL_VERSION, type StacksResponse, type WireWindow } from '../../src/agent/protocol.js';
import type { Frame } from '../../src/model/index.js';
import { rng } from '../../src/util/random.js';

export interface FakeAgentConfig {
  port: number;
  instance: string;
  seed: number;
  service: string;
  labels: Record<string, string>;
  hostname: string;
  /** ms per window */
  periodMs: number;
  /** windows kept (older ones are dropped) */
  history: number;
  /** distinct stacks the agent draws from */
  pool: number;
  /** distinct stacks per window at most */
  perWindow: number;
  /** windows per response at most */
  maxWindows: number;
}

export type AgentMode = 'ok' | 'hang' | 'garbage';

export type ToAgent = { cmd: 'mode'; mode: AgentMode } | { cmd: 'freeze' } | { cmd: 'totals' };
export interface AgentTotals {
  /** stack (JSON of its frames, root first) -> samples, over every window produced */
  produced: Record<string, number>;
  /** the same over the windows served at least once */
  served: Record<string, number>;
  producedWindows: number;
  servedWindows: number;
  /** windows dropped from the history before any response carried them */
  droppedUnserved: number;
  requests: number;
}
export type FromAgent = { type: 'ready'; port: number } | ({ type: 'totals' } & AgentTotals);

/** The stack pool: frames (some with names a profiled program could send: ';', newlines, unicode). */
export function stackPool(seed: number, size: number): Frame[][] {
  const r = rng(seed);
  const frames: Frame[] = Array.from({ length: 40 }, (_, i) => ({
    name: i % 13 === 5 ? `weird;name\n${i} ✓` : i % 7 === 3 ? `Class${i}.method` : `fn${i}`,
    file: i % 11 === 0 ? '' : `/srv/app/src/mod${i % 9}.js`,
    line: i % 11 === 0 ? 0 : 10 + i,
    col: i % 11 === 0 ? 0 : 3,
  }));
  const pool: Frame[][] = [];
  const seen = new Set<string>();
  while (pool.length < size) {
    const depth = 2 + Math.floor(r() * 12);
    const stack = [frames[0]!, ...Array.from({ length: depth }, () => frames[1 + Math.floor(r() * 39)]!)];
    const key = JSON.stringify(stack);
    if (seen.has(key)) continue;
    seen.add(key);
    pool.push(stack);
  }
  return pool;
}

interface Produced {
  seq: number;
  startMs: number;
  endMs: number;
  counts: Array<[number, number, number]>;
  served: boolean;
}

function run(cfg: FakeAgentConfig): void {
  const pool = stackPool(cfg.seed, cfg.pool);
  const poolKeys = pool.map((s) => JSON.stringify(s));
  const startedMs = Date.now();
  const windows: Produced[] = [];
  let nextSeq = 1;
  let frozen = false;
  let mode: AgentMode = 'ok';
  let requests = 0;
  let garbageTurn = 0;
  const totals = {
    produced: {} as Record<string, number>,
    served: {} as Record<string, number>,
    producedWindows: 0,
    servedWindows: 0,
    droppedUnserved: 0,
  };

  const produce = () => {
    if (frozen) return;
    const seq = nextSeq++;
    const r = rng(cfg.seed * 1_000_003 + seq);
    const startMs = startedMs + (seq - 1) * cfg.periodMs;
    const n = 1 + Math.floor(r() * cfg.perWindow);
    const used = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const s = Math.floor(Math.pow(r(), 2) * pool.length); // skewed: some stacks hot, most rare
      used.set(s, (used.get(s) ?? 0) + 1 + Math.floor(r() * 20));
    }
    const bucket = Math.floor(startMs / 1000) * 1000;
    const counts: Array<[number, number, number]> = [...used].map(([s, c]) => [bucket, s, c]);
    windows.push({ seq, startMs, endMs: startMs + cfg.periodMs, counts, served: false });
    totals.producedWindows++;
    for (const [, s, c] of counts) totals.produced[poolKeys[s]!] = (totals.produced[poolKeys[s]!] ?? 0) + c;
    while (windows.length > cfg.history) {
      const w = windows.shift()!;
      if (!w.served) totals.droppedUnserved++;
    }
  };
  const timer = setInterval(produce, cfg.periodMs);

  const answer = (since: string | null, delivered = true): StacksResponse | { error: string } => {
    let after = 0;
    let restarted = false;
    const lastSeq = nextSeq - 1;
    if (since !== null) {
      const m = /^([A-Za-z0-9]{1,64})-(\d{1,15})$/.exec(since);
      if (!m) return { error: `bad cursor "${since}"` };
      if (m[1] === cfg.instance) {
        after = Number(m[2]);
        if (after > lastSeq) return { error: `cursor "${since}" is ahead of this agent` };
      } else {
        restarted = true;
      }
    }
    const oldest = windows[0]?.seq ?? nextSeq;
    // windows after the cursor that are no longer held (after a restart: all this instance dropped)
    const missedWindows = after > 0 || restarted ? Math.max(0, oldest - after - 1) : 0;
    const out = windows.filter((w) => w.seq > after).slice(0, cfg.maxWindows);
    // Tables per response, in an order of their own (a collector must map indexes, not assume them).
    const frames: Frame[] = [];
    const frameIdx = new Map<string, number>();
    const stacks: number[][] = [];
    const stackIdx = new Map<number, number>();
    const order = [...new Set(out.flatMap((w) => w.counts.map((c) => c[1])))].sort(
      (a, b) => ((a * 7919 + out.length) % 104729) - ((b * 7919 + out.length) % 104729),
    );
    for (const s of order) {
      stackIdx.set(s, stacks.length);
      stacks.push(
        pool[s]!.map((f) => {
          const k = JSON.stringify(f);
          let i = frameIdx.get(k);
          if (i === undefined) {
            i = frames.length;
            frames.push(f);
            frameIdx.set(k, i);
          }
          return i;
        }),
      );
    }
    const wire: WireWindow[] = out.map((w) => ({
      seq: w.seq,
      startMs: w.startMs,
      endMs: w.endMs,
      intervalUs: 10_000,
      samples: w.counts.reduce((a, c) => a + c[2], 0),
      idleSamples: 0,
      foldedStacks: 0,
      counts: w.counts.map(([b, s, c]) => [b, stackIdx.get(s)!, c]),
    }));
    for (const w of out) {
      if (w.served || !delivered) continue;
      w.served = true;
      totals.servedWindows++;
      for (const [, s, c] of w.counts) totals.served[poolKeys[s]!] = (totals.served[poolKeys[s]!] ?? 0) + c;
    }
    const cursorSeq = out.length ? out[out.length - 1]!.seq : after;
    return {
      protocol: PROTOCOL_VERSION,
      agent: {
        instance: cfg.instance,
        service: cfg.service,
        labels: cfg.labels,
        hostname: cfg.hostname,
        pid: process.pid,
        startedMs,
        intervalUs: 10_000,
        version: 'fake',
      },
      bucketMs: 1000,
      cursor: `${cfg.instance}-${cursorSeq}`,
      lastCursor: `${cfg.instance}-${lastSeq}`,
      restarted,
      missedWindows,
      frames,
      stacks,
      windows: wire,
    };
  };

  const server = http.createServer((req, res) => {
    requests++;
    const url = new URL(req.url ?? '/', 'http://x');
    if (mode === 'hang') return; // accepted, never answered
    if (url.pathname !== '/stacks') {
      res.writeHead(404).end('not found\n');
      return;
    }
    if (mode === 'garbage') {
      garbageTurn++;
      if (garbageTurn % 2) {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"protocol":2,"agent":');
      } else {
        // Valid JSON, but the counts do not add up: the parser must refuse it, not store it.
        const broken = JSON.parse(JSON.stringify(answer(url.searchParams.get('since'), false)));
        if (broken.windows?.[0]) broken.windows[0].samples += 1;
        else broken.protocol = 1;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(broken));
      }
      return;
    }
    const a = answer(url.searchParams.get('since'));
    if ('error' in a) {
      res.writeHead(400).end(a.error + '\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(a));
  });

  process.on('message', (m: ToAgent) => {
    if (m.cmd === 'mode') mode = m.mode;
    else if (m.cmd === 'freeze') {
      frozen = true;
      clearInterval(timer);
    } else if (m.cmd === 'totals') process.send!({ type: 'totals', ...totals, requests } satisfies FromAgent);
  });
  process.on('disconnect', () => process.exit(0));
  server.listen(cfg.port, '127.0.0.1', () => {
    process.send!({ type: 'ready', port: (server.address() as AddressInfo).port } satisfies FromAgent);
  });
}

if (process.send) run(JSON.parse(process.argv[2]!) as FakeAgentConfig);
