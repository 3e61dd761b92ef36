/**
 * Node's own events (diagnostics channels, GC) on tracks of their own, one per category (the
 * recorder already separates the two sides of HTTP: 'http.server', 'http.client'), so they never
 * cross the JS call slices; concurrent ones (overlapping requests) get extra lanes.
 */
import { completeEventJson, instantEventJson, round3 } from '../formats/trace-event.js';
import { REQUESTS_TRACK } from '../formats/trace-read.js';
import type { NodeEvent, ThreadRecording } from '../recorder/protocol.js';
import type { BuildContext } from './build.js';
import { LanePacker, engineDur } from './lanes.js';
import { writeFlow, type RequestSlice, type RequestWork } from './causality.js';

const TITLES: Record<string, string> = {
  'http.server': REQUESTS_TRACK,
  'http.client': 'HTTP client',
  fetch: 'fetch',
  net: 'net',
  gc: 'GC',
  child_process: 'child process',
  worker: 'worker threads',
  span: 'spans',
};

/** Track title of a node event category. */
export function nodeTrackTitle(cat: string): string {
  return TITLES[cat] ?? cat;
}

/**
 * The requests a server answered are the request lane: written without a cat, so that flows can
 * bind them to the JS slices that did their work (causality.ts), and before the thread's own
 * track, since the panel draws an arrow from the flow's slice that comes first in the file.
 */
const REQUESTS_CAT = 'http.server';
const REQUEST_FLOW = JSON.stringify('request');

/**
 * Writes the thread's Node-event tracks: the request lane alone (`requests`: call it before the
 * thread's own track; returns where each request's slice is, by request id), or all the others.
 */
export function writeNodeTracks(
  ctx: BuildContext,
  th: ThreadRecording,
  base: number,
  pid: number,
  prefix: string,
  which: 'requests' | 'others',
): Map<number, RequestSlice> {
  const requestAt = new Map<number, RequestSlice>();
  if (th.nodeEvents.length === 0) return requestAt;
  const byCat = new Map<string, NodeEvent[]>();
  for (const ev of th.nodeEvents) {
    if (!Number.isFinite(ev.ts) || (ev.cat === REQUESTS_CAT) !== (which === 'requests')) continue;
    let list = byCat.get(ev.cat);
    if (!list) byCat.set(ev.cat, (list = []));
    list.push(ev);
  }
  for (const [cat, list] of byCat) {
    // DevTools order: by start, longer first.
    list.sort((a, b) => a.ts - b.ts || (b.dur ?? 0) - (a.dur ?? 0));
    const title = prefix + nodeTrackTitle(cat);
    const isRequests = cat === REQUESTS_CAT;
    const catJson = isRequests ? undefined : JSON.stringify(cat);
    const packer = new LanePacker();
    const laneTids: number[] = [];
    for (const ev of list) {
      const ts = round3(base + ev.ts);
      const dur = ev.ph === 'X' ? engineDur(ts, base + ev.ts + Math.max(0, ev.dur ?? 0)) : 0;
      // An instant always fits lane 0: nothing can end inside a zero-length event.
      const lane = packer.place(ts, ts + dur, 0);
      while (laneTids.length <= lane) laneTids.push(ctx.newTrack(laneTids.length === 0 ? title : `${title} ${laneTids.length + 1}`));
      const tid = laneTids[lane]!;
      const argsJson = ev.args && Object.keys(ev.args).length > 0 ? safeJson(ev.args) : undefined;
      const nameJson = JSON.stringify(ev.name || cat);
      if (ev.ph === 'X') ctx.slice(completeEventJson(nameJson, ts, dur, pid, tid, argsJson, catJson));
      else ctx.writer.writeRaw(instantEventJson(nameJson, ts, pid, tid, argsJson, catJson));
      const id = Number(ev.args?.request);
      if (isRequests && ev.ph === 'X' && id > 0) requestAt.set(id, { ts, tid, end: ev.ts + Math.max(0, ev.dur ?? 0) });
    }
  }
  return requestAt;
}

/** Arrows from each request's slice to the first and the last slice of its work. */
export function writeRequestFlows(
  ctx: BuildContext,
  pid: number,
  requestAt: Map<number, RequestSlice>,
  work: Map<number, RequestWork>,
): void {
  for (const [id, w] of work) {
    const from = requestAt.get(id);
    if (!from) continue;
    writeFlow(ctx, REQUEST_FLOW, pid, from, w.first);
    if (w.last.ts !== w.first.ts || w.last.tid !== w.first.tid) writeFlow(ctx, REQUEST_FLOW, pid, from, w.last);
  }
}

/** Node events' args come from user-visible objects; never let one break the whole file. */
function safeJson(v: unknown): string | undefined {
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
  } catch {
    return undefined;
  }
}
