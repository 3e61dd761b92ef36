/**
 * How fast `stackscope convert` is on a big profile: a synthetic 1,000,000-sample .cpuprofile (a
 * call tree of ~2,000 nodes, stacks up to 16 deep, 1 ms apart) converted to folded stacks and to
 * pprof. Each conversion runs in a process of its own, so its peak memory (maxRSS) is its own; the
 * time is split into reading (file → JSON → model) and writing (model → bytes → file), and the
 * process's CPU time (user + system) is shown beside the wall time: on a shared machine the wall
 * time mostly measures the other processes (the load average is printed).
 *
 *   npx tsc -p . && node --import tsx benchmarks/convert.ts [--samples 1000000] [--runs 3]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { readProfile } from '../src/formats/read.js';
import { renderModel, type OutputFormat } from '../src/formats/write.js';
import type { CpuProfile, CpuProfileNode } from '../src/formats/cpuprofile.js';

const arg = (name: string, d: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};

if (process.argv[2] === '--child') {
  const [, , , format, input, output] = process.argv as [string, string, string, OutputFormat, string, string];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const { profile } = readProfile(input);
  const t1 = performance.now();
  const { bytes } = renderModel(profile, format);
  fs.writeFileSync(output, bytes);
  const t2 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(
    JSON.stringify({
      readMs: t1 - t0,
      writeMs: t2 - t1,
      totalMs: t2 - t0,
      cpuMs: (cpu.user + cpu.system) / 1000,
      maxRssMB: process.resourceUsage().maxRSS / 1024,
      heapMB: process.memoryUsage().heapUsed / 2 ** 20,
      samples: profile.sampleStack.length,
      stacks: profile.stackParent.length,
      bytes: bytes.length,
    }) + '\n',
  );
  process.exit(0);
}

const N = arg('samples', 1_000_000);
const runs = arg('runs', 3);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-convert-bench-'));

/** A deterministic call tree: fan-out 3 below a few roots, named functions in a handful of files. */
function synthetic(n: number): CpuProfile {
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const nodes: CpuProfileNode[] = [
    { id: 1, callFrame: { functionName: '(root)', scriptId: 0, url: '', lineNumber: -1, columnNumber: -1 }, children: [] },
  ];
  const add = (parent: CpuProfileNode, depth: number): void => {
    const id = nodes.length + 1;
    const fn = id % 400;
    const node: CpuProfileNode = {
      id,
      children: [],
      callFrame: {
        functionName: `fn${fn}`,
        scriptId: 1,
        url: `file:///srv/app/src/module${fn % 13}.js`,
        lineNumber: fn * 3,
        columnNumber: 4,
      },
    };
    nodes.push(node);
    parent.children!.push(id);
    if (depth < 16 && nodes.length < 2000) for (let c = 0; c < (depth < 6 ? 3 : 1); c++) if (rand() < 0.8) add(node, depth + 1);
  };
  while (nodes.length < 2000) add(nodes[0]!, 1);
  for (const name of ['(program)', '(garbage collector)', '(idle)']) {
    nodes.push({ id: nodes.length + 1, callFrame: { functionName: name, scriptId: 0, url: '', lineNumber: -1, columnNumber: -1 } });
    nodes[0]!.children!.push(nodes.length);
  }
  const samples = new Array<number>(n);
  const timeDeltas = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    samples[i] = 2 + Math.floor(rand() ** 2 * (nodes.length - 1));
    timeDeltas[i] = 1000 + Math.floor(rand() * 50) - 25;
  }
  const startTime = 1_000_000;
  return { nodes, startTime, endTime: startTime + timeDeltas.reduce((a, b) => a + b, 0) + 1000, samples, timeDeltas };
}

const input = path.join(dir, 'big.cpuprofile');
fs.writeFileSync(input, JSON.stringify(synthetic(N)));
console.log(
  `${N.toLocaleString('en')} samples, ${(fs.statSync(input).size / 2 ** 20).toFixed(1)} MiB .cpuprofile; Node ${process.version}, ${os.cpus().length} cores, load average ${os.loadavg()[0]!.toFixed(1)}; medians of ${runs} runs`,
);
console.log('output   read ms  write ms  total ms  CPU ms  peak RSS MB  output');
for (const [format, ext] of [
  ['folded', '.folded'],
  ['pprof', '.pb.gz'],
] as const) {
  const results = [];
  for (let r = 0; r < runs; r++) {
    const out = path.join(dir, `big${ext}`);
    const c = spawnSync(process.execPath, ['--import', 'tsx', import.meta.filename, '--child', format, input, out], { encoding: 'utf8' });
    if (c.status !== 0) throw new Error(c.stderr);
    results.push(
      JSON.parse(c.stdout) as { readMs: number; writeMs: number; totalMs: number; cpuMs: number; maxRssMB: number; bytes: number },
    );
  }
  const med = (k: 'readMs' | 'writeMs' | 'totalMs' | 'cpuMs' | 'maxRssMB') =>
    results.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(results.length / 2)]!;
  console.log(
    `${format.padEnd(7)} ${med('readMs').toFixed(0).padStart(8)} ${med('writeMs').toFixed(0).padStart(9)} ${med('totalMs').toFixed(0).padStart(9)} ${med('cpuMs').toFixed(0).padStart(7)} ${med('maxRssMB').toFixed(0).padStart(12)}  ${(results[0]!.bytes / 1024).toFixed(0)} KiB`,
  );
}
fs.rmSync(dir, { recursive: true, force: true });
