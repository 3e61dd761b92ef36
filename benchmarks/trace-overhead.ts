/**
 * What tracing costs, measured against the untraced run in the same invocation:
 *   - ns added per traced call, on a call-heavy fixture (recursive fib: nothing but calls);
 *   - slowdown of a realistic workload (JSON round trip, sort, grouping, string building).
 * The traced runs go through the real preload: instrumenter load hooks + recorder runtime
 * (the same as `stackscope trace`, minus converting the dumps to trace.json, which happens after
 * the program and is not part of its run time).
 * Each fixture times its own workload (median of in-process rounds after warm-up), so process
 * start-up and instrumentation at load time are excluded; runs are interleaved untraced/traced
 * and the medians of the runs are compared.
 *
 *   node --import tsx benchmarks/trace-overhead.ts [--runs 7] [--json]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median } from './lib/timed.js';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const preload = path.join(root, 'dist/trace/preload.js');
const argv = process.argv.slice(2);
const runs = Math.max(5, Number(argv[argv.indexOf('--runs') + 1]) || 7);
const asJson = argv.includes('--json');

if (!fs.existsSync(preload)) {
  process.stderr.write('trace-overhead: build first (npm run build)\n');
  process.exit(2);
}

interface Sample {
  ms: number;
  calls?: number;
}

// A no-op subscriber to the `stackscope:call` tracing channel: what another tool listening to the tracer costs.
const SUBSCRIBER =
  'data:text/javascript,import dc from "node:diagnostics_channel"; let n = 0; const f = () => { n++; }; dc.tracingChannel("stackscope:call").subscribe({ start: f, end: f, asyncStart: f, asyncEnd: f, error: f });';

function runOnce(fixture: string, args: string[], traced: boolean, subscribed = false): Sample {
  const dumpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-bench-'));
  try {
    const env = { ...process.env };
    const nodeArgs: string[] = [];
    if (traced) {
      env.STACKSCOPE_TRACE = JSON.stringify({
        dumpDir,
        include: [],
        exclude: [],
        cwd: root,
        typescript: false,
        // Every call recorded: a ring overwritten when full (a raised minimum would leave the later
        // short calls unrecorded, cheaper and uncounted), of the former default size.
        bufferSize: 1_000_000,
        onFull: 'drop-oldest',
        cacheDir: path.join(os.tmpdir(), 'ss-bench-cache'),
      });
      nodeArgs.push('--import', pathToFileURL(preload).href);
      if (subscribed) nodeArgs.push('--import', SUBSCRIBER);
    } else {
      delete env.STACKSCOPE_TRACE;
    }
    const r = spawnSync(process.execPath, [...nodeArgs, path.join(root, fixture), ...args], { cwd: root, env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${fixture} failed (${r.status}): ${r.stderr}`);
    if (traced && !fs.readdirSync(dumpDir).some((f) => f.endsWith('.ssdump')))
      throw new Error('traced run wrote no dump: not really traced');
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as Sample;
  } finally {
    fs.rmSync(dumpDir, { recursive: true, force: true });
  }
}

function measure(
  fixture: string,
  args: string[],
  withSubscriber = false,
): { untraced: number; traced: number; subscribed?: number; calls?: number } {
  const u: number[] = [];
  const t: number[] = [];
  const sub: number[] = [];
  let calls: number | undefined;
  for (let i = 0; i < runs; i++) {
    u.push(runOnce(fixture, args, false).ms);
    const s = runOnce(fixture, args, true);
    t.push(s.ms);
    calls = s.calls;
    if (withSubscriber) sub.push(runOnce(fixture, args, true, true).ms);
  }
  return { untraced: median(u), traced: median(t), subscribed: withSubscriber ? median(sub) : undefined, calls };
}

/**
 * ns per read of the clock the recorder reads twice per traced call (a bound performance.now, as
 * in src/recorder/runtime.ts), in a fresh process, minus the same loop without the read: the floor
 * of what a traced call can cost on this machine.
 */
function clockReadNs(): number {
  const script = `const now = performance.now.bind(performance); const N = 2e6; let s = 0, ns = 0;
    for (let r = 0; r < 4; r++) {
      const t0 = process.hrtime.bigint(); for (let i = 0; i < N; i++) s += now(); const t1 = process.hrtime.bigint();
      for (let i = 0; i < N; i++) s += i; const t2 = process.hrtime.bigint();
      ns = (Number(t1 - t0) - Number(t2 - t1)) / N;
    }
    if (s === 0.5) console.error(s); // s is used: the loops are not optimised away
    process.stdout.write(String(ns));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`the clock measurement failed: ${r.stderr}`);
  return Number(r.stdout);
}

const calls = measure('fixtures/trace/rec-bench-calls.mjs', ['25', '7'], true);
const clockNs = median(Array.from({ length: runs }, clockReadNs));
const mix = measure('fixtures/trace/rec-bench-mix.mjs', ['20000', '7']);
const nsPerCall = ((calls.traced - calls.untraced) * 1e6) / calls.calls!;

const result = {
  node: process.version,
  runs,
  callHeavy: {
    fixture: 'fib(25)',
    calls: calls.calls,
    untracedMs: calls.untraced,
    tracedMs: calls.traced,
    ratio: calls.traced / calls.untraced,
    nsPerCallAdded: nsPerCall,
    /** two clock reads per call: the part of nsPerCallAdded no recorder change can remove */
    clockReadNs: clockNs,
  },
  callHeavyWithCallSubscriber: {
    tracedMs: calls.subscribed!,
    ratio: calls.subscribed! / calls.untraced,
    nsPerCallAdded: ((calls.subscribed! - calls.untraced) * 1e6) / calls.calls!,
  },
  realistic: {
    fixture: 'json/sort/group/format, 20k records',
    calls: mix.calls,
    untracedMs: mix.untraced,
    tracedMs: mix.traced,
    ratio: mix.traced / mix.untraced,
    nsPerCallAdded: mix.calls ? ((mix.traced - mix.untraced) * 1e6) / mix.calls : undefined,
  },
};

if (asJson) {
  console.log(JSON.stringify(result, null, 2));
} else {
  const f = (x: number, d = 2) => x.toFixed(d);
  const rows = [
    ['workload', 'untraced ms', 'traced ms', 'ratio', 'ns added/call'],
    [
      `call-heavy ${result.callHeavy.fixture}, ${calls.calls} calls`,
      f(calls.untraced),
      f(calls.traced),
      `${f(result.callHeavy.ratio, 1)}x`,
      f(nsPerCall, 1),
    ],
    [
      '  same, with a stackscope:call subscriber',
      f(calls.untraced),
      f(calls.subscribed!),
      `${f(result.callHeavyWithCallSubscriber.ratio, 1)}x`,
      f(result.callHeavyWithCallSubscriber.nsPerCallAdded, 1),
    ],
    [
      `realistic ${result.realistic.fixture}, ${mix.calls ?? '?'} calls`,
      f(mix.untraced),
      f(mix.traced),
      `${f(result.realistic.ratio, 2)}x`,
      result.realistic.nsPerCallAdded === undefined ? '' : f(result.realistic.nsPerCallAdded, 1),
    ],
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  console.log(`trace overhead on Node ${process.version}, median of ${runs} interleaved runs each`);
  for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
  console.log(
    `a clock read (bound performance.now, fresh process): ${f(clockNs, 1)} ns; a traced call reads it twice (${f(2 * clockNs, 1)} ns)`,
  );
}
