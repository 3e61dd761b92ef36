/**
 * What async causality (`trace --async`, async_hooks) adds over plain tracing.
 *
 * 1. The mailbox bench's strategies (fixtures/async/mailbox-rounds.ts: HTTP client and server on
 *    loopback in one process, promise-heavy), timed by the program itself (median of its rounds,
 *    after a warm-up round): traced without and with async tracing, through the real preload.
 *    The worst case too: fixtures/async/awaits.mjs, traced async functions awaiting resolved
 *    values in a tight loop (every await is a promise created inside a traced call).
 * 2. A request-serving workload: fixtures/async/serve.mjs (a callback middleware chain with a
 *    timer and a database-like callback per request) under keep-alive load from this process
 *    (untraced) for a few seconds: requests/s untraced, traced, traced with async tracing.
 * Modes are interleaved run by run; medians over runs; ratios are computed within the same run.
 *
 *   node --import tsx benchmarks/async-tracing.ts [--runs 5] [--seconds 3] [--json]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const preload = path.join(root, 'dist/trace/preload.js');
const argv = process.argv.slice(2);
const opt = (name: string, dflt: number) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) || dflt : dflt);
const runs = Math.max(3, opt('--runs', 5));
const seconds = Math.max(1, opt('--seconds', 3));
const asJson = argv.includes('--json');

if (!fs.existsSync(preload)) {
  process.stderr.write('async-tracing: build first (npm run build)\n');
  process.exit(2);
}

type Mode = 'untraced' | 'plain' | 'async';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** node arguments and environment that run a script in `mode`; cleanup removes the dumps. */
function launch(mode: Mode, typescript: boolean): { args: string[]; env: NodeJS.ProcessEnv; cleanup: () => void } {
  const env = { ...process.env };
  delete env.STACKSCOPE_TRACE;
  if (mode === 'untraced') return { args: typescript ? ['--import', 'tsx'] : [], env, cleanup: () => {} };
  const dumpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-async-bench-'));
  env.STACKSCOPE_TRACE = JSON.stringify({
    dumpDir,
    include: [],
    exclude: [],
    cwd: root,
    typescript,
    cacheDir: path.join(os.tmpdir(), 'ss-bench-cache'),
    async: mode === 'async',
  });
  return { args: ['--import', pathToFileURL(preload).href], env, cleanup: () => fs.rmSync(dumpDir, { recursive: true, force: true }) };
}

function mailbox(mode: Mode, script = 'mailbox-rounds.ts', args = ['5']): Record<string, number> {
  const l = launch(mode, script.endsWith('.ts'));
  try {
    const r = spawnSync(process.execPath, [...l.args, path.join(root, 'fixtures/async', script), ...args], {
      cwd: root,
      env: l.env,
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`mailbox (${mode}) failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
  } finally {
    l.cleanup();
  }
}

/** Requests/s the server answers under `connections` keep-alive clients for `seconds`. */
async function serve(mode: Mode, connections = 16): Promise<number> {
  const l = launch(mode, false);
  const child = spawn(process.execPath, [...l.args, path.join(root, 'fixtures/async/serve.mjs')], {
    cwd: root,
    env: l.env,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /port (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', (code) => reject(new Error(`serve.mjs (${mode}) exited ${code}`)));
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
    const get = (i: number) =>
      new Promise<void>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: `/${i}`, agent }, (res) => {
            res.resume();
            res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
          })
          .on('error', reject);
      });
    // Warm-up, then count what completes within the measured window.
    const loop = async (until: number, count: { n: number }) => {
      for (let i = 0; performance.now() < until; i++) {
        await get(i);
        count.n++;
      }
    };
    await Promise.all(Array.from({ length: connections }, () => loop(performance.now() + 500, { n: 0 })));
    const count = { n: 0 };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: connections }, () => loop(t0 + seconds * 1000, count)));
    const rps = count.n / ((performance.now() - t0) / 1000);
    agent.destroy();
    return rps;
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.stdin!.end();
    await exited;
    l.cleanup();
  }
}

const mail: Record<Mode, Record<string, number>[]> = { untraced: [], plain: [], async: [] };
const rps: Record<Mode, number[]> = { untraced: [], plain: [], async: [] };
const load0 = os.loadavg()[0]!;
for (let r = 0; r < runs; r++) {
  for (const mode of ['plain', 'async'] as const) mail[mode].push({ ...mailbox(mode), ...mailbox(mode, 'awaits.mjs', ['100000']) });
  for (const mode of ['untraced', 'plain', 'async'] as const) rps[mode].push(await serve(mode));
  if (!asJson) process.stderr.write(`run ${r + 1}/${runs} done\n`);
}
const strategies = Object.keys(mail.plain[0]!);
const mailRows = strategies.map((s) => {
  const plain = median(mail.plain.map((m) => m[s]!));
  const asyncMs = median(mail.async.map((m) => m[s]!));
  // ratio per run (interleaved pairs), then the median of those
  const ratio = median(mail.plain.map((m, i) => mail.async[i]![s]! / m[s]!));
  return { strategy: s, plainMs: plain, asyncMs, ratio };
});
const serveRow = {
  untraced: median(rps.untraced),
  plain: median(rps.plain),
  async: median(rps.async),
  asyncOverPlain: median(rps.async.map((x, i) => x / rps.plain[i]!)),
  plainOverUntraced: median(rps.plain.map((x, i) => x / rps.untraced[i]!)),
  asyncOverUntraced: median(rps.async.map((x, i) => x / rps.untraced[i]!)),
};
const result = { runs, seconds, loadavg: [load0, os.loadavg()[0]], mailbox: mailRows, serve: serveRow };
if (asJson) console.log(JSON.stringify(result));
else {
  console.log(
    `async tracing vs plain tracing (${runs} interleaved runs, load average ${load0.toFixed(1)} -> ${os.loadavg()[0]!.toFixed(1)})`,
  );
  console.log("mailbox strategies and the await loop (ms, median of the program's own rounds):");
  for (const m of mailRows)
    console.log(
      `  ${m.strategy.padEnd(14)} plain ${m.plainMs.toFixed(1).padStart(8)}  async ${m.asyncMs.toFixed(1).padStart(8)}  async/plain ${m.ratio.toFixed(2)}x`,
    );
  console.log(`serving (requests/s, ${seconds} s of keep-alive load, 16 connections):`);
  console.log(
    `  untraced ${serveRow.untraced.toFixed(0)}  traced ${serveRow.plain.toFixed(0)}  traced+async ${serveRow.async.toFixed(0)}` +
      `  async/plain ${serveRow.asyncOverPlain.toFixed(2)}x  plain/untraced ${serveRow.plainOverUntraced.toFixed(2)}x  async/untraced ${serveRow.asyncOverUntraced.toFixed(2)}x`,
  );
}
