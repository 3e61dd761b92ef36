/**
 * What `stackscope trace --sample` costs.
 *
 * 1. Over plain `trace`, on the realistic fixture of benchmarks/trace-overhead.ts (JSON, sort,
 *    grouping, formatting; every function traced): the fixture times its own rounds (median after
 *    warm-up), so start-up and writing the trace are left out. Untraced, traced, traced + samples
 *    every 1 ms and every 200 µs, through the real preload, runs interleaved.
 * 2. End to end, on a real package workload (fixtures/trace-sample/parse-packages.mjs: the
 *    program's own code parses the files of installed packages with acorn and walks them with
 *    acorn-walk): the whole `stackscope trace --sample` command (start-up, profiler, writing
 *    trace.json) against `node` alone, and, for scale, tracing acorn and acorn-walk as well.
 *    Both the command's wall time and the job's own timing are reported.
 * 3. Start-up: a hello-world script under `stackscope trace` and `trace --sample` against plain
 *    `node` (issue goal: at most 150 ms over node), wall time and, on Linux, the CPU time of the
 *    whole command with its children (less sensitive to a busy machine than wall time).
 *
 * `--baseline DIR`: also runs parts 2 and 3 with the stackscope built in DIR (another checkout,
 * built), interleaved with this one, so a change is measured before/after in the same run.
 *
 *   node --import tsx benchmarks/trace-sample.ts [--runs 5] [--json] [--baseline DIR] [--skip-mix]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const preload = path.join(root, 'dist/trace/preload.js');
const cli = path.join(root, 'dist/cli/index.js');
const argv = process.argv.slice(2);
const runs = Math.max(3, Number(argv[argv.indexOf('--runs') + 1]) || 5);
const asJson = argv.includes('--json');
const baselineRoot = argv.includes('--baseline') ? path.resolve(argv[argv.indexOf('--baseline') + 1] ?? '') : undefined;
const baselineCli = baselineRoot ? path.join(baselineRoot, 'dist/cli/index.js') : undefined;
if (baselineCli && !fs.existsSync(baselineCli)) {
  process.stderr.write(`trace-sample: no built stackscope at ${baselineRoot} (dist/cli/index.js)\n`);
  process.exit(2);
}

if (!fs.existsSync(preload)) {
  process.stderr.write('trace-sample: build first (npm run build)\n');
  process.exit(2);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** One run of a self-timing fixture under the preload (or not): its reported ms. */
function fixtureMs(fixture: string, args: string[], mode: 'untraced' | 'traced' | number): number {
  const dumpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-bench-'));
  try {
    const env = { ...process.env };
    const nodeArgs: string[] = [];
    delete env.STACKSCOPE_TRACE;
    if (mode !== 'untraced') {
      env.STACKSCOPE_TRACE = JSON.stringify({
        dumpDir,
        include: [],
        exclude: [],
        cwd: root,
        typescript: false,
        cacheDir: path.join(os.tmpdir(), 'ss-bench-cache'),
        ...(typeof mode === 'number' ? { sampleIntervalUs: mode } : {}),
      });
      nodeArgs.push('--import', pathToFileURL(preload).href);
    }
    const r = spawnSync(process.execPath, [...nodeArgs, path.join(root, fixture), ...args], { cwd: root, env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${fixture} failed (${r.status}): ${r.stderr}`);
    const files = fs.readdirSync(dumpDir);
    if (mode !== 'untraced' && !files.some((f) => f.endsWith('.ssdump'))) throw new Error('traced run wrote no dump: not really traced');
    if (typeof mode === 'number' && !files.some((f) => f.endsWith('.samples.json'))) throw new Error('sampled run wrote no samples');
    return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { ms: number }).ms;
  } finally {
    fs.rmSync(dumpDir, { recursive: true, force: true });
  }
}

/**
 * CPU time (ms) of this process's waited-for children and their own waited-for children, from
 * /proc (Linux; 10 ms ticks): undefined elsewhere.
 */
function childrenCpuMs(): number | undefined {
  try {
    const f = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
    return ((Number(f[13]) + Number(f[14])) * 1000) / 100;
  } catch {
    return undefined;
  }
}

/** One run of a whole command: its wall ms, its CPU ms (with children), and its stdout. */
function command(cmd: string[], cwd = root): { wallMs: number; cpuMs?: number; stdout: string } {
  const c0 = childrenCpuMs();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, cmd, { cwd, encoding: 'utf8' });
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const c1 = childrenCpuMs();
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { wallMs, cpuMs: c0 === undefined || c1 === undefined ? undefined : c1 - c0, stdout: r.stdout };
}

/** One end-to-end run: wall ms of the whole command, and the job's own ms. */
function endToEnd(cmd: string[]): { wallMs: number; jobMs: number } {
  const { wallMs, stdout } = command(cmd);
  return { wallMs, jobMs: (JSON.parse(stdout.trim().split('\n').pop()!) as { ms: number }).ms };
}

// 1. Added cost of sampling over plain trace, realistic fixture.
const MIX = ['fixtures/trace/rec-bench-mix.mjs', ['20000', '7']] as const;
const modes = ['untraced', 'traced', 1000, 200] as const;
const skipMix = argv.includes('--skip-mix');
const mix = new Map<(typeof modes)[number], number[]>(modes.map((m) => [m, []]));
if (!skipMix) for (let i = 0; i < runs; i++) for (const m of modes) mix.get(m)!.push(fixtureMs(MIX[0], [...MIX[1]], m));
const mixMs = Object.fromEntries(modes.map((m) => [String(m), median(mix.get(m)!)])) as Record<string, number>;

// 2. End to end on a real package workload.
const out = path.join(os.tmpdir(), `ss-bench-trace-sample-${process.pid}.json`);
const JOB = ['fixtures/trace-sample/parse-packages.mjs', '1'];
const e2eModes: Record<string, string[]> = {
  untraced: [...JOB],
  'trace own code': [cli, 'trace', '-o', out, ...JOB],
  'trace own code + sample 1 ms': [cli, 'trace', '--sample', '-o', out, ...JOB],
  ...(baselineCli
    ? {
        'baseline: trace own code': [baselineCli, 'trace', '-o', out, ...JOB],
        'baseline: trace own code + sample 1 ms': [baselineCli, 'trace', '--sample', '-o', out, ...JOB],
      }
    : {}),
  'trace own code + acorn, acorn-walk': [
    cli,
    'trace',
    '--include',
    'node_modules/acorn/**',
    '--include',
    'node_modules/acorn-walk/**',
    '-o',
    out,
    ...JOB,
  ],
};
const e2e = new Map<string, Array<{ wallMs: number; jobMs: number }>>(Object.keys(e2eModes).map((k) => [k, []]));
try {
  for (let i = 0; i < runs; i++) for (const [k, cmd] of Object.entries(e2eModes)) e2e.get(k)!.push(endToEnd(cmd));
} finally {
  fs.rmSync(out, { force: true });
}
const e2eMs = Object.fromEntries(
  [...e2e].map(([k, xs]) => [k, { wallMs: median(xs.map((x) => x.wallMs)), jobMs: median(xs.map((x) => x.jobMs)) }]),
);
const base = e2eMs.untraced!;

// 3. Start-up: hello world, in a folder of its own (no node_modules: the transform cache is the
// user's, as for a script run anywhere).
const helloDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-bench-hello-'));
fs.writeFileSync(path.join(helloDir, 'hello.js'), "console.log('hello');\n");
const helloOut = path.join(helloDir, 'trace.json');
const startupModes: Record<string, string[]> = {
  node: ['hello.js'],
  trace: [cli, 'trace', '-o', helloOut, 'hello.js'],
  'trace --sample': [cli, 'trace', '--sample', '-o', helloOut, 'hello.js'],
  ...(baselineCli
    ? {
        'baseline: trace': [baselineCli, 'trace', '-o', helloOut, 'hello.js'],
        'baseline: trace --sample': [baselineCli, 'trace', '--sample', '-o', helloOut, 'hello.js'],
      }
    : {}),
};
const su = new Map<string, Array<{ wallMs: number; cpuMs?: number }>>(Object.keys(startupModes).map((k) => [k, []]));
const loadDuring: number[] = [os.loadavg()[0]!];
try {
  // one untimed round first: the transform cache is filled as a user's second run finds it
  for (const cmd of Object.values(startupModes)) command(cmd, helloDir);
  for (let i = 0; i < runs * 2; i++) for (const [k, cmd] of Object.entries(startupModes)) su.get(k)!.push(command(cmd, helloDir));
} finally {
  fs.rmSync(helloDir, { recursive: true, force: true });
}
loadDuring.push(os.loadavg()[0]!);
const cpuMedian = (xs: Array<{ cpuMs?: number }>) => (xs.every((x) => x.cpuMs !== undefined) ? median(xs.map((x) => x.cpuMs!)) : undefined);
const startupMs = Object.fromEntries(
  [...su].map(([k, xs]) => [k, { wallMs: median(xs.map((x) => x.wallMs)), cpuMs: cpuMedian(xs) }]),
) as Record<string, { wallMs: number; cpuMs?: number }>;
const plain = startupMs.node!;

const result = {
  node: process.version,
  runs,
  loadAverage: os.loadavg()[0],
  overTrace: skipMix
    ? undefined
    : {
        fixture: 'realistic: json/sort/group/format, 20k records, every function traced (ms per round, median)',
        untracedMs: mixMs.untraced,
        tracedMs: mixMs.traced,
        sampled1msMs: mixMs['1000'],
        sampled200usMs: mixMs['200'],
        added1ms: mixMs['1000']! / mixMs.traced! - 1,
        added200us: mixMs['200']! / mixMs.traced! - 1,
      },
  endToEnd: Object.fromEntries(
    Object.entries(e2eMs).map(([k, v]) => [k, { ...v, wallRatio: v.wallMs / base.wallMs, jobRatio: v.jobMs / base.jobMs }]),
  ),
  startup: {
    script: "hello world (console.log('hello'))",
    runs: runs * 2,
    loadAverage: loadDuring,
    ...Object.fromEntries(
      Object.entries(startupMs).map(([k, v]) => [
        k,
        {
          ...v,
          addedWallMs: v.wallMs - plain.wallMs,
          addedCpuMs: v.cpuMs === undefined || plain.cpuMs === undefined ? undefined : v.cpuMs - plain.cpuMs,
        },
      ]),
    ),
  },
};

if (asJson) {
  console.log(JSON.stringify(result, null, 2));
} else {
  const f = (x: number, d = 1) => x.toFixed(d);
  const pct = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)} %`;
  const o = result.overTrace;
  console.log(`trace --sample on Node ${process.version}, medians of ${runs} interleaved runs (load average ${f(result.loadAverage!, 1)})`);
  if (o) {
    console.log(`\n${o.fixture}`);
    console.log(
      `  untraced ${f(o.untracedMs!)} ms, traced ${f(o.tracedMs!)} ms, + sample 1 ms ${f(o.sampled1msMs!)} ms (${pct(o.added1ms)} over trace), + sample 200 µs ${f(o.sampled200usMs!)} ms (${pct(o.added200us)})`,
    );
  }
  console.log(`\nend to end, ${JOB[0]} (whole command / the job's own time, vs untraced):`);
  for (const [k, v] of Object.entries(result.endToEnd)) {
    console.log(
      `  ${k.padEnd(36)} ${f(v.wallMs, 0).padStart(6)} ms ${f(v.wallRatio, 2)}x   job ${f(v.jobMs, 0).padStart(6)} ms ${f(v.jobRatio, 2)}x`,
    );
  }
  console.log(
    `\nstart-up, ${result.startup.script}, medians of ${runs * 2} interleaved runs (load average ${loadDuring.map((x) => f(x, 1)).join(' → ')}):`,
  );
  for (const [k, v] of Object.entries(startupMs)) {
    const cpu = v.cpuMs === undefined ? '' : `   cpu ${f(v.cpuMs, 0).padStart(5)} ms (+${f(v.cpuMs - (plain.cpuMs ?? 0), 0)})`;
    console.log(`  ${k.padEnd(26)} wall ${f(v.wallMs, 0).padStart(5)} ms (+${f(v.wallMs - plain.wallMs, 0)})${cpu}`);
  }
}
