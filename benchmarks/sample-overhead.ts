/**
 * What the sampling agent costs: throughput of a request-shaped workload (fixtures/sample/workload.js)
 * with no profiler, with the agent (`--import stackscope/agent`) and with `node --cpu-prof`, at 10 ms
 * and 1 ms intervals, as requests/s and as the main thread's CPU time per request (which a machine
 * busy with other work disturbs far less). Modes are interleaved round by round so drift in machine load hits all alike;
 * the table shows medians and ratios to the no-profiler runs. The agent profiles in 1 s chunks
 * whatever its window (--window, default 1 s here, 10 s in production), so every run includes its
 * chunk rotations.
 *
 *   npx tsc -p . && node --import tsx benchmarks/sample-overhead.ts [--rounds 5] [--seconds 3] [--window 1]
 *     [--baseline-agent PATH]   also runs another build's agent preload at 10 ms (before/after a change)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const root = path.resolve(import.meta.dirname, '..');
const workload = path.join(root, 'fixtures/sample/workload.js');
const preload = path.join(root, 'dist/agent/preload.js');
const arg = (name: string, d: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const rounds = arg('rounds', 5);
const seconds = arg('seconds', 3);
const windowS = arg('window', 1);
const profDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-bench-'));

interface Mode {
  name: string;
  node: string[];
  env?: Record<string, string>;
}
const agent = (ms: number): Mode => ({
  name: `agent ${ms} ms`,
  node: ['--import', preload],
  env: { STACKSCOPE_PORT: '0', STACKSCOPE_INTERVAL: `${ms}ms`, STACKSCOPE_WINDOW: String(windowS) },
});
const cpuProf = (ms: number): Mode => ({
  name: `--cpu-prof ${ms} ms`,
  node: ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-interval', String(ms * 1000)],
});
const modes: Mode[] = [{ name: 'no profiler', node: [] }, agent(10), cpuProf(10), agent(1), cpuProf(1)];
const baselineIdx = process.argv.indexOf('--baseline-agent');
if (baselineIdx > 0)
  modes.push({ ...agent(10), name: 'baseline agent 10 ms', node: ['--import', path.resolve(process.argv[baselineIdx + 1]!)] });

interface Run {
  rps: number;
  cpuUsPerReq: number;
}
function runOnce(m: Mode): Run {
  const r = spawnSync(process.execPath, [...m.node, workload, String(seconds), '0.5'], {
    encoding: 'utf8',
    env: { ...process.env, ...m.env },
    timeout: (seconds + 30) * 1000,
  });
  if (r.status !== 0) throw new Error(`${m.name}: exit ${r.status}: ${r.stderr}`);
  if (r.stderr) throw new Error(`${m.name}: unexpected stderr: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Run;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const results = new Map<string, number[]>(modes.map((m) => [m.name, []]));
for (let r = 0; r < rounds; r++) {
  // Rotate the order each round so no mode always runs first (or right after the heaviest).
  const order = modes.map((_, i) => modes[(i + r) % modes.length]!);
  for (const m of order) results.get(m.name)!.push(runOnce(m));
  process.stderr.write(`round ${r + 1}/${rounds} done\n`);
}
fs.rmSync(profDir, { recursive: true, force: true });

const rps = (name: string): number[] => results.get(name)!.map((r) => r.rps);
const cpu = (name: string): number[] => results.get(name)!.map((r) => r.cpuUsPerReq);
const base = median(rps('no profiler'));
const baseCpu = median(cpu('no profiler'));
const rows = modes.map((m) => {
  const xs = rps(m.name);
  const med = median(xs);
  const spread = (Math.max(...xs) - Math.min(...xs)) / med;
  const c = median(cpu(m.name));
  return {
    mode: m.name,
    'req/s (median)': med.toFixed(0),
    'vs none': (med / base).toFixed(3),
    'loss %': ((1 - med / base) * 100).toFixed(2),
    'spread %': (spread * 100).toFixed(1),
    'main-thread CPU µs/req': c.toFixed(1),
    'CPU vs none %': ((c / baseCpu - 1) * 100).toFixed(2),
  };
});
console.log(
  `workload: ${path.relative(root, workload)}, agent window ${windowS} s, ${seconds} s per run, ${rounds} interleaved rounds, Node ${process.version}, ${os.cpus().length} CPUs, load avg ${os.loadavg()[0]!.toFixed(2)}`,
);
console.table(rows);
const a10 = median(rps('agent 10 ms'));
const c10 = median(rps('--cpu-prof 10 ms'));
console.log(
  `agent 10 ms vs --cpu-prof 10 ms: ${(a10 / c10).toFixed(3)}; goal < 1 % loss at 10 ms: ${1 - a10 / base < 0.01 ? 'met' : 'NOT met'} ` +
    `(main thread's CPU per request: ${((median(cpu('agent 10 ms')) / baseCpu - 1) * 100).toFixed(2)} % more)`,
);
