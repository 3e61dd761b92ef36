/**
 * What the sampling agent costs: throughput of a request-shaped workload (fixtures/sample/workload.js)
 * with no profiler, with the agent (`--import stackscope/agent`) and with `node --cpu-prof`, at 10 ms
 * and 1 ms intervals. Modes are interleaved round by round so drift in machine load hits all alike;
 * the table shows medians and ratios to the no-profiler runs. The agent runs with 1 s windows (--window), so
 * each run includes several profiler restarts (the default is 10 s: this is the pessimistic case).
 *
 *   npx tsc -p . && node --import tsx benchmarks/sample-overhead.ts [--rounds 5] [--seconds 3] [--window 1]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const root = path.resolve(import.meta.dirname, '..');
const workload = path.join(root, 'fixtures/sample/workload.js');
const preload = path.join(root, 'dist/sample/agent-preload.js');
const arg = (name: string, d: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const rounds = arg('rounds', 5);
const seconds = arg('seconds', 3);
const windowS = arg('window', 1);
const profDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-bench-'));

interface Mode { name: string; node: string[]; env?: Record<string, string> }
const agent = (ms: number): Mode => ({
  name: `agent ${ms} ms`, node: ['--import', preload],
  env: { STACKSCOPE_PORT: '0', STACKSCOPE_INTERVAL: `${ms}ms`, STACKSCOPE_WINDOW: String(windowS) },
});
const cpuProf = (ms: number): Mode => ({ name: `--cpu-prof ${ms} ms`, node: ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-interval', String(ms * 1000)] });
const modes: Mode[] = [{ name: 'no profiler', node: [] }, agent(10), cpuProf(10), agent(1), cpuProf(1)];

function runOnce(m: Mode): number {
  const r = spawnSync(process.execPath, [...m.node, workload, String(seconds), '0.5'], {
    encoding: 'utf8', env: { ...process.env, ...m.env }, timeout: (seconds + 30) * 1000,
  });
  if (r.status !== 0) throw new Error(`${m.name}: exit ${r.status}: ${r.stderr}`);
  if (r.stderr) throw new Error(`${m.name}: unexpected stderr: ${r.stderr}`);
  return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { rps: number }).rps;
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

const base = median(results.get('no profiler')!);
const rows = modes.map((m) => {
  const xs = results.get(m.name)!;
  const med = median(xs);
  const spread = (Math.max(...xs) - Math.min(...xs)) / med;
  return { mode: m.name, 'req/s (median)': med.toFixed(0), 'vs none': (med / base).toFixed(3), 'loss %': ((1 - med / base) * 100).toFixed(2), 'spread %': (spread * 100).toFixed(1) };
});
console.log(`workload: ${path.relative(root, workload)}, agent window ${windowS} s, ${seconds} s per run, ${rounds} interleaved rounds, Node ${process.version}, ${os.cpus().length} CPUs, load avg ${os.loadavg()[0]!.toFixed(2)}`);
console.table(rows);
const a10 = results.get('agent 10 ms')!;
const c10 = results.get('--cpu-prof 10 ms')!;
console.log(`agent 10 ms vs --cpu-prof 10 ms: ${(median(a10) / median(c10)).toFixed(3)}; goal < 2 % loss at 10 ms: ${1 - median(a10) / base < 0.02 ? 'met' : 'NOT met'}`);
