/** Starts a fixture app with the built agent preloaded (`npm run build` first), for the agent's tests. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';

export const root = path.resolve(import.meta.dirname, '../..');
export const preload = path.join(root, 'dist/agent/preload.js');
export const agentApp = path.join(root, 'fixtures/sample/agent-app.js');
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface RunningApp {
  child: ChildProcess;
  base: string;
  port: number;
  stdout: () => string;
  stderr: () => string;
  /** Date.now() when the port file appeared (the agent listens) and when the process was spawned */
  readyAt: number;
  spawnedAt: number;
  stop: () => Promise<void>;
}

export interface StartOptions {
  app?: string;
  args?: string[];
  /** run under `sh -c 'ulimit -n N; exec node …'` */
  maxFiles?: number;
  readyTimeoutMs?: number;
}

export async function startApp(env: Record<string, string> = {}, opts: StartOptions = {}): Promise<RunningApp> {
  const portFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ss-agent-')), 'port');
  const nodeArgs = ['--import', preload, opts.app ?? agentApp, ...(opts.args ?? [])];
  const spawnedAt = Date.now();
  const fullEnv = { ...process.env, STACKSCOPE_PORT: '0', STACKSCOPE_PORT_FILE: portFile, ...env };
  const child = opts.maxFiles
    ? spawn('sh', ['-c', `ulimit -n ${opts.maxFiles} && exec "$0" "$@"`, process.execPath, ...nodeArgs], {
        cwd: root,
        env: fullEnv,
        stdio: ['pipe', 'pipe', 'pipe'],
      })
    : spawn(process.execPath, nodeArgs, { cwd: root, env: fullEnv, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 15_000);
  let text: string;
  while (!(text = fs.existsSync(portFile) ? fs.readFileSync(portFile, 'utf8').trim() : '')) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill();
      throw new Error(`agent did not start: ${err}`);
    }
    await sleep(10);
  }
  const readyAt = Date.now();
  const port = Number(text);
  return {
    child,
    port,
    base: `http://127.0.0.1:${port}`,
    stdout: () => out,
    stderr: () => err,
    readyAt,
    spawnedAt,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill();
      await exited;
    },
  };
}
