/**
 * The agent's HTTP endpoint. `GET /` is folded text and nothing else, so
 * `curl host:port | flamegraph.pl` works unmodified; everything else about the data travels in
 * headers or at /meta. Errors are one line of text with a 4xx status.
 *
 * The endpoint faces the network of a production process, so it is hardened against clients that
 * would take the agent (or its host) down: a cap on connections, short header and request
 * timeouts, sockets that do not read are dropped, a cap on response bytes waiting to be read, the
 * token checked before anything about the request is looked at, and no state changed by HEAD.
 */
import http from 'node:http';
import net from 'node:net';
import crypto from 'node:crypto';
import { formatFolded, type FoldedStacks } from '../formats/folded.js';
import type { CpuProfile } from '../formats/cpuprofile.js';
import { CONTENT_TYPE, renderProfile, parseFormat, parseInterval, parseSeconds, type ProfileFormat } from '../sample/index.js';
import type { Stall } from './stalls.js';

export interface AgentState {
  token?: string;
  meta(): Record<string, unknown>;
  /** folded stacks since start or the last reset, fresh (the chunk being recorded included) */
  folded(reset: boolean): Promise<{ stacks: FoldedStacks; headers: Record<string, string> }>;
  /** the protocol v2 answer (StacksResponse) as JSON bytes; throws an Error with a one-line message for a bad cursor */
  stacks(since: string | undefined, limit: number): Buffer;
  stalls(): { thresholdMs: number; stalls: Stall[] };
  busyRecording(): boolean;
  /** a fresh, source-mapped profile of `seconds` at `intervalUs`, ended early when `signal` aborts */
  record(seconds: number, intervalUs: number, signal: AbortSignal): Promise<{ profile: CpuProfile; startEpochMs: number }>;
}

export interface ServerLimits {
  /** response bytes written but not yet read by clients, over all connections */
  maxBufferedBytes: number;
}

/**
 * Open connections at most (they are file descriptors of the host process). At the cap a new
 * connection takes the place of the oldest one that is not being served (still sending its headers,
 * idle between requests) or whose client does not read its answer; if every one is being served,
 * the new one is closed.
 */
export const MAX_CONNECTIONS = 32;
/** Requests one connection may have waiting for their answers (HTTP pipelining); more close it. */
export const MAX_PIPELINED = 4;
/** A client must send its headers within this, and its whole request within REQUEST_TIMEOUT_MS. */
export const HEADERS_TIMEOUT_MS = 5000;
export const REQUEST_TIMEOUT_MS = 10_000;
/** A socket with nothing read or written for this long is closed (it also drops clients that do not read). */
export const SOCKET_IDLE_MS = 15_000;
const MAX_PROFILE_SECONDS = 300;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const READ_PATHS = ['/', '/meta', '/stacks', '/stalls'];
const PATHS = [...READ_PATHS, '/profile'];

function allowOnly(q: URLSearchParams, allowed: string[]): void {
  for (const k of q.keys()) {
    if (!allowed.includes(k))
      throw new HttpError(400, `unknown parameter "${k.slice(0, 60)}"${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''}`);
  }
}

function userValue<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new HttpError(400, (err as Error).message);
  }
}

function authorised(req: http.IncomingMessage, token: string | undefined): boolean {
  if (token === undefined) return true;
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return false;
  // Compare fixed-length digests: timingSafeEqual needs equal lengths, and checking the lengths
  // first would tell an attacker, by timing, how long the token is.
  const digest = (v: string) => crypto.createHash('sha256').update(v).digest();
  return crypto.timingSafeEqual(digest(m[1]!.trim()), digest(token));
}

/** The request target as a path and query: origin-form only (`/path?query`), anything else is a 400. */
function target(raw: string | undefined): { path: string; query: URLSearchParams } {
  const t = raw ?? '';
  if (!t.startsWith('/') || t.startsWith('//')) throw new HttpError(400, 'bad request target: use a path like /meta');
  const q = t.indexOf('?');
  const path = q < 0 ? t : t.slice(0, q);
  try {
    return { path: decodeURIComponent(path), query: new URLSearchParams(q < 0 ? '' : t.slice(q + 1)) };
  } catch {
    throw new HttpError(400, 'bad request target: malformed escape');
  }
}

const busy = (): HttpError =>
  new HttpError(503, 'too many responses waiting to be read by their clients: try again shortly', { 'Retry-After': '1' });

/** Bytes of responses written and not yet taken by their clients. */
class Buffered {
  bytes = 0;
  constructor(readonly max: number) {}

  /** Refuses (503) new work while clients leave more than the cap unread. */
  check(): void {
    if (this.bytes > this.max) throw busy();
  }

  /** Sends `body` unless clients already leave too much unread (then 503); the first always fits. */
  send(res: http.ServerResponse, status: number, headers: Record<string, string>, body: string | Buffer): void {
    const size = Buffer.byteLength(body);
    if (this.bytes > 0 && this.bytes + size > this.max) throw busy();
    this.bytes += size;
    let released = false;
    const release = (): void => {
      if (!released) {
        released = true;
        this.bytes -= size;
      }
    };
    res.once('finish', release);
    res.once('close', release);
    res.writeHead(status, { ...headers, 'Content-Length': String(size) });
    res.end(body);
  }
}

async function route(state: AgentState, out: Buffered, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  // The token comes first: without it a client learns nothing, not even which paths exist.
  if (!authorised(req, state.token)) {
    throw new HttpError(401, 'missing or wrong bearer token (send "Authorization: Bearer TOKEN")', {
      'WWW-Authenticate': 'Bearer realm="stackscope"',
    });
  }
  const { path, query: q } = target(req.url);
  if (!PATHS.includes(path)) throw new HttpError(404, `unknown path ${path.slice(0, 100)}: use ${PATHS.join(', ')}`);
  const allow = READ_PATHS.includes(path) ? 'GET, HEAD' : 'GET';
  if (req.method !== 'GET' && !(req.method === 'HEAD' && allow.includes('HEAD'))) {
    throw new HttpError(405, `method ${String(req.method).slice(0, 20)} not allowed: use ${allow}`, { Allow: allow });
  }
  const head = req.method === 'HEAD';
  if (path !== '/meta') out.check();
  const json = (body: unknown): void => out.send(res, 200, { 'Content-Type': 'application/json' }, JSON.stringify(body));

  switch (path) {
    case '/': {
      allowOnly(q, ['reset']);
      const reset = q.get('reset');
      if (reset !== null && reset !== 'true' && reset !== 'false')
        throw new HttpError(400, `bad reset "${reset.slice(0, 20)}": use reset=true`);
      // HEAD reads, never changes: a reset asked with HEAD is ignored.
      const { stacks, headers } = await state.folded(reset === 'true' && !head);
      return out.send(res, 200, { 'Content-Type': 'text/plain; charset=utf-8', ...headers }, formatFolded(stacks));
    }
    case '/meta':
      allowOnly(q, []);
      return json(state.meta());
    case '/stacks': {
      allowOnly(q, ['since', 'limit']);
      const limitText = q.get('limit');
      const limit = limitText === null ? Infinity : Number(limitText);
      if (!(limit >= 1) || !Number.isInteger(limit === Infinity ? 1 : limit))
        throw new HttpError(400, `bad limit "${String(limitText).slice(0, 20)}": give a positive integer`);
      const since = q.get('since') ?? undefined;
      return out.send(
        res,
        200,
        { 'Content-Type': 'application/json' },
        userValue(() => state.stacks(since, limit)),
      );
    }
    case '/stalls':
      allowOnly(q, []);
      return json(state.stalls());
    case '/profile': {
      allowOnly(q, ['seconds', 'format', 'interval']);
      const seconds = userValue(() => parseSeconds(q.get('seconds') ?? '10', 'seconds', MAX_PROFILE_SECONDS));
      const format: ProfileFormat = userValue(() => parseFormat(q.get('format') ?? 'folded'));
      const intervalUs = userValue(() => parseInterval(q.get('interval') ?? '1ms'));
      if (state.busyRecording()) throw new HttpError(409, 'a profile is already being recorded: try again when it ends');
      // A client that hangs up ends the recording: the profiler is free for the next one at once.
      const gone = new AbortController();
      const onClose = (): void => {
        if (!res.writableFinished) gone.abort();
      };
      res.once('close', onClose);
      // The recording is a long silence on the socket by design: the idle timeout waits until it ends.
      req.socket.setTimeout(0);
      const { profile, startEpochMs } = await state.record(seconds, intervalUs, gone.signal);
      if (gone.signal.aborted) return;
      req.socket.setTimeout(SOCKET_IDLE_MS);
      const pid = process.pid;
      const body = renderProfile(profile, format, { pid, intervalUs, startEpochMs });
      return out.send(
        res,
        200,
        { 'Content-Type': CONTENT_TYPE[format], 'X-Stackscope-Pid': String(pid), 'X-Stackscope-Interval-Us': String(intervalUs) },
        body,
      );
    }
  }
}

/** The agent's open connections, and which of them may make room for a new one. */
class Connections {
  private readonly open = new Map<net.Socket, { since: number; serving: number }>();

  constructor(readonly max: number) {}

  /** Admits a new socket, evicting one if at the cap; false when the socket was refused. */
  admit(socket: net.Socket): boolean {
    if (this.open.size >= this.max && !this.evict()) {
      socket.destroy();
      return false;
    }
    this.open.set(socket, { since: Date.now(), serving: 0 });
    socket.once('close', () => this.open.delete(socket));
    return true;
  }

  /**
   * Marks a request in progress on the socket until its response is flushed or the socket closes.
   * False (and the socket closed) when the client piles up requests without reading the answers.
   */
  serving(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const c = this.open.get(req.socket);
    if (!c) return true;
    if (c.serving >= MAX_PIPELINED) {
      req.socket.destroy();
      return false;
    }
    c.serving++;
    let done = false;
    const end = (): void => {
      if (!done) {
        done = true;
        c.serving--;
      }
    };
    res.once('finish', end);
    res.once('close', end);
    return true;
  }

  private evict(): boolean {
    let victim: net.Socket | null = null;
    let victimRank = Infinity;
    for (const [socket, c] of this.open) {
      // Not being served (slow headers, idle keep-alive) goes first, then answers nobody reads.
      const rank = c.serving === 0 ? c.since : socket.writableLength > 0 ? 1e15 + c.since : Infinity;
      if (rank < victimRank) {
        victim = socket;
        victimRank = rank;
      }
    }
    if (!victim) return false;
    this.open.delete(victim);
    victim.destroy();
    return true;
  }
}

export function createAgentServer(state: AgentState, limits: ServerLimits): http.Server {
  const out = new Buffered(limits.maxBufferedBytes);
  const conns = new Connections(MAX_CONNECTIONS);
  const server = http.createServer(
    {
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: 1000,
    },
    (req, res) => {
      if (!conns.serving(req, res)) return;
      route(state, out, req, res).catch((err: unknown) => {
        const status = err instanceof HttpError ? err.status : 500;
        const msg = (err instanceof Error ? err.message : String(err)).split('\n')[0];
        if (res.headersSent || res.destroyed) {
          res.destroy();
          return;
        }
        const headers = { 'Content-Type': 'text/plain; charset=utf-8', ...(err instanceof HttpError ? err.headers : {}) };
        // Error bodies are one short line: they bypass the buffer cap rather than fail on it.
        res.writeHead(status, headers);
        res.end(`${msg}\n`);
      });
    },
  );
  server.on('connection', (socket: net.Socket) => {
    conns.admit(socket);
  });
  server.keepAliveTimeout = 5000;
  server.maxHeadersCount = 50;
  // Idle sockets, including those whose client stopped reading (writes make no progress), are closed.
  server.setTimeout(SOCKET_IDLE_MS, (socket) => socket.destroy());
  return server;
}
