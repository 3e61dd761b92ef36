/** The agent's settings, from code or from STACKSCOPE_* environment variables. */
import { parseInterval, parseSeconds } from './options.js';

export interface AgentOptions {
  /** TCP port; 0 picks a free one (see `Agent.port`). Default 0. */
  port?: number;
  /** Default 127.0.0.1: the profile reveals code paths, so it stays local unless asked. */
  host?: string;
  /** Sampling interval: ms as a number, or "10ms" / "500us". Default 10 ms. */
  interval?: number | string;
  /** Require `Authorization: Bearer <token>` on every request. */
  token?: string;
  /** Length of a history window, seconds. Default 10. */
  windowSeconds?: number;
  /** Windows kept for /stacks. Default 360 (an hour of 10 s windows). */
  historyWindows?: number;
  /** Distinct stacks kept per table before rare ones are folded. Default 5000. */
  maxStacks?: number;
  /** Event-loop stalls longer than this are recorded, ms. Default 100. */
  stallThresholdMs?: number;
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
  return {
    port,
    host: o.host ?? '127.0.0.1',
    intervalUs: parseInterval(o.interval ?? 10, 'interval'),
    token: o.token || undefined,
    windowMs: Math.round(windowSeconds * 1000),
    historyWindows: pos(o.historyWindows, 360, 'history'),
    maxStacks: pos(o.maxStacks, 5000, 'max stacks'),
    stallThresholdMs: pos(o.stallThresholdMs, 100, 'stall threshold'),
  };
}

/** STACKSCOPE_PORT, _HOST, _INTERVAL, _TOKEN, _WINDOW (s), _HISTORY, _MAX_STACKS, _STALL_MS. */
export function agentOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): AgentOptions {
  const num = (k: string): number | undefined => {
    const v = env[k];
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`bad ${k}="${v}": a number`);
    return n;
  };
  return {
    port: num('STACKSCOPE_PORT'),
    host: env.STACKSCOPE_HOST || undefined,
    interval: env.STACKSCOPE_INTERVAL || undefined,
    token: env.STACKSCOPE_TOKEN || undefined,
    windowSeconds: env.STACKSCOPE_WINDOW ? parseSeconds(env.STACKSCOPE_WINDOW, 'STACKSCOPE_WINDOW') : undefined,
    historyWindows: num('STACKSCOPE_HISTORY'),
    maxStacks: num('STACKSCOPE_MAX_STACKS'),
    stallThresholdMs: num('STACKSCOPE_STALL_MS'),
  };
}
