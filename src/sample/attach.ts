/**
 * `stackscope attach PID`: profiles a Node process started without stackscope. SIGUSR1 makes Node
 * open its inspector (on 127.0.0.1:9229 unless the process chose another port); we find the port
 * among the process's listening sockets, speak the DevTools protocol over WebSocket, sample for the
 * duration, then close the inspector again so the process is left as we found it.
 *
 * SIGUSR1 kills a process that does not handle it, so the target is checked to be Node first.
 */
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import WebSocket from 'ws';
import { UserError } from '../util/errors.js';
import type { CpuProfile } from '../formats/cpuprofile.js';
import { cachedLookup, chainSourceMaps, diskSourceMaps, mapFromComment, sourceMapProfile, type SourceMapLookup } from './source-maps.js';

export interface AttachOptions {
  pid: number;
  durationS: number;
  intervalUs?: number;
  /** how long to wait for the inspector to come up, ms */
  connectTimeoutMs?: number;
}

export interface AttachResult {
  profile: CpuProfile;
  startEpochMs: number;
  intervalUs: number;
  /** the inspector was already open before we came, so it was left open */
  inspectorWasOpen: boolean;
  /** the inspector port is closed again */
  closed: boolean;
  /** sampling was cut short by SIGINT/SIGTERM */
  interrupted?: NodeJS.Signals;
  port: number;
}

/** Throws a UserError unless `pid` is a live Node process we may signal. */
export function checkTarget(pid: number): void {
  if (!Number.isInteger(pid) || pid <= 0) throw new UserError(`bad PID "${pid}": give a process id`);
  if (pid === process.pid) throw new UserError('cannot attach to stackscope itself');
  try {
    process.kill(pid, 0);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') throw new UserError(`no process with PID ${pid}`);
    if (code === 'EPERM') throw new UserError(`no permission to attach to PID ${pid} (run as its user or root)`);
    throw err;
  }
  if (!fs.existsSync('/proc/self')) return; // no procfs: trust the user
  let exe = '';
  try {
    exe = fs.readlinkSync(`/proc/${pid}/exe`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw new UserError(`no permission to attach to PID ${pid} (run as its user or root)`);
    if (code === 'ENOENT') throw new UserError(`no process with PID ${pid}`);
  }
  let argv0 = '';
  try { argv0 = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? ''; } catch { /* exe decides */ }
  const looksNode = (p: string): boolean => /^(node|nodejs)(\d+)?$|^node-/.test(path.basename(p.replace(/ \(deleted\)$/, '')));
  if (!looksNode(exe) && !looksNode(argv0)) {
    throw new UserError(`PID ${pid} is not a Node.js process (${path.basename(exe || argv0) || 'unknown executable'})`);
  }
}

/** TCP ports the process listens on (Linux procfs; empty elsewhere). */
export function listeningPorts(pid: number): Set<number> {
  const ports = new Set<number>();
  let inodes: Set<string>;
  try {
    inodes = new Set(fs.readdirSync(`/proc/${pid}/fd`).map((fd) => {
      try { return /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? ''; } catch { return ''; }
    }).filter(Boolean));
  } catch {
    return ports;
  }
  for (const table of ['tcp', 'tcp6']) {
    let text = '';
    try { text = fs.readFileSync(`/proc/${pid}/net/${table}`, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A = LISTEN
      if (inodes.has(f[9]!)) ports.add(parseInt(f[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

function getJson(port: number, p: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => { try { resolve(JSON.parse(body)); } catch (e) { reject(e); } });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function inspectorUrl(port: number): Promise<string | null> {
  try {
    const list = await getJson(port, '/json/list') as Array<{ webSocketDebuggerUrl?: string }>;
    return list.find((t) => t.webSocketDebuggerUrl)?.webSocketDebuggerUrl ?? null;
  } catch {
    return null;
  }
}

async function findInspector(pid: number, ports: Iterable<number>): Promise<{ port: number; url: string } | null> {
  for (const port of ports) {
    const url = await inspectorUrl(port);
    if (url) return { port, url };
  }
  return null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A minimal DevTools-protocol client over one WebSocket. */
class Cdp {
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly events: Array<{ method: string; params: Record<string, unknown> }> = [];
  collect = false;

  constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      type Message = { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: Record<string, unknown> };
      let msg: Message;
      // A malformed message from the target must not crash the CLI with a stack dump: skip it.
      try { msg = JSON.parse(String(data)) as Message; } catch { return; }
      if (msg.id !== undefined) {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(msg.error.message));
        else p?.resolve(msg.result);
      } else if (msg.method && this.collect) {
        this.events.push({ method: msg.method, params: msg.params ?? {} });
      }
    });
    ws.on('close', () => {
      for (const p of this.pending.values()) p.reject(new Error('inspector connection closed'));
      this.pending.clear();
    });
  }

  static open(url: string): Promise<Cdp> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 30 });
      ws.once('open', () => resolve(new Cdp(ws)));
      ws.once('error', reject);
    });
  }

  send<T = unknown>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void { this.ws.close(); }
}

/** Maps of scripts that live only in the target's memory (tsx output with inline maps). */
async function remoteSourceMaps(cdp: Cdp): Promise<SourceMapLookup> {
  const byUrl = new Map<string, string>();
  cdp.collect = true;
  try {
    await cdp.send('Debugger.enable');
    await cdp.send('Debugger.disable');
  } catch { /* no maps: generated positions */ }
  cdp.collect = false;
  for (const e of cdp.events) {
    if (e.method !== 'Debugger.scriptParsed') continue;
    const { url, sourceMapURL } = e.params as { url?: string; sourceMapURL?: string };
    if (url && sourceMapURL) byUrl.set(url, sourceMapURL);
  }
  return cachedLookup((url) => {
    const ref = byUrl.get(url);
    return ref ? mapFromComment(`//# sourceMappingURL=${ref}`, url) : null;
  });
}

export async function attachAndProfile(opts: AttachOptions): Promise<AttachResult> {
  const { pid } = opts;
  checkTarget(pid);
  const intervalUs = opts.intervalUs ?? 1000;
  const before = listeningPorts(pid);
  const open = await findInspector(pid, before);
  let target = open;
  if (!target) {
    try {
      process.kill(pid, 'SIGUSR1');
    } catch (err) {
      throw new UserError(`cannot signal PID ${pid}: ${(err as Error).message}`);
    }
    const deadline = Date.now() + (opts.connectTimeoutMs ?? 5000);
    while (!target && Date.now() < deadline) {
      await sleep(100);
      const fresh = [...listeningPorts(pid)].filter((p) => !before.has(p));
      target = await findInspector(pid, fresh);
    }
    if (!target) {
      throw new UserError(`PID ${pid} did not open its inspector after SIGUSR1 (is port 9229 taken, or was it started with --disable-sigusr1?)`);
    }
  }

  let cdp: Cdp;
  try {
    cdp = await Cdp.open(target.url);
  } catch (err) {
    throw new UserError(`cannot connect to the inspector of PID ${pid} on port ${target.port}: ${(err as Error).message}`);
  }
  let profile: CpuProfile;
  const t0 = Date.now();
  let startEpochMs = t0;
  // Ctrl-C (or SIGTERM) while sampling must not leave the target with its profiler running and its
  // inspector open (anyone on the machine could then attach to it): stop early, keep what was
  // sampled, and close the inspector as on a normal end. A second signal is not ours to swallow.
  let interrupt = (): void => {};
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals): void => { interrupted ??= sig; interrupt(); };
  const signals = ['SIGINT', 'SIGTERM'] as const;
  for (const sig of signals) process.once(sig, onSignal);
  try {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: intervalUs });
    await cdp.send('Profiler.start');
    startEpochMs = Date.now();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, opts.durationS * 1000);
      interrupt = () => { clearTimeout(timer); resolve(); };
    });
    profile = (await cdp.send<{ profile: CpuProfile }>('Profiler.stop')).profile;
    await cdp.send('Profiler.disable');
    sourceMapProfile(profile, chainSourceMaps(await remoteSourceMaps(cdp), diskSourceMaps()));
  } catch (err) {
    // Still leave the process as found: an inspector we opened is closed again.
    if (!open) await closeInspector(cdp, pid, target.port);
    cdp.close();
    throw new UserError(`profiling PID ${pid} failed: ${(err as Error).message}`);
  } finally {
    for (const sig of signals) process.removeListener(sig, onSignal);
  }

  const closed = open ? false : await closeInspector(cdp, pid, target.port);
  cdp.close();
  return { profile, startEpochMs, intervalUs, inspectorWasOpen: !!open, closed, port: target.port, interrupted };
}

/** Closes the target's inspector (which we opened); true once its port is gone. */
async function closeInspector(cdp: Cdp, pid: number, port: number): Promise<boolean> {
  // inspector.close() ends every session, ours included, so no reply comes: the closed socket
  // and the port going away are the answer. process._debugEnd is the same call for targets where
  // `require` is not in scope of the console API.
  void cdp.send('Runtime.evaluate', {
    expression: "(typeof require === 'function' ? require('node:inspector').close() : process._debugEnd())",
    includeCommandLineAPI: true,
  }).catch(() => undefined);
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline) {
    await sleep(100);
    if (!listeningPorts(pid).has(port)) return true;
  }
  return false;
}
