/**
 * `stackscope attach PID`: profiles a Node process started without stackscope. SIGUSR1 makes Node
 * open its inspector (on 127.0.0.1:9229 unless the process chose another port); we find the port
 * among the process's listening sockets, speak the DevTools protocol over WebSocket, sample for the
 * duration, then close the inspector again so the process is left as we found it.
 *
 * An inspector we opened is guarded by a dead-man switch in the target (attach-dead-man.ts): it
 * closes within seconds of our end however we end. Samples are fetched in chunks of CHUNK_MS, so a
 * target that exits, or an inspector that closes, mid-sample still leaves the chunks taken before.
 *
 * SIGUSR1 kills a process that does not handle it, so the target is checked to be Node first.
 */
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { UserError, oneLine } from '../util/errors.js';
import type { CpuProfile } from '../formats/cpuprofile.js';
import { Cdp } from './attach-cdp.js';
import { armDeadMan, DEAD_MAN_GRACE_MS, DEAD_MAN_RENEW_MS, releaseDeadMan, renewDeadMan } from './attach-dead-man.js';
import { joinProfiles } from './profile-chunks.js';
import { cachedLookup, chainSourceMaps, diskSourceMaps, mapFromRef, sourceMapProfile, type SourceMapLookup } from './source-maps.js';

export interface AttachOptions {
  pid: number;
  durationS: number;
  intervalUs?: number;
  /** how long to wait for the inspector to come up, ms */
  connectTimeoutMs?: number;
}

export interface AttachResult {
  /** null when no chunk of samples was fetched before a failure */
  profile: CpuProfile | null;
  startEpochMs: number;
  intervalUs: number;
  /** the inspector was already open before we came (and not by an earlier attach), so it was left open */
  inspectorWasOpen: boolean;
  /** the inspector port is closed again */
  closed: boolean;
  /** sampling was cut short by this signal to stackscope */
  interrupted?: NodeJS.Signals;
  /** why sampling ended before its time (the target exited, its inspector closed…): the profile is partial */
  failure?: string;
  /** seconds from the start of sampling to its end (to the failure, for a partial profile) */
  elapsedS: number;
  port: number;
}

/** Samples are fetched (profiler stopped and restarted) this often: what a failure can cost, ms. */
export const CHUNK_MS = 1000;
/** After giving up on SIGUSR1, how long to watch for an inspector opening late (to close it), ms. */
const LATE_OPEN_MS = 5000;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;

const looksNode = (p: string): boolean => /^(node|nodejs)(\d+)?$|^node-/.test(path.basename(p.replace(/ \(deleted\)$/, '')));

/** Throws a UserError unless `pid` is a live Node process we may signal. */
export function checkTarget(pid: number): void {
  if (!Number.isInteger(pid) || pid <= 0) throw new UserError(`bad PID "${pid}": give a process id`);
  if (pid === process.pid) throw new UserError('cannot attach to stackscope itself');
  // What the process is comes first (procfs tells anyone), whether we may signal it second: a
  // process of another user that is not Node is "not a Node.js process", not "no permission".
  if (fs.existsSync('/proc/self')) {
    const stat = readProc(pid, 'stat');
    if (stat === null) throw new UserError(`no process with PID ${pid}`);
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z')
      throw new UserError(`PID ${pid} has exited (a zombie waiting for its parent)`);
    let exe = '';
    try {
      exe = fs.readlinkSync(`/proc/${pid}/exe`);
    } catch {
      /* another user's, or a kernel thread: argv[0] decides */
    }
    const argv0 = (readProc(pid, 'cmdline') ?? '').split('\0')[0] ?? '';
    if (!looksNode(exe) && !looksNode(argv0)) {
      throw new UserError(`PID ${pid} is not a Node.js process (${path.basename(exe || argv0) || comm || 'unknown executable'})`);
    }
  }
  try {
    process.kill(pid, 0);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') throw new UserError(`no process with PID ${pid}`);
    if (code === 'EPERM') {
      const uid = /^Uid:\s+(\d+)/m.exec(readProc(pid, 'status') ?? '')?.[1];
      if (uid !== undefined && Number(uid) !== process.getuid?.()) {
        throw new UserError(`PID ${pid} belongs to another user (uid ${uid}): run stackscope as that user or as root`);
      }
      throw new UserError(`no permission to signal PID ${pid} (run as its user or root)`);
    }
    throw err;
  }
}

function readProc(pid: number, file: string): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return null;
  }
}

/** Whether the process is gone (or a zombie), waiting up to `waitMs` for it to go. */
async function hasExited(pid: number, waitMs: number): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const stat = readProc(pid, 'stat');
    if (fs.existsSync('/proc/self') ? stat === null || / Z /.test(stat.slice(stat.lastIndexOf(')'))) : !alive(pid)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** TCP ports the process listens on (Linux procfs; empty elsewhere). */
export function listeningPorts(pid: number): Set<number> {
  const ports = new Set<number>();
  let inodes: Set<string>;
  try {
    inodes = new Set(
      fs
        .readdirSync(`/proc/${pid}/fd`)
        .map((fd) => {
          try {
            return /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? '';
          } catch {
            return '';
          }
        })
        .filter(Boolean),
    );
  } catch {
    return ports;
  }
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
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
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function inspectorUrl(port: number): Promise<string | null> {
  try {
    const list = (await getJson(port, '/json/list')) as Array<{ webSocketDebuggerUrl?: string; id?: string; type?: string }>;
    // Node leaves the URL out while a session is connected (a debugger, or an attach that was just
    // killed); it takes more sessions all the same.
    const t =
      list.find((e) => e.webSocketDebuggerUrl) ?? list.find((e) => e.type === 'node' && typeof e.id === 'string' && /^[\w-]+$/.test(e.id));
    return t?.webSocketDebuggerUrl ?? (t ? `ws://127.0.0.1:${port}/${t.id}` : null);
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

/** Maps of scripts that live only in the target's memory (tsx output with inline maps). */
async function remoteSourceMaps(cdp: Cdp): Promise<SourceMapLookup> {
  const byUrl = new Map<string, string>();
  cdp.collect = true;
  try {
    await cdp.send('Debugger.enable');
    await cdp.send('Debugger.disable');
  } catch {
    /* no maps: generated positions */
  }
  cdp.collect = false;
  for (const e of cdp.events) {
    if (e.method !== 'Debugger.scriptParsed') continue;
    const { url, sourceMapURL } = e.params as { url?: string; sourceMapURL?: string };
    if (url && sourceMapURL) byUrl.set(url, sourceMapURL);
  }
  return cachedLookup((url) => {
    const ref = byUrl.get(url);
    return ref ? mapFromRef(ref, url) : null;
  });
}

/** Opens (or finds) the inspector of `pid`: its port, its URL, and whether it was open before. */
async function openInspector(pid: number, connectTimeoutMs: number): Promise<{ port: number; url: string; wasOpen: boolean }> {
  const before = listeningPorts(pid);
  const open = await findInspector(pid, before);
  if (open) return { ...open, wasOpen: true };
  try {
    process.kill(pid, 'SIGUSR1');
  } catch (err) {
    throw new UserError(`cannot signal PID ${pid}: ${(err as Error).message}`);
  }
  const fresh = async (): Promise<{ port: number; url: string } | null> =>
    findInspector(
      pid,
      [...listeningPorts(pid)].filter((p) => !before.has(p)),
    );
  const deadline = Date.now() + connectTimeoutMs;
  while (Date.now() < deadline) {
    await sleep(100);
    const found = await fresh();
    if (found) return { ...found, wasOpen: false };
  }
  // A busy or loaded target may still open it after we gave up: then it is closed again, so that
  // the port we asked for is never left behind.
  const lateUntil = Date.now() + LATE_OPEN_MS;
  while (Date.now() < lateUntil) {
    await sleep(200);
    const late = await fresh();
    if (late) {
      const cdp = await Cdp.open(late.url).catch(() => null);
      if (cdp) {
        await closeInspector(cdp, pid, late.port, null);
        cdp.close();
      }
      break;
    }
  }
  throw new UserError(
    `PID ${pid} did not open its inspector within ${connectTimeoutMs / 1000} s of SIGUSR1 (is its port taken, is it stuck, or was it started with --disable-sigusr1?)`,
  );
}

/** A promise for the first of SIGNALS; after it, ours are removed, so a second signal acts as usual. */
function firstSignal(): { signalled: Promise<NodeJS.Signals>; dispose(): void } {
  let dispose = (): void => {};
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    const on = (sig: NodeJS.Signals): void => {
      dispose();
      resolve(sig);
    };
    for (const sig of SIGNALS) process.on(sig, on);
    dispose = () => {
      for (const sig of SIGNALS) process.removeListener(sig, on);
    };
  });
  return { signalled, dispose };
}

export async function attachAndProfile(opts: AttachOptions): Promise<AttachResult> {
  const { pid } = opts;
  checkTarget(pid);
  const intervalUs = opts.intervalUs ?? 1000;
  const target = await openInspector(pid, opts.connectTimeoutMs ?? 10_000);

  let cdp: Cdp;
  try {
    cdp = await Cdp.open(target.url);
  } catch (err) {
    throw new UserError(`cannot connect to the inspector of PID ${pid} on port ${target.port}: ${oneLine(err)}`);
  }
  // First of all, so that our end, however it comes, closes an inspector we opened. An inspector
  // found open may carry the switch of an earlier attach that died: then it is ours to close too.
  let deadMan: string | null;
  try {
    deadMan = await armDeadMan(cdp, !target.wasOpen);
  } catch (err) {
    if (!target.wasOpen) await closeInspector(cdp, pid, target.port, null);
    cdp.close();
    throw new UserError(`cannot attach to PID ${pid}: ${oneLine(err)}`);
  }
  const ours = deadMan !== null;
  const renewal =
    deadMan === null
      ? undefined
      : setInterval(() => {
          renewDeadMan(cdp, deadMan).catch(() => undefined);
        }, DEAD_MAN_RENEW_MS);

  // Ctrl-C, SIGTERM, a closed terminal (SIGHUP) or SIGQUIT stop sampling early: the samples are
  // kept and the inspector is closed as on a normal end.
  const signal = firstSignal();
  let interrupted: NodeJS.Signals | undefined;
  signal.signalled.then(
    (sig) => {
      interrupted = sig;
    },
    () => undefined,
  );
  // A target that exits while we are connected waits for us to disconnect (Node's "Waiting for the
  // debugger to disconnect..."); asked to, Node tells us, and we fetch the last chunk and go.
  let exiting: () => void = () => {};
  const targetExiting = new Promise<'exiting'>((resolve) => {
    exiting = () => resolve('exiting');
  });
  cdp.on('NodeRuntime.waitingForDisconnect', () => exiting());

  const chunks: CpuProfile[] = [];
  let startEpochMs = Date.now();
  let failure: string | undefined;
  let lost = false;
  try {
    await cdp.send('NodeRuntime.notifyWhenWaitingForDisconnect', { enabled: true }).catch(() => undefined);
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: intervalUs });
    const endAt = Date.now() + opts.durationS * 1000;
    for (;;) {
      await cdp.send('Profiler.start');
      if (chunks.length === 0) startEpochMs = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<'tick'>((resolve) => {
        timer = setTimeout(() => resolve('tick'), Math.max(0, Math.min(CHUNK_MS, endAt - Date.now())));
      });
      const why = await Promise.race([tick, signal.signalled, targetExiting, cdp.closed.then(() => 'lost' as const)]);
      clearTimeout(timer);
      if (why === 'lost') {
        lost = true;
        break;
      }
      if (why === 'exiting') {
        // The target waits for us: its last chunk if it answers at once, then we let it go.
        const last = await Promise.race([cdp.send<{ profile: CpuProfile }>('Profiler.stop'), sleep(1000).then(() => null)]).catch(
          () => null,
        );
        if (last) chunks.push(last.profile);
        lost = true;
        cdp.close();
        break;
      }
      chunks.push((await cdp.send<{ profile: CpuProfile }>('Profiler.stop')).profile);
      if (why !== 'tick' || Date.now() >= endAt) break;
    }
  } catch (err) {
    if (cdp.isClosed) lost = true;
    else failure = `sampling failed: ${oneLine(err)}`;
  } finally {
    signal.dispose();
  }
  const elapsedS = (Date.now() - startEpochMs) / 1000;
  if (lost) {
    failure = (await hasExited(pid, 1000)) ? `PID ${pid} exited` : `the inspector of PID ${pid} was closed (by the program or a debugger)`;
  }

  let maps: SourceMapLookup | null = null;
  if (!cdp.isClosed && chunks.length) maps = await remoteSourceMaps(cdp);
  if (!cdp.isClosed) await cdp.send('Profiler.disable').catch(() => undefined);
  clearInterval(renewal);
  const closed = ours ? await closeInspector(cdp, pid, target.port, deadMan) : !listeningPorts(pid).has(target.port);
  cdp.close();
  // Source-mapped after the inspector is closed: this can take a while on big programs.
  const profile = chunks.length ? joinProfiles(chunks) : null;
  if (profile) sourceMapProfile(profile, maps ? chainSourceMaps(maps, diskSourceMaps()) : diskSourceMaps());
  return { profile, startEpochMs, intervalUs, inspectorWasOpen: !ours, closed, port: target.port, interrupted, failure, elapsedS };
}

/** Closes the target's inspector (which we opened); true once its port is gone. */
async function closeInspector(cdp: Cdp, pid: number, port: number, deadMan: string | null): Promise<boolean> {
  if (!cdp.isClosed) {
    if (deadMan) {
      releaseDeadMan(cdp, deadMan);
    } else {
      // inspector.close() ends every session, ours included, so no reply comes: the closed socket
      // and the port going away are the answer.
      cdp
        .send('Runtime.evaluate', {
          expression: "(typeof require === 'function' ? require('node:inspector').close() : process._debugEnd())",
          includeCommandLineAPI: true,
        })
        .catch(() => undefined);
    }
  }
  // Another attach still using the switch keeps the port until its own end or the switch's grace.
  const deadline = Date.now() + DEAD_MAN_GRACE_MS + 1000;
  while (Date.now() < deadline) {
    await sleep(100);
    if (!listeningPorts(pid).has(port)) return true;
  }
  return false;
}
