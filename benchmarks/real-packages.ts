/**
 * Tracing real packages (devDependencies), end to end, against the untraced run in the same
 * invocation:
 *   - marked rendering a large Markdown document, prettier formatting a large file, tsc
 *     type-checking a small project (benchmarks/real/), each run as `node workload.mjs` and
 *     traced with `--include-package PKG` and default settings (runTrace, what the CLI runs:
 *     the program, then writing the trace), and with `--throttle 0` (every call timed, as before
 *     throttling), interleaved; medians of the wall times, their ratios;
 *   - the trace writer on the recordings of those traced runs: each run's thread dumps are written
 *     again as trace.json and trace.json.gz by a fresh process (what the CLI does after the
 *     program ends): events/s (wall, and CPU time of the writing process), bytes per event;
 *   - `stackscope trace --sample` on the same workloads, the whole command (the CLI): the
 *     workload script's own code traced, the package under it sampled every 1 ms (issue goal for
 *     "trace own code + sample": under 1.5x the untraced run);
 *   - start-up: a hello-world script traced vs plain `node`.
 * `--baseline DIR` also writes the same dumps with the writer of another stackscope checkout
 * (built), for a before/after on identical recordings.
 *
 *   npm run build && node --import tsx benchmarks/real-packages.ts [--runs 3] [--baseline DIR] [--json]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median, timed as timedIn } from './lib/timed.js';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);

if (argv[0] === '--write-only') {
  await writeOnly(argv[1]!, argv[2]!, argv[3]!);
  process.exit(0);
}

const runs = Math.max(1, Number(opt('--runs')) || 3);
const baseline = opt('--baseline');
const asJson = argv.includes('--json');
const cli = path.join(root, 'dist/cli/index.js');
if (!fs.existsSync(cli)) {
  process.stderr.write('real-packages: build first (npm run build)\n');
  process.exit(2);
}

interface Workload {
  name: string;
  pkg: string;
  script: string;
  args: string[];
}
const workloads: Workload[] = [
  { name: 'marked: render a 400-section document', pkg: 'marked', script: 'benchmarks/real/marked.mjs', args: ['400'] },
  { name: 'prettier: format 150 functions', pkg: 'prettier', script: 'benchmarks/real/prettier.mjs', args: ['150'] },
  { name: 'tsc: type-check a 2-file project', pkg: 'typescript', script: 'benchmarks/real/tsc.mjs', args: [] },
];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-real-'));

/** Wall ms and stdout of `node ARGS` run from the repository. */
const timed = (args: string[]) => timedIn(args, root);

interface WriteFigures {
  ms: number;
  cpuMs: number;
  events: number;
  bytes: number;
  gzMs: number;
  gzBytes: number;
}

/** In a fresh process: read the dumps in `dumpDir` and write them as a trace with `writerRoot`'s build. */
async function writeOnly(writerRoot: string, dumpDir: string, out: string): Promise<void> {
  const dist = (p: string) => pathToFileURL(path.join(writerRoot, 'dist', p)).href;
  const { writeTrace } = (await import(dist('trace/build.js'))) as typeof import('../src/trace/build.js');
  const { readDumpDir } = (await import(dist('recorder/dump.js'))) as typeof import('../src/recorder/dump.js');
  const { groupProcesses } = (await import(dist('recorder/group.js'))) as typeof import('../src/recorder/group.js');
  const processes = groupProcesses(readDumpDir(dumpDir));
  const time = (file: string, gzip: boolean) => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    // An older writer has no gzip option; it writes plain JSON, which the caller notices by size.
    const res = writeTrace(file, processes, { gzip } as never);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    return { ms, cpuMs: (cpu.user + cpu.system) / 1000, events: res.events, bytes: fs.statSync(file).size };
  };
  const plain = time(out, false);
  const gz = time(`${out}.gz`, true);
  const figures: WriteFigures = { ...plain, gzMs: gz.ms, gzBytes: gz.bytes };
  process.stdout.write(JSON.stringify(figures) + '\n');
}

function writeWith(writerRoot: string, dumpDir: string): WriteFigures {
  const out = path.join(tmp, 'w.json');
  const r = timed([
    path.join(root, 'node_modules/tsx/dist/cli.mjs'),
    fileURLToPath(import.meta.url),
    '--write-only',
    writerRoot,
    dumpDir,
    out,
  ]);
  fs.rmSync(out, { force: true });
  fs.rmSync(`${out}.gz`, { force: true });
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as WriteFigures;
}

interface Row {
  name: string;
  untracedMs: number;
  tracedMs: number;
  ratio: number;
  /** traced with `--throttle 0` */
  unthrottledMs: number;
  unthrottledRatio: number;
  /** functions throttled (default settings) */
  throttled: number;
  /** `stackscope trace --sample` (own code traced, the package sampled), the whole command */
  sampledMs: number;
  sampledRatio: number;
  events: number;
  dropped: boolean;
  writer: { eventsPerS: number; eventsPerCpuS: number; bytesPerEvent: number; gzBytesPerEvent: number; gzEventsPerS: number };
  baseline?: { eventsPerS: number; eventsPerCpuS: number; bytesPerEvent: number };
}

function loadAverage(): string {
  return os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
}

const loadBefore = loadAverage();
const rows: Row[] = [];
for (const w of workloads) {
  const u: number[] = [],
    t: number[] = [],
    t0: number[] = [],
    sm: number[] = [];
  const writes: WriteFigures[] = [],
    base: WriteFigures[] = [];
  let events = 0,
    dropped = false,
    throttled = 0;
  for (let i = 0; i < runs; i++) {
    const plain = timed([w.script, ...w.args]);
    u.push(plain.ms);
    const dumpDir = path.join(tmp, `dumps-${i}`);
    const out = path.join(tmp, 't.json');
    // End to end as the CLI runs it (program, then writing the trace); the dumps are kept for the writer.
    const traced = timed(['benchmarks/real/run-traced.mjs', dumpDir, out, w.pkg, 'default', w.script, ...w.args]);
    t.push(traced.ms);
    if (traced.stdout !== plain.stdout) throw new Error(`${w.name}: traced output differs from untraced`);
    const dumpDir0 = path.join(tmp, `dumps0-${i}`);
    const all = timed(['benchmarks/real/run-traced.mjs', dumpDir0, path.join(tmp, 't0.json'), w.pkg, '0', w.script, ...w.args]);
    fs.rmSync(dumpDir0, { recursive: true, force: true });
    if (all.stdout !== plain.stdout) throw new Error(`${w.name}: traced output differs from untraced`);
    t0.push(all.ms);
    const sampled = timed([cli, 'trace', '--sample', '-o', path.join(tmp, 's.json'), w.script, ...w.args]);
    if (sampled.stdout !== plain.stdout) throw new Error(`${w.name}: output under trace --sample differs from untraced`);
    sm.push(sampled.ms);
    writes.push(writeWith(root, dumpDir));
    if (baseline) base.push(writeWith(path.resolve(baseline), dumpDir));
    const summary = readSummary(out);
    events = summary.events;
    dropped ||= summary.dropped;
    throttled = summary.throttled;
    fs.rmSync(dumpDir, { recursive: true, force: true });
  }
  const perS = (f: WriteFigures[], key: 'ms' | 'cpuMs' | 'gzMs') => median(f.map((x) => x.events / (x[key] / 1000)));
  const perEvent = (f: WriteFigures[], key: 'bytes' | 'gzBytes') => median(f.map((x) => x[key] / x.events));
  rows.push({
    name: w.name,
    untracedMs: median(u),
    tracedMs: median(t),
    ratio: median(t) / median(u),
    unthrottledMs: median(t0),
    unthrottledRatio: median(t0) / median(u),
    throttled,
    sampledMs: median(sm),
    sampledRatio: median(sm) / median(u),
    events,
    dropped,
    writer: {
      eventsPerS: perS(writes, 'ms'),
      eventsPerCpuS: perS(writes, 'cpuMs'),
      bytesPerEvent: perEvent(writes, 'bytes'),
      gzBytesPerEvent: perEvent(writes, 'gzBytes'),
      gzEventsPerS: perS(writes, 'gzMs'),
    },
    baseline: baseline
      ? { eventsPerS: perS(base, 'ms'), eventsPerCpuS: perS(base, 'cpuMs'), bytesPerEvent: perEvent(base, 'bytes') }
      : undefined,
  });
}

/** events, whether the ring overflowed and how many functions were throttled, from the trace's metadata */
function readSummary(file: string): { events: number; dropped: boolean; throttled: number } {
  const data = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    traceEvents: unknown[];
    metadata?: { droppedRecords?: number; throttled?: { functions: unknown[] }[] };
  };
  return {
    events: data.traceEvents.length,
    dropped: (data.metadata?.droppedRecords ?? 0) > 0,
    throttled: (data.metadata?.throttled ?? []).reduce((n, t) => n + t.functions.length, 0),
  };
}

// Start-up: what `stackscope trace` adds to a script that does nothing.
const hello = 'benchmarks/real/hello.mjs';
const su: number[] = [],
  st: number[] = [];
for (let i = 0; i < Math.max(5, runs * 2); i++) {
  su.push(timed([hello]).ms);
  st.push(timed([cli, 'trace', '-o', path.join(tmp, 'h.json'), hello]).ms);
}
const startup = { plainMs: median(su), tracedMs: median(st), addedMs: median(st) - median(su) };
fs.rmSync(tmp, { recursive: true, force: true });

const result = {
  node: process.version,
  runs,
  cpus: os.cpus().length,
  loadAverage: { before: loadBefore, after: loadAverage() },
  workloads: rows,
  startup,
};
if (asJson) {
  console.log(JSON.stringify(result, null, 2));
} else {
  const f = (x: number, d = 0) => x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  console.log(
    `real packages on Node ${process.version}, ${os.cpus().length} CPUs, load average ${result.loadAverage.before} → ${result.loadAverage.after}; medians of ${runs} interleaved runs`,
  );
  for (const r of rows) {
    console.log(
      `${r.name}: untraced ${f(r.untracedMs)} ms, traced ${f(r.tracedMs)} ms, ratio ${f(r.ratio, 2)}× (${f(r.events)} events${r.dropped ? ', ring full: oldest calls dropped' : ''}, ${f(r.throttled)} functions throttled)`,
    );
    console.log(`  traced with --throttle 0 (every call timed): ${f(r.unthrottledMs)} ms, ratio ${f(r.unthrottledRatio, 2)}×`);
    console.log(`  trace own code + sample (whole command): ${f(r.sampledMs)} ms, ratio ${f(r.sampledRatio, 2)}×`);
    console.log(
      `  writer: ${f(r.writer.eventsPerS)} events/s (${f(r.writer.eventsPerCpuS)} per CPU-second), ${f(r.writer.bytesPerEvent, 1)} bytes/event; .json.gz ${f(r.writer.gzBytesPerEvent, 1)} bytes/event at ${f(r.writer.gzEventsPerS)} events/s`,
    );
    if (r.baseline)
      console.log(
        `  baseline writer: ${f(r.baseline.eventsPerS)} events/s (${f(r.baseline.eventsPerCpuS)} per CPU-second), ${f(r.baseline.bytesPerEvent, 1)} bytes/event`,
      );
  }
  console.log(
    `start-up (hello world): node ${f(startup.plainMs)} ms, stackscope trace ${f(startup.tracedMs)} ms, +${f(startup.addedMs)} ms`,
  );
}
