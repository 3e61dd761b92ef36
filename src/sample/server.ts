/**
 * The agent's HTTP endpoint. `GET /` is folded text and nothing else, so
 * `curl host:port | flamegraph.pl` works unmodified; everything else about the data travels in
 * headers or at /meta. Errors are one line of text with a 4xx status.
 */
import http from 'node:http';
import crypto from 'node:crypto';
import { formatFolded } from '../formats/folded.js';
import type { CpuProfile } from '../formats/cpuprofile.js';
import { CONTENT_TYPE, renderProfile } from './output.js';
import { parseFormat, parseInterval, parseSeconds, type ProfileFormat } from './options.js';
import type { StackTable } from './stack-table.js';
import type { WindowHistory } from './history.js';
import type { Stall } from './stalls.js';

export interface AgentState {
  token?: string;
  meta(): Record<string, unknown>;
  /** stacks since start or the last reset, with the time they cover */
  cumulative: StackTable;
  cumulativeStartMs: number;
  cumulativeEndMs: number;
  reset(): void;
  history: WindowHistory;
  stalls(): { thresholdMs: number; stalls: Stall[] };
  busyRecording(): boolean;
  /** a fresh, source-mapped profile of `seconds` at `intervalUs`, with its wall-clock start */
  record(seconds: number, intervalUs: number): Promise<{ profile: CpuProfile; startEpochMs: number }>;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

const PATHS = ['/', '/meta', '/stacks', '/profile', '/stalls'];
const MAX_PROFILE_SECONDS = 300;

function allowOnly(q: URLSearchParams, allowed: string[]): void {
  for (const k of q.keys()) {
    if (!allowed.includes(k)) throw new HttpError(400, `unknown parameter "${k}"${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''}`);
  }
}

function userValue<T>(fn: () => T): T {
  try { return fn(); } catch (err) { throw new HttpError(400, (err as Error).message); }
}

function authorised(req: http.IncomingMessage, token: string | undefined): boolean {
  if (!token) return true;
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return false;
  // Compare fixed-length digests: timingSafeEqual needs equal lengths, and checking the lengths
  // first would tell an attacker, by timing, how long the token is.
  const digest = (v: string) => crypto.createHash('sha256').update(v).digest();
  return crypto.timingSafeEqual(digest(m[1]!.trim()), digest(token));
}

function metaHeaders(state: AgentState): Record<string, string> {
  const m = state.meta();
  return {
    'X-Stackscope-Pid': String(m.pid),
    'X-Stackscope-Hostname': String(m.hostname),
    'X-Stackscope-Interval-Us': String(m.intervalUs),
    'X-Stackscope-Samples': String(state.cumulative.samples),
    'X-Stackscope-Window-Start': new Date(state.cumulativeStartMs).toISOString(),
    'X-Stackscope-Window-End': new Date(state.cumulativeEndMs).toISOString(),
    'X-Stackscope-Folded-Stacks': String(state.cumulative.foldedStacks),
  };
}

function json(res: http.ServerResponse, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(200, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

async function route(state: AgentState, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://agent');
  const q = url.searchParams;
  // The token comes first: without it a client learns nothing, not even which paths exist.
  if (!authorised(req, state.token)) throw new HttpError(401, 'missing or wrong bearer token (send "Authorization: Bearer TOKEN")');
  if (!PATHS.includes(url.pathname)) throw new HttpError(404, `unknown path ${url.pathname.slice(0, 100)}: use ${PATHS.join(', ')}`);
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `method ${req.method} not allowed: use GET`);

  switch (url.pathname) {
    case '/': {
      allowOnly(q, ['reset']);
      const reset = q.get('reset');
      if (reset !== null && reset !== 'true' && reset !== 'false') throw new HttpError(400, `bad reset "${reset}": use reset=true`);
      const body = formatFolded(state.cumulative.stacks);
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', ...metaHeaders(state) });
      res.end(body);
      if (reset === 'true') state.reset();
      return;
    }
    case '/meta':
      allowOnly(q, []);
      return json(res, state.meta());
    case '/stacks': {
      allowOnly(q, ['since', 'limit']);
      const limitText = q.get('limit');
      const limit = limitText === null ? Infinity : Number(limitText);
      if (!(limit >= 1) || !Number.isInteger(limit === Infinity ? 1 : limit)) throw new HttpError(400, `bad limit "${limitText}": give a positive integer`);
      const since = q.get('since') ?? undefined;
      const r = userValue(() => state.history.since(since, limit));
      return json(res, {
        cursor: r.cursor,
        missedWindows: r.missedWindows,
        restarted: r.restarted,
        totalSamples: state.history.totalSamples,
        lastCursor: state.history.cursorOf(state.history.lastSeq),
        windows: r.windows.map((w) => ({
          seq: w.seq, start: new Date(w.startMs).toISOString(), end: new Date(w.endMs).toISOString(),
          startMs: w.startMs, endMs: w.endMs, intervalUs: w.intervalUs, samples: w.samples,
          foldedStacks: w.foldedStacks, stacks: Object.fromEntries(w.stacks),
        })),
      });
    }
    case '/stalls':
      allowOnly(q, []);
      return json(res, state.stalls());
    case '/profile': {
      allowOnly(q, ['seconds', 'format', 'interval']);
      const seconds = userValue(() => parseSeconds(q.get('seconds') ?? '10', 'seconds', MAX_PROFILE_SECONDS));
      const format: ProfileFormat = userValue(() => parseFormat(q.get('format') ?? 'folded'));
      const intervalUs = userValue(() => parseInterval(q.get('interval') ?? '1ms'));
      if (state.busyRecording()) throw new HttpError(409, 'a profile is already being recorded: try again when it ends');
      const { profile, startEpochMs } = await state.record(seconds, intervalUs);
      const m = state.meta();
      const body = renderProfile(profile, format, { pid: Number(m.pid), intervalUs, startEpochMs });
      res.writeHead(200, { 'Content-Type': CONTENT_TYPE[format], 'X-Stackscope-Pid': String(m.pid), 'X-Stackscope-Interval-Us': String(intervalUs) });
      res.end(body);
      return;
    }
  }
}

export function createAgentServer(state: AgentState): http.Server {
  return http.createServer((req, res) => {
    route(state, req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      const msg = (err instanceof Error ? err.message : String(err)).split('\n')[0];
      if (res.headersSent) { res.destroy(); return; }
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`${msg}\n`);
    });
  });
}
