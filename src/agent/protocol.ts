/**
 * The agent's wire protocol for collectors: `GET /stacks?since=CURSOR` (JSON). Typed and versioned
 * here, in one module the agent serves from and a collector imports, with the one parser both sides
 * trust (a collector must tell a garbage answer from data).
 *
 * - Lossless and re-askable: windows after the cursor; asking again with the same cursor returns the
 *   same windows, so a lost response loses nothing. `cursor` in the answer is the next one to ask with.
 * - Compact: a response carries one frame table and one stack table (each stack a list of frame
 *   indexes, root first) that its windows' counts refer to. Tables are per response, so every
 *   response stands alone.
 * - Placed in time: each window's counts are split into buckets of `bucketMs` (1 s): finer than a
 *   window, so a collector stores real timestamps and a page can select any second, and coarse
 *   enough that a busy process sends one row per stack per second, not one per sample.
 * - Identity: `agent` says which process answered (service, labels, host, pid, start time) and its
 *   `instance` id, which changes on restart: a cursor from another instance means the agent restarted.
 */
import { ProfileBuilder, type Frame, type Profile } from '../model/index.js';

export const PROTOCOL_VERSION = 2;

/** Who answered. `instance` is random per process start. */
export interface AgentIdentity {
  instance: string;
  service: string;
  labels: Record<string, string>;
  hostname: string;
  pid: number;
  /** ms since the epoch */
  startedMs: number;
  /** sampling interval, µs */
  intervalUs: number;
  /** stackscope's version */
  version: string;
}

/** One sampled window: [startMs, endMs), with its counts per (bucket, stack). */
export interface WireWindow {
  seq: number;
  startMs: number;
  endMs: number;
  intervalUs: number;
  /** every non-idle sample of the window, folded-away ones included (= sum of `counts`) */
  samples: number;
  /** idle samples (the thread was waiting): not CPU, not in counts */
  idleSamples: number;
  /**
   * [bucket start ms, stack index into the response's `stacks`, count]: samples of that stack in
   * [bucket start, bucket start + bucketMs)
   */
  counts: Array<[number, number, number]>;
  /** distinct stacks the agent folded into its "rare stacks" stack because of its memory bound */
  foldedStacks: number;
  /** what this window is missing or only estimates (e.g. "the profiler could not sample"), if anything */
  notes?: string[];
}

export interface StacksResponse {
  protocol: typeof PROTOCOL_VERSION;
  agent: AgentIdentity;
  bucketMs: number;
  /** the cursor to ask with next (echoes the request's cursor when no window is new) */
  cursor: string;
  /** the cursor of the newest window the agent holds */
  lastCursor: string;
  /** the request's cursor was from another instance: windows start from the oldest kept */
  restarted: boolean;
  /**
   * windows after the cursor that the agent no longer holds (its history is bounded); after a restart
   * (`restarted`), the windows of this instance dropped before the first kept one
   */
  missedWindows: number;
  frames: Frame[];
  /** each a list of indexes into `frames`, root first */
  stacks: number[][];
  windows: WireWindow[];
}

/** Thrown by parseStacksResponse: the answer is not a valid protocol response (one line). */
export class ProtocolError extends Error {}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;

function fail(what: string): never {
  throw new ProtocolError(`not a stackscope /stacks answer: ${what}`);
}

/**
 * Validates a parsed `/stacks` JSON body. Checks everything a collector relies on (versions, types,
 * indexes in range, counts adding up) so nothing malformed reaches a store.
 */
export function parseStacksResponse(body: unknown): StacksResponse {
  if (!isObj(body)) fail('not a JSON object');
  if (body.protocol !== PROTOCOL_VERSION) fail(`protocol ${JSON.stringify(body.protocol)}, expected ${PROTOCOL_VERSION}`);
  const a = body.agent;
  if (
    !isObj(a) ||
    typeof a.instance !== 'string' ||
    !a.instance ||
    typeof a.service !== 'string' ||
    typeof a.hostname !== 'string' ||
    !isInt(a.pid) ||
    !isNum(a.startedMs) ||
    !isNum(a.intervalUs) ||
    !isObj(a.labels)
  ) {
    fail('bad "agent"');
  }
  for (const v of Object.values(a.labels as Record<string, unknown>)) if (typeof v !== 'string') fail('bad label value');
  if (!isInt(body.bucketMs) || body.bucketMs === 0) fail('bad "bucketMs"');
  if (typeof body.cursor !== 'string' || typeof body.lastCursor !== 'string') fail('bad cursor');
  if (typeof body.restarted !== 'boolean' || !isInt(body.missedWindows)) fail('bad "restarted" or "missedWindows"');
  const frames = body.frames;
  if (!Array.isArray(frames)) fail('no "frames"');
  for (const f of frames) {
    if (!isObj(f) || typeof f.name !== 'string' || typeof f.file !== 'string' || !isInt(f.line) || !isInt(f.col)) fail('bad frame');
  }
  const stacks = body.stacks;
  if (!Array.isArray(stacks)) fail('no "stacks"');
  for (const s of stacks) {
    if (!Array.isArray(s) || s.length === 0 || !s.every((i) => isInt(i) && i < frames.length)) fail('bad stack');
  }
  if (!Array.isArray(body.windows)) fail('no "windows"');
  let prevSeq = -Infinity;
  for (const w of body.windows as unknown[]) {
    if (
      !isObj(w) ||
      !isInt(w.seq) ||
      !isNum(w.startMs) ||
      !isNum(w.endMs) ||
      w.endMs < w.startMs ||
      !isNum(w.intervalUs) ||
      !isInt(w.samples) ||
      !isInt(w.idleSamples) ||
      !isInt(w.foldedStacks) ||
      !Array.isArray(w.counts)
    ) {
      fail('bad window');
    }
    if (w.seq <= prevSeq) fail('windows out of order');
    prevSeq = w.seq;
    let sum = 0;
    for (const c of w.counts as unknown[]) {
      if (!Array.isArray(c) || c.length !== 3 || !isNum(c[0]) || !isInt(c[1]) || c[1] >= stacks.length || !isInt(c[2])) fail('bad count');
      sum += c[2] as number;
    }
    if (sum !== w.samples) fail(`window ${w.seq}: counts add up to ${sum}, not ${w.samples}`);
    if (w.notes !== undefined && !(Array.isArray(w.notes) && w.notes.every((n) => typeof n === 'string'))) fail('bad notes');
  }
  return body as unknown as StacksResponse;
}

/**
 * The windows of a response as one profile in the model: one sample per (bucket, stack), weighted
 * by its count, at the bucket's start (µs since the epoch).
 */
export function responseToProfile(r: StacksResponse): Profile {
  const b = new ProfileBuilder('samples');
  const frameIds = r.frames.map((f) => b.frame(f));
  const stackIds = r.stacks.map((s) => b.stackOf(s.map((i) => frameIds[i]!)));
  let start = Infinity;
  let end = -Infinity;
  const notes = new Set<string>();
  for (const w of r.windows) {
    for (const [bucket, stack, count] of w.counts) b.sample(stackIds[stack]!, count, bucket * 1000);
    start = Math.min(start, w.startMs);
    end = Math.max(end, w.endMs);
    for (const n of w.notes ?? []) notes.add(n);
    if (w.foldedStacks) notes.add("rare stacks were folded into one by the agent's memory bound");
  }
  b.meta = {
    name: `${r.agent.service} on ${r.agent.hostname} (pid ${r.agent.pid})`,
    intervalUs: r.agent.intervalUs,
    clock: 'epoch',
    ...(start !== Infinity ? { startUs: start * 1000, endUs: end * 1000 } : {}),
    ...(notes.size ? { notes: [...notes] } : {}),
  };
  return b.build();
}
