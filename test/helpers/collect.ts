/**
 * Collector tests' processes: fake agents (fake-agent.ts) and real `stackscope collect` children,
 * a throwaway PostgreSQL cluster, and the stored per-stack totals read back through the query API.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { AgentMode, AgentTotals, FakeAgentConfig, FromAgent, ToAgent } from './fake-agent.js';
import { openStore, queryProfile, type TargetFilter } from '../../src/store/index.js';
import { NO_STACK, type Profile } from '../../src/model/index.js';

export const root = path.resolve(import.meta.dirname, '../..');
export const cli = path.join(root, 'dist/cli/index.js');
const fakeAgent = path.join(import.meta.dirname, 'fake-agent.ts');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  everyMs = 150,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(everyMs);
  }
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net
      .createServer()
      .listen(0, '127.0.0.1', () => {
        const port = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(port));
      })
      .on('error', reject);
  });
}

export interface FakeAgent {
  port: number;
  address: string;
  config: FakeAgentConfig;
  child: ChildProcess;
  mode(mode: AgentMode): void;
  freeze(): void;
  totals(): Promise<AgentTotals>;
  kill(): Promise<void>;
}

const agents = new Set<ChildProcess>();
const children = new Set<ChildProcess>();

export async function startAgent(cfg: Partial<FakeAgentConfig> = {}): Promise<FakeAgent> {
  const config: FakeAgentConfig = {
    port: 0,
    instance: randomBytes(6).toString('hex'),
    seed: 1,
    service: 'api',
    labels: {},
    hostname: 'web-1',
    periodMs: 50,
    history: 100_000,
    pool: 300,
    perWindow: 12,
    maxWindows: 40,
    ...cfg,
  };
  const child = fork(fakeAgent, [JSON.stringify(config)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    cwd: root,
  });
  agents.add(child);
  const waiting = new Map<string, (m: FromAgent) => void>();
  child.on('message', (m: FromAgent) => {
    waiting.get(m.type)?.(m);
    waiting.delete(m.type);
  });
  // (the exit listener goes once the answer came: a long run asks for totals thousands of times)
  const next = (type: FromAgent['type']) =>
    new Promise<FromAgent>((resolve, reject) => {
      const exited = () => reject(new Error('fake agent exited'));
      child.once('exit', exited);
      waiting.set(type, (m) => {
        child.off('exit', exited);
        resolve(m);
      });
    });
  const ready = (await next('ready')) as { port: number };
  const send = (m: ToAgent) => child.send(m);
  return {
    port: ready.port,
    address: `127.0.0.1:${ready.port}`,
    config: { ...config, port: ready.port },
    child,
    mode: (mode) => send({ cmd: 'mode', mode }),
    freeze: () => send({ cmd: 'freeze' }),
    totals: async () => {
      const p = next('totals');
      send({ cmd: 'totals' });
      return (await p) as AgentTotals;
    },
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      agents.delete(child);
    },
  };
}

export interface Collector {
  child: ChildProcess;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `stackscope collect ARGS` as a child process (built CLI). */
export function startCollector(args: string[]): Collector {
  const child = spawn(process.execPath, [cli, 'collect', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  child.stdout!.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      r({ code, signal });
    }),
  );
  return {
    child,
    stderr: () => err,
    exited,
    kill: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs the CLI to the end. */
export function runCli(args: string[], opts: { timeoutMs?: number } = {}): { code: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, timeout: opts.timeoutMs ?? 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** Ends every fake agent and collector a test file started. */
export async function cleanup(): Promise<void> {
  for (const c of [...agents, ...children]) {
    if (c.exitCode === null && c.signalCode === null) {
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await exited;
    }
  }
}

/** Per-stack totals of a profile, keyed like the fake agent keys them (JSON of the frames, root first). */
export function stackTotals(p: Profile): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < p.sampleStack.length; i++) {
    const frames = [];
    for (let s = p.sampleStack[i]!; s !== NO_STACK; s = p.stackParent[s]!) frames.push(p.frames[p.stackFrame[s]!]!);
    const key = JSON.stringify(frames.reverse());
    out[key] = (out[key] ?? 0) + p.sampleWeight[i]!;
  }
  return out;
}

/** Everything the store holds, per stack (optionally for one service). */
export async function storedTotals(db: string, filter: TargetFilter = {}): Promise<Record<string, number>> {
  const store = await openStore(db);
  try {
    const r = await queryProfile(store, { fromMs: 0, untilMs: Date.now() + 3_600_000, ...filter });
    return stackTotals(r.profile);
  } finally {
    await store.close();
  }
}

export function addTotals(...all: Array<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of all) for (const [k, v] of Object.entries(t)) if (v) out[k] = (out[k] ?? 0) + v;
  return out;
}

export const sum = (t: Record<string, number>) => Object.values(t).reduce((a, b) => a + b, 0);

/** Waits until the store holds exactly `expected` (fails with the difference if it never does). */
export async function waitForTotals(
  db: string,
  expected: Record<string, number>,
  filter: TargetFilter = {},
  timeoutMs = 20_000,
): Promise<void> {
  let last: Record<string, number> = {};
  try {
    await waitFor(
      "stored totals to equal the agents'",
      async () => {
        last = await storedTotals(db, filter);
        return sum(last) >= sum(expected) ? true : undefined;
      },
      timeoutMs,
      250,
    );
  } catch {
    // fall through to the exact comparison below, which names the difference
  }
  const diff = Object.keys({ ...expected, ...last }).filter((k) => (expected[k] ?? 0) !== (last[k] ?? 0));
  if (diff.length) {
    throw new Error(
      `stored totals differ from the agents' on ${diff.length} stacks (stored ${sum(last)} samples, agents ${sum(expected)})`,
    );
  }
}

/** A throwaway PostgreSQL cluster on a free loopback port; null (with the reason) when PostgreSQL is missing. */
export interface PgCluster {
  url: string;
  dir: string;
  stop(): void;
  start(): void;
  destroy(): void;
}

/** The folder of PostgreSQL's server programs: on PATH, or Debian's /usr/lib/postgresql/N/bin. */
function pgBin(): string | null {
  const onPath = spawnSync('initdb', ['--version']);
  if (!onPath.error && onPath.status === 0) return '';
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base) ? fs.readdirSync(base).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (fs.existsSync(path.join(base, v, 'bin', 'initdb'))) return path.join(base, v, 'bin');
  return null;
}

/** Why PostgreSQL tests cannot run here, or null when they can. */
export function pgMissing(): string | null {
  return pgBin() === null ? 'PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin)' : null;
}

export async function startPg(): Promise<PgCluster> {
  const dir = tmpDir('ss-pg-');
  const data = path.join(dir, 'data');
  const log = path.join(dir, 'log');
  // initdb refuses to run as root: as root, the cluster belongs to the postgres user.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(spawnSync('id', ['-u', 'postgres']).stdout.toString().trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres']).stdout.toString().trim());
    if (!Number.isInteger(uid)) throw new Error('running as root and there is no postgres user to run PostgreSQL as');
    fs.chownSync(dir, uid, gid);
  }
  const bin = pgBin() ?? '';
  const run = (name: string, args: string[]) => {
    const cmd = bin ? path.join(bin, name) : name;
    const r = asRoot ? spawnSync('runuser', ['-u', 'postgres', '--', cmd, ...args]) : spawnSync(cmd, args);
    if (r.status !== 0)
      throw new Error(
        `${name} failed: ${r.stderr?.toString().trim()} ${fs.existsSync(log) ? fs.readFileSync(log, 'utf8').slice(-500) : ''}`,
      );
  };
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres']);
  const port = await freePort();
  const start = () =>
    run('pg_ctl', ['-D', data, '-w', '-l', log, 'start', '-o', `-p ${port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off`]);
  start();
  const stop = () => run('pg_ctl', ['-D', data, '-m', 'fast', 'stop']);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dir,
    start,
    stop,
    destroy: () => {
      try {
        stop();
      } catch {
        /* already stopped */
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
