/** The agent's settings, from code or from STACKSCOPE_* environment variables. */
import fs from 'node:fs';
import path from 'node:path';
import { parseInterval, parseSeconds } from '../sample/index.js';

export interface AgentOptions {
  /** TCP port; 0 picks a free one (see `Agent.port`). Default 0. */
  port?: number;
  /** Default 127.0.0.1: the profile reveals code paths, so it stays local unless asked. */
  host?: string;
  /** Sampling interval: ms as a number, or "10ms" / "500us". Default 10 ms. */
  interval?: number | string;
  /** Require `Authorization: Bearer <token>` on every request (an empty token is refused). */
  token?: string;
  /** Length of a history window, seconds. Default 10. */
  windowSeconds?: number;
  /** Windows kept for /stacks. Default 360 (an hour of 10 s windows). */
  historyWindows?: number;
  /** Distinct stacks kept per table (a window, the `GET /` table) before rare ones are folded. Default 5000. */
  maxStacks?: number;
  /** Event-loop stalls longer than this are recorded, ms. Default 100. */
  stallThresholdMs?: number;
  /** Name of the service, for collectors. Default: the program's package name, else its file name. */
  service?: string;
  /** Labels for collectors, e.g. { env: 'prod', region: 'eu' } (or "env=prod,region=eu"). */
  labels?: Record<string, string> | string;
  /** Bytes the agent's data (history, tables) may hold: a number or "64MiB". Default 64 MiB. */
  maxMemory?: number | string;
  /** The worker thread's heap limit, MiB; past it only the worker stops. Default 2 × maxMemory + 128 MiB. */
  workerHeapMb?: number;
}

export interface AgentConfig {
  port: number;
  host: string;
  intervalUs: number;
  token?: string;
  windowMs: number;
  historyWindows: number;
  maxStacks: number;
  stallThresholdMs: number;
  service: string;
  labels: Record<string, string>;
  maxMemoryBytes: number;
  /** the worker's heap limit, MiB: past it only the worker stops */
  workerHeapMb: number;
}

export const DEFAULT_MAX_MEMORY = 64 * 1024 * 1024;
const MAX_LABELS = 32;
const LABEL_KEY = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const LABEL_VALUE = /^[^\s,=\p{Cc}]{1,128}$/u;
const SERVICE = /^[^\s\p{Cc}]{1,128}$/u;

/** "env=prod,region=eu" or an object, checked: keys like identifiers, values without spaces, `,` or `=`. */
export function parseLabels(v: Record<string, string> | string | undefined): Record<string, string> {
  if (v === undefined || v === '') return {};
  const entries =
    typeof v === 'string'
      ? v.split(',').map((pair): [string, string] => {
          const eq = pair.indexOf('=');
          if (eq <= 0) throw new Error(`bad label "${pair.slice(0, 60)}": use key=value,key2=value2`);
          return [pair.slice(0, eq).trim(), pair.slice(eq + 1).trim()];
        })
      : Object.entries(v);
  if (entries.length > MAX_LABELS) throw new Error(`too many labels (${entries.length}): at most ${MAX_LABELS}`);
  const out: Record<string, string> = {};
  for (const [k, val] of entries) {
    if (!LABEL_KEY.test(k)) throw new Error(`bad label name "${k.slice(0, 60)}": letters, digits, _ . - (starting with a letter or _)`);
    if (typeof val !== 'string' || !LABEL_VALUE.test(val))
      throw new Error(`bad value for label "${k}": 1-128 characters, no spaces, "," or "="`);
    if (k in out) throw new Error(`label "${k}" given twice`);
    out[k] = val;
  }
  return out;
}

/** "64MiB", "512KiB", "1GiB", "1000000" (bytes) → bytes, at least 1 MiB. */
export function parseBytes(v: number | string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB)?\s*$/i.exec(String(v));
  const unit = (m?.[2] ?? 'B').toLowerCase();
  const mult = unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 ** 2 : unit.startsWith('g') ? 1024 ** 3 : 1;
  const n = m ? Math.round(Number(m[1]) * mult) : NaN;
  if (!(n >= 1024 * 1024) || n > 64 * 1024 ** 3) throw new Error(`bad ${what} "${v}": give a size from 1MiB, like 64MiB`);
  return n;
}

/** The program's package name (nearest package.json above its main script), else the script's name. */
export function defaultServiceName(script = process.argv[1]): string {
  if (!script) return 'node';
  let dir = path.dirname(path.resolve(script));
  for (let i = 0; i < 32; i++) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (typeof pkg.name === 'string' && SERVICE.test(pkg.name)) return pkg.name;
      break;
    } catch {
      /* none here: look further up */
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  const base = path.basename(script).replace(/\.[cm]?[jt]sx?$/, '');
  return SERVICE.test(base) ? base : 'node';
}

export function resolveAgentConfig(o: AgentOptions = {}): AgentConfig {
  const port = o.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port "${o.port}"`);
  const windowSeconds = o.windowSeconds ?? 10;
  if (!(windowSeconds >= 0.1)) throw new Error(`bad window "${o.windowSeconds}": at least 0.1 s`);
  const pos = (v: number | undefined, d: number, what: string): number => {
    const n = v ?? d;
    if (!(Number.isInteger(n) && n > 0)) throw new Error(`bad ${what} "${v}": a positive integer`);
    return n;
  };
  if (o.token !== undefined && !/^[\x21-\x7e]{1,1024}$/.test(o.token)) {
    throw new Error(
      o.token === ''
        ? 'the token is empty: set a token or leave it unset'
        : 'bad token: printable ASCII without spaces, at most 1024 characters',
    );
  }
  const service = o.service ?? defaultServiceName();
  if (!SERVICE.test(service)) throw new Error(`bad service name "${service.slice(0, 60)}": 1-128 characters, no spaces`);
  const maxMemoryBytes = o.maxMemory === undefined ? DEFAULT_MAX_MEMORY : parseBytes(o.maxMemory, 'max memory');
  return {
    port,
    host: o.host ?? '127.0.0.1',
    intervalUs: parseInterval(o.interval ?? 10, 'interval'),
    token: o.token,
    windowMs: Math.round(windowSeconds * 1000),
    historyWindows: pos(o.historyWindows, 360, 'history'),
    maxStacks: pos(o.maxStacks, 5000, 'max stacks'),
    stallThresholdMs: pos(o.stallThresholdMs, 100, 'stall threshold'),
    service,
    labels: parseLabels(o.labels),
    maxMemoryBytes,
    // Room for the data, the chunk being converted (V8's JSON of a profile) and the code itself.
    workerHeapMb: pos(o.workerHeapMb, Math.ceil((2 * maxMemoryBytes) / 1024 ** 2) + 128, 'worker heap'),
  };
}

/**
 * STACKSCOPE_PORT, _HOST, _INTERVAL, _TOKEN, _WINDOW (s), _HISTORY, _MAX_STACKS, _STALL_MS,
 * _SERVICE, _LABELS, _MAX_MEMORY, _WORKER_HEAP_MB.
 */
export function agentOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): AgentOptions {
  const num = (k: string): number | undefined => {
    const v = env[k];
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`bad ${k}="${v}": a number`);
    return n;
  };
  if (env.STACKSCOPE_TOKEN === '') throw new Error('STACKSCOPE_TOKEN is empty: set a token or unset the variable');
  return {
    port: num('STACKSCOPE_PORT'),
    host: env.STACKSCOPE_HOST || undefined,
    interval: env.STACKSCOPE_INTERVAL || undefined,
    token: env.STACKSCOPE_TOKEN,
    windowSeconds: env.STACKSCOPE_WINDOW ? parseSeconds(env.STACKSCOPE_WINDOW, 'STACKSCOPE_WINDOW') : undefined,
    historyWindows: num('STACKSCOPE_HISTORY'),
    maxStacks: num('STACKSCOPE_MAX_STACKS'),
    stallThresholdMs: num('STACKSCOPE_STALL_MS'),
    service: env.STACKSCOPE_SERVICE || undefined,
    labels: env.STACKSCOPE_LABELS || undefined,
    maxMemory: env.STACKSCOPE_MAX_MEMORY || undefined,
    workerHeapMb: num('STACKSCOPE_WORKER_HEAP_MB'),
  };
}
