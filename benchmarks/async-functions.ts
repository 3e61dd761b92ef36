/**
 * Tracing a program made of many async functions and a generator, end to end, against the
 * untraced run in the same invocation: what the recorder's async hooks (fn/su/re/fx, called at
 * every async call, await and yield) cost in code that is mostly awaits. The program is generated
 * (a fixed seed): FUNCTIONS distinct async functions, each doing a little arithmetic and awaiting
 * up to two others further down (a call graph six levels deep from 40 entry points), and a
 * generator iterated between rounds. Many distinct functions matter: what V8 does with the hooks
 * inside each of them (inline them or call them) shows in the sum of all their code.
 * Runs `node work.mjs` and `stackscope trace -o … work.mjs` (from the program's folder, so it is
 * the user's own code), and with `--baseline DIR` another build's `stackscope trace`, interleaved;
 * medians of the wall times, their ratios; the traced output must equal the untraced one.
 *
 *   npm run build && node --import tsx benchmarks/async-functions.ts [--runs 7] [--baseline DIR] [--json]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, timed as timedIn } from './lib/timed.js';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const runs = Math.max(1, Number(opt('--runs')) || 7);
const baseline = opt('--baseline');
const asJson = argv.includes('--json');
const FUNCTIONS = 300;
const ROUNDS = 1500;

const cli = (dir: string) => path.join(path.resolve(dir), 'dist/cli/index.js');
for (const dir of [root, ...(baseline ? [baseline] : [])]) {
  if (!fs.existsSync(cli(dir))) {
    process.stderr.write(`async-functions: build ${dir} first (npm run build)\n`);
    process.exit(2);
  }
}

/** The workload's source: deterministic for a given seed. */
function workload(seed: number): string {
  let state = seed;
  const below = (n: number) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state % n;
  };
  const out: string[] = [];
  for (let i = 0; i < FUNCTIONS; i++) {
    out.push(`async function f${i}(x, d) {`, `  let s = x * ${(i % 7) + 1} + (x >> ${i % 5});`);
    out.push(`  for (let k = 0; k < ${(i % 4) + 1}; k++) s = (s * 31 + k) | 0;`);
    if (i < FUNCTIONS - 1) out.push(`  if (d > 0) s += await f${i + 1 + below(FUNCTIONS - i - 1)}(s & 1023, d - 1);`);
    if (i < FUNCTIONS - 2) out.push(`  if (d > 1) s ^= await f${i + 1 + below(FUNCTIONS - i - 1)}((s >> 3) & 1023, d - 2);`);
    out.push('  return s & 0xffff;', '}');
  }
  out.push(
    'function* multiples(n) {',
    '  for (let i = 0; i < n; i++) yield i * 3;',
    '}',
    `const entries = [${Array.from({ length: 40 }, (_, i) => `f${i}`).join(', ')}];`,
    'let total = 0;',
    `for (let r = 0; r < ${ROUNDS}; r++) {`,
    '  for (let j = 0; j < 40; j++) total = (total + (await entries[j](r * 40 + j, 6))) | 0;',
    '  for (const v of multiples(50)) total = (total + v) | 0;',
    '}',
    "console.log('total', total);",
  );
  return out.join('\n') + '\n';
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-async-fns-'));
const script = path.join(tmp, 'work.mjs');
fs.writeFileSync(script, workload(7));

/** Wall ms and stdout of `node ARGS` run from the program's folder. */
const timed = (args: string[]) => timedIn(args, tmp);

const load = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
const loadBefore = load();
const untraced: number[] = [],
  traced: number[] = [],
  base: number[] = [];
for (let i = 0; i < runs; i++) {
  const plain = timed([script]);
  untraced.push(plain.ms);
  for (const [dir, into] of [[root, traced] as const, ...(baseline ? [[baseline, base] as const] : [])]) {
    const t = timed([cli(dir), 'trace', '-o', path.join(tmp, 'trace.json'), script]);
    if (t.stdout !== plain.stdout) throw new Error(`traced output differs from untraced (${dir})`);
    into.push(t.ms);
  }
  process.stderr.write(`run ${i + 1}/${runs} done\n`);
}
fs.rmSync(tmp, { recursive: true, force: true });

const result = {
  node: process.version,
  cpus: os.cpus().length,
  load: `${loadBefore} → ${load()}`,
  runs,
  functions: FUNCTIONS,
  untracedMs: median(untraced),
  tracedMs: median(traced),
  ratio: median(traced) / median(untraced),
  baseline: baseline ? { tracedMs: median(base), ratio: median(base) / median(untraced) } : undefined,
};
if (asJson) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
else {
  const f = (x: number) => Math.round(x).toLocaleString('en-US');
  process.stdout.write(
    `${FUNCTIONS} async functions and a generator on Node ${result.node}, ${result.cpus} CPUs, load average ${result.load}; medians of ${runs} interleaved runs\n` +
      `untraced ${f(result.untracedMs)} ms, traced ${f(result.tracedMs)} ms, ratio ${result.ratio.toFixed(2)}×\n` +
      (result.baseline
        ? `baseline (${baseline}) traced ${f(result.baseline.tracedMs)} ms, ratio ${result.baseline.ratio.toFixed(2)}×; this build / baseline ${(result.tracedMs / result.baseline.tracedMs).toFixed(2)}\n`
        : ''),
  );
}
