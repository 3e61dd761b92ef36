/**
 * The page's HTTP server: static assets (the page and uPlot, all from the package, nothing from a
 * CDN), a JSON API over a ProfileSource, uploads of dropped files, exports, and a WebSocket that
 * pushes new timeline windows in live mode. Binds 127.0.0.1 unless told otherwise; a token (bearer,
 * or a cookie set by opening `/?token=…`) guards every request when given.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Profile } from '../model/index.js';
import { parsePid, parseTime } from '../store/index.js';
import { oneLine, UserError } from '../util/errors.js';
import { BadFilterError, FileSource, StoreSource, type Filters, type ProfileSource, type Range } from './source.js';
import {
  changeTable,
  diffTree,
  EXPORT_FORMATS,
  exportProfile,
  flameTree,
  functionTable,
  MAX_NODES,
  sandwich,
  searchShare,
  type ExportFormat,
} from './views.js';

export interface UiOptions {
  /** the collector's store, when there is one */
  store?: ProfileSource;
  /** local files (given, and dropped on the page): shown when a request names one with file= */
  files?: FileSource;
  host?: string;
  /** 0: any free port */
  port?: number;
  token?: string;
  /** files are shown relative to this folder */
  cwd?: string;
  /** dropped files larger than this are refused (bytes) */
  maxUploadBytes?: number;
  /** live mode: how often the store is read for new windows */
  liveEveryMs?: number;
  maxNodes?: number;
}

export interface UiServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export const DEFAULT_MAX_UPLOAD = 64 * 1024 * 1024;
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** A request the API refuses: status and one line. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

// ---- static assets -------------------------------------------------------------------------

const here = path.dirname(new URL(import.meta.url).pathname);
/** The page's folder: beside this module when run from src, src/ui/page from dist. */
function pageDir(): string {
  const beside = path.join(here, 'page');
  if (fs.existsSync(path.join(beside, 'index.html'))) return beside;
  return path.resolve(here, '../../src/ui/page');
}

const require = createRequire(import.meta.url);
const uplotDir = () => path.dirname(require.resolve('uplot/package.json'));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

function staticFile(urlPath: string): string | null {
  if (urlPath === '/' || urlPath === '/index.html') return path.join(pageDir(), 'index.html');
  if (urlPath === '/vendor/uplot.js') return path.join(uplotDir(), 'dist/uPlot.iife.min.js');
  if (urlPath === '/vendor/uplot.css') return path.join(uplotDir(), 'dist/uPlot.min.css');
  const m = /^\/page\/([a-z0-9-]+\.(?:js|css))$/.exec(urlPath);
  return m ? path.join(pageDir(), m[1]!) : null;
}

// Names from profiled programs end up in the page: no inline script, no other origin, ever.
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// ---- parameters ------------------------------------------------------------------------------

const API_PARAMS: Record<string, readonly string[]> = {
  info: [],
  timeline: ['from', 'until', 'service', 'host', 'pid', 'label', 'file', 'split'],
  flame: ['from', 'until', 'service', 'host', 'pid', 'label', 'file', 'cfrom', 'cuntil', 'cfile', 'max'],
  functions: ['from', 'until', 'service', 'host', 'pid', 'label', 'file', 'cfrom', 'cuntil', 'cfile'],
  sandwich: ['from', 'until', 'service', 'host', 'pid', 'label', 'file', 'fn'],
  search: ['from', 'until', 'service', 'host', 'pid', 'label', 'file', 'q'],
  export: ['from', 'until', 'service', 'host', 'pid', 'label', 'file', 'format'],
};

function checkParams(q: URLSearchParams, allowed: readonly string[]): void {
  for (const k of new Set(q.keys())) {
    if (k === 'token') continue;
    if (!allowed.includes(k)) throw new HttpError(400, `unknown parameter "${k}" (this endpoint takes: ${allowed.join(', ') || 'none'})`);
    if (k !== 'label' && q.getAll(k).length > 1) throw new HttpError(400, `parameter "${k}" given more than once`);
  }
}

function filtersOf(q: URLSearchParams): Filters {
  const labels: Record<string, string> = {};
  for (const l of q.getAll('label')) {
    const eq = l.indexOf('=');
    if (eq <= 0) throw new HttpError(400, `bad label "${l.slice(0, 100)}": give key=value`);
    labels[l.slice(0, eq)] = l.slice(eq + 1);
  }
  const text = (k: string) => {
    const v = q.get(k);
    if (v === null) return undefined;
    if (v === '') throw new HttpError(400, `parameter "${k}" is empty`);
    return v;
  };
  const service = text('service');
  const host = text('host');
  const pid = text('pid');
  const file = text('file');
  return {
    labels,
    ...(service !== undefined ? { service } : {}),
    ...(host !== undefined ? { host } : {}),
    ...(pid !== undefined ? { pid: parsePid(pid, 'pid') } : {}),
    ...(file !== undefined ? { file } : {}),
  };
}

/** A range from two parameters: the store takes times (`-15m`, ISO, epoch seconds), files ms. */
function rangeOf(q: URLSearchParams, source: ProfileSource, fromKey: string, untilKey: string): Range | null {
  const from = q.get(fromKey);
  const until = q.get(untilKey);
  if (from === null && until === null) return null;
  if (from === null || until === null) throw new HttpError(400, `give both ${fromKey} and ${untilKey}`);
  let r: Range;
  if (source.kind === 'store') {
    try {
      // "now" to the second: the views a page asks for at once read one profile (and one cache entry)
      const now = Math.floor(Date.now() / 1000) * 1000;
      r = { fromMs: parseTime(from, fromKey, now), untilMs: parseTime(until, untilKey, now) };
    } catch (err) {
      throw new HttpError(400, oneLine(err));
    }
  } else {
    const num = (v: string, k: string) => {
      if (!/^-?\d+(\.\d+)?$/.test(v)) throw new HttpError(400, `bad ${k} "${v.slice(0, 40)}": a file's range is in ms on its own clock`);
      return Number(v);
    };
    r = { fromMs: num(from, fromKey), untilMs: num(until, untilKey) };
  }
  if (!(r.fromMs < r.untilMs)) throw new HttpError(400, `bad range: ${fromKey} is not before ${untilKey}`);
  return r;
}

// ---- the server --------------------------------------------------------------------------------

export async function startUi(opts: UiOptions): Promise<UiServer> {
  const host = opts.host ?? '127.0.0.1';
  if (!LOOPBACK.has(host) && !opts.token) {
    throw new UserError(
      `refusing to listen on ${host} without --token: the page shows what your programs run (give --token, or keep 127.0.0.1)`,
    );
  }
  const files = opts.files ?? new FileSource();
  const store = opts.store;
  /** The source a request reads: a file when it names one (or when there is no store). */
  const sourceOf = (f: Filters): ProfileSource => (f.file !== undefined || !store ? files : store);
  const cwd = opts.cwd ?? process.cwd();
  const maxUpload = opts.maxUploadBytes ?? DEFAULT_MAX_UPLOAD;
  const maxNodes = opts.maxNodes ?? MAX_NODES;
  const token = opts.token ? Buffer.from(opts.token) : null;

  const authorized = (req: http.IncomingMessage, q: URLSearchParams): boolean => {
    if (!token) return true;
    const given = [
      /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1],
      /(?:^|;\s*)stackscope_token=([^;]+)/.exec(req.headers.cookie ?? '')?.[1],
      q.get('token') ?? undefined,
    ];
    return given.some((g) => {
      if (g === undefined) return false;
      const b = Buffer.from(decodeURIComponent(g));
      return b.length === token.length && timingSafeEqual(b, token);
    });
  };

  // The same range and filters are asked for by several views at once: keep the last few profiles.
  const cache = new Map<string, { at: number; value: Promise<{ profile: Profile; notes: string[] }> }>();
  const profileOf = (source: ProfileSource, asked: Range | null, f: Filters) => {
    // No range: the source's default, which for a store ends "now": resolved before keying, so an
    // early answer (an empty store) is never served again once data has come.
    const range = asked ?? source.defaultRange();
    const key = JSON.stringify([range, f]);
    const hit = cache.get(key);
    if (hit && Date.now() - hit.at < 30_000) return hit.value;
    const value = source.profile(range, f);
    value.catch(() => cache.delete(key));
    cache.set(key, { at: Date.now(), value });
    while (cache.size > 8) cache.delete(cache.keys().next().value!);
    return value;
  };

  /** the sandwich's two graphs are smaller */
  const n5k = () => Math.min(maxNodes, 5000);

  const api = async (
    name: string,
    q: URLSearchParams,
    req: http.IncomingMessage,
  ): Promise<{ json?: unknown; raw?: { bytes: Buffer; type: string; headers: Record<string, string> } }> => {
    if (name === 'upload') {
      if (req.method !== 'POST') throw new HttpError(405, 'upload with POST');
      checkParams(q, ['name']);
      const fileName = (q.get('name') ?? 'dropped file').slice(0, 200);
      const bytes = await readBody(req, maxUpload);
      return { json: { id: await files.add(bytes, fileName) } };
    }
    const allowed = API_PARAMS[name];
    if (!allowed) throw new HttpError(404, `no API endpoint /api/${name.slice(0, 40)}`);
    if (req.method !== 'GET') throw new HttpError(405, `/api/${name} answers GET`);
    checkParams(q, allowed);
    if (name === 'info') {
      const fileInfo = await files.info();
      return { json: store ? { ...(await store.info()), files: fileInfo.files } : fileInfo };
    }
    const f = filtersOf(q);
    const source = sourceOf(f);
    const range = rangeOf(q, source, 'from', 'until');
    if (name === 'timeline') {
      const split = q.get('split');
      if (split === null) return { json: await source.timeline(range, f) };
      if (split !== 'service') throw new HttpError(400, 'bad split: only split=service');
      if (!(source instanceof StoreSource)) throw new HttpError(400, "split=service is for a collector's store");
      return { json: await source.timelineByService(range, f) };
    }
    // Compared with: another range of the same targets or file, or another file (whole, or a range of it).
    const cfile = q.get('cfile');
    const compareFilters: Filters | null = cfile !== null ? { labels: {}, file: cfile } : null;
    const compareSource = compareFilters ? files : source;
    const compareRange = allowed.includes('cfrom') ? rangeOf(q, compareSource, 'cfrom', 'cuntil') : null;
    const compared = compareFilters || compareRange ? () => profileOf(compareSource, compareRange, compareFilters ?? f) : null;
    const a = await profileOf(source, range, f);
    switch (name) {
      case 'flame': {
        const max = q.get('max');
        const n = max === null ? maxNodes : Number(max);
        if (!Number.isInteger(n) || n < 1 || n > 200_000) throw new HttpError(400, 'bad max: a whole number of nodes, 1 to 200000');
        if (!compared) return { json: { kind: 'flame', ...flameTree(a.profile, a.notes, cwd, n) } };
        const b = await compared();
        // A is the compared (earlier) range, B the one selected.
        return { json: { kind: 'diff', ...diffTree(b.profile, a.profile, [...b.notes, ...a.notes], cwd, n) } };
      }
      case 'functions': {
        if (!compared) return { json: { kind: 'functions', ...functionTable(a.profile, cwd) } };
        const b = await compared();
        return { json: { kind: 'changes', ...changeTable(b.profile, a.profile, cwd) } };
      }
      case 'sandwich': {
        const fn = q.get('fn');
        if (!fn) throw new HttpError(400, "give fn: the function's label, name (file:line)");
        const s = sandwich(a.profile, fn, cwd);
        if (!s.found) throw new HttpError(404, 'no such function in this range');
        return { json: { callers: flameTree(s.callers, [], cwd, n5k()), callees: flameTree(s.callees, [], cwd, n5k()) } };
      }
      case 'search': {
        const text = q.get('q');
        if (!text) throw new HttpError(400, 'give q: the text to search for');
        return { json: searchShare(a.profile, text) };
      }
      case 'export': {
        const format = q.get('format') as ExportFormat | null;
        if (!format || !EXPORT_FORMATS.includes(format)) throw new HttpError(400, `bad format: one of ${EXPORT_FORMATS.join(', ')}`);
        const e = exportProfile(a.profile, format, cwd);
        const stem = (a.profile.meta.name ?? 'profile').replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 60) || 'profile';
        return {
          raw: {
            bytes: e.bytes,
            type: e.type,
            headers: {
              'content-disposition': `attachment; filename="${stem}.${e.ext}"`,
              // what the format could not keep, one sentence each (ASCII only in a header)
              ...(e.lost.length
                ? {
                    'x-stackscope-lost': e.lost
                      .join(' | ')
                      .replace(/[^\x20-\x7e]/g, '?')
                      .slice(0, 2000),
                  }
                : {}),
            },
          },
        };
      }
    }
    throw new HttpError(404, `no API endpoint /api/${name}`);
  };

  // Other sites in the same browser: a page elsewhere must not read this one through a name that
  // resolves to 127.0.0.1 (DNS rebinding), nor through a WebSocket or an upload (neither is bound
  // by CORS). Requests must name this server in Host, and an Origin, when sent, must be this one.
  const trustedHost = (req: http.IncomingMessage): boolean => {
    const h = (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    return token !== null || LOOPBACK.has(h) || h === host;
  };
  const sameOrigin = (req: http.IncomingMessage): boolean => {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    try {
      return new URL(origin).host === req.headers.host;
    } catch {
      return false;
    }
  };

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const q = url.searchParams;
    const fail = (status: number, msg: string) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' });
      res.end(`stackscope: ${msg}\n`);
    };
    try {
      if (!trustedHost(req))
        return fail(403, `the page answers requests for 127.0.0.1 or localhost, not ${String(req.headers.host).slice(0, 100)}`);
      if (req.method !== 'GET' && req.method !== 'HEAD' && !sameOrigin(req)) return fail(403, 'a request from another site');
      if (!authorized(req, q)) return fail(401, 'give the token: open /?token=… once, or send Authorization: Bearer …');
      if (token && q.has('token') && url.pathname === '/') {
        // Remember the token in a cookie and take it out of the address bar (and of copied links).
        q.delete('token');
        res.writeHead(303, {
          'set-cookie': `stackscope_token=${encodeURIComponent(opts.token!)}; HttpOnly; SameSite=Strict; Path=/`,
          location: `/${q.size ? `?${q}` : ''}${url.hash}`,
        });
        return res.end();
      }
      if (url.pathname.startsWith('/api/')) {
        const out = await api(url.pathname.slice(5), q, req);
        const common = { 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' };
        if (out.raw) {
          res.writeHead(200, { ...common, 'content-type': out.raw.type, ...out.raw.headers });
          return res.end(out.raw.bytes);
        }
        res.writeHead(200, { ...common, 'content-type': 'application/json' });
        return res.end(JSON.stringify(out.json));
      }
      const file = req.method === 'GET' || req.method === 'HEAD' ? staticFile(url.pathname) : null;
      if (!file) return fail(404, `nothing at ${url.pathname.slice(0, 100)}`);
      res.writeHead(200, {
        'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
        'content-security-policy': CSP,
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-cache',
      });
      fs.createReadStream(file).pipe(res);
    } catch (err) {
      if (err instanceof HttpError) return fail(err.status, err.message);
      if (err instanceof BadFilterError || err instanceof UserError) return fail(400, oneLine(err));
      process.stderr.write(`stackscope: ui: ${req.method} ${url.pathname}: ${oneLine(err)}\n`);
      return fail(500, `internal error: ${oneLine(err)}`);
    }
  });

  // Live mode: the page says which targets it watches; new timeline windows are pushed to it.
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const everyMs = opts.liveEveryMs ?? 2000;
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/api/live' || !trustedHost(req) || !sameOrigin(req) || !authorized(req, url.searchParams) || !store) {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => watchLive(ws));
  });
  const watchLive = (ws: WebSocket) => {
    let filters: Filters = { labels: {} };
    let spanMs = 15 * 60_000;
    let split = false;
    let last = '';
    let busy = false;
    const push = async () => {
      if (busy || ws.readyState !== ws.OPEN) return;
      busy = true;
      try {
        const now = Date.now();
        const range = { fromMs: now - spanMs, untilMs: now };
        // split by service: every push carries the series too, so the split timeline moves with each one
        const t =
          split && store instanceof StoreSource ? await store.timelineByService(range, filters) : await store!.timeline(range, filters);
        const text = JSON.stringify([t.points, t.series]);
        if (text !== last) {
          last = text;
          ws.send(JSON.stringify({ type: 'timeline', ...t }));
        }
      } catch (err) {
        ws.send(JSON.stringify({ type: 'error', message: oneLine(err) }));
      } finally {
        busy = false;
      }
    };
    const timer = setInterval(push, everyMs);
    ws.on('message', (data) => {
      try {
        const m = JSON.parse(String(data)) as { filters?: Filters; spanMs?: number; split?: string };
        const q = new URLSearchParams();
        if (m.filters?.service) q.set('service', m.filters.service);
        if (m.filters?.host) q.set('host', m.filters.host);
        if (m.filters?.pid !== undefined) q.set('pid', String(m.filters.pid));
        for (const [k, v] of Object.entries(m.filters?.labels ?? {})) q.append('label', `${k}=${v}`);
        filters = filtersOf(q);
        if (typeof m.spanMs === 'number' && m.spanMs >= 60_000 && m.spanMs <= 7 * 86_400_000) spanMs = m.spanMs;
        split = m.split === 'service';
        last = '';
        void push();
      } catch (err) {
        ws.send(JSON.stringify({ type: 'error', message: oneLine(err) }));
      }
    });
    ws.on('close', () => clearInterval(timer));
    ws.on('error', () => clearInterval(timer));
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new UserError(`port ${opts.port} on ${host} is in use (give another with --port, or 0 for any)`)
          : new UserError(`cannot listen on ${host}:${opts.port ?? 0}: ${oneLine(err)}`),
      ),
    );
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    async close() {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await store?.close();
      await files.close();
    },
  };
}

async function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > max)
    throw new HttpError(413, `the file is ${mib(declared)}, more than the ${mib(max)} the page takes (stackscope ui FILE reads any size)`);
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new HttpError(413, `the file is more than the ${mib(max)} the page takes (stackscope ui FILE reads any size)`);
    parts.push(chunk);
  }
  if (size === 0) throw new HttpError(400, 'the dropped file is empty');
  return Buffer.concat(parts);
}

const mib = (n: number) => (n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`);
