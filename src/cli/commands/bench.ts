import type { CommandModule } from 'yargs';
import { bench, formatReport, type BenchMode } from '../../bench/index.js';
import { statusLine } from '../progress.js';
import { parseInterval } from '../../sample/options.js';
import { UserError } from '../../util/errors.js';
import { REPEATABLE, outOption, single } from '../options.js';

interface BenchArgs {
  file?: string;
  runs?: number;
  warmup?: number;
  mode: BenchMode;
  out?: string;
  json: boolean;
  strategy?: string[];
  interval: string;
  sample: boolean;
  timeout?: number;
}

const BENCH = 'Run the strategies of a bench file side by side, with statistics';

export const benchCommand: CommandModule<object, BenchArgs> = {
  // [file], not <file>: a missing file gets its own message, and an unknown option is named as such.
  command: 'bench [file]',
  describe: BENCH,
  builder: (y) =>
    y
      .usage(`$0 bench <file> [options]\n\n${BENCH}`)
      .positional('file', { type: 'string', describe: 'bench file (.ts or .js) exporting defineBench({...})' })
      .option('runs', single({ type: 'number', describe: "measured runs per strategy (default: the bench's, else 10)" }))
      .option('warmup', single({ type: 'number', describe: "unmeasured runs per strategy first (default: the bench's, else 1)" }))
      .option(
        'mode',
        single({
          choices: ['off', 'trace', 'sample'] as const,
          default: 'off' as BenchMode,
          describe: 'observe runs with the tracer or the sampler',
        }),
      )
      .option('out', outOption('output folder for traces/profiles in trace and sample mode (default stackscope-out/<bench>)'))
      .option(
        'timeout',
        single({ type: 'number', describe: "seconds a run may take before its strategy fails (default: the bench's, else 60)" }),
      )
      .option('strategy', { ...REPEATABLE, describe: 'run only this strategy (repeatable)' })
      .option(
        'interval',
        single({
          type: 'string',
          default: '200',
          describe: "sampling interval in sample mode: 200us, 1ms, or a bare number of µs (finer than `sample`'s: runs are short)",
        }),
      )
      .option('sample', {
        type: 'boolean',
        default: false,
        describe: 'with --mode trace: also sample each traced run at --interval, drawn under its slices',
      })
      .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON on stdout' })
      .example('$0 bench app.bench.ts', 'time every strategy, print the table')
      .example('$0 bench app.bench.ts --mode trace -o out', 'also a trace per strategy, in out/'),
  handler: async (args) => {
    if (args.file === undefined) throw new UserError('missing bench file: stackscope bench <file> [options]');
    if (args.sample && args.mode !== 'trace') throw new UserError('--sample goes with --mode trace (--mode sample samples alone)');
    const line = statusLine(process.stderr, 50, 0);
    const report = await bench({
      file: args.file,
      runs: args.runs,
      warmup: args.warmup,
      mode: args.mode,
      outDir: args.out,
      strategies: args.strategy,
      sampleIntervalUs: benchInterval(args.interval),
      traceSample: args.sample,
      timeout: args.timeout,
      onProgress: (d, t, label) => line?.show(`${progressBar(d / t)} ${d}/${t} ${label}`, d >= t),
    }).finally(() => line?.end());
    process.stdout.write(args.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
    // A failed (thrown, timed out) strategy fails the command (for CI), after the others were measured and reported.
    if (report.failures.length) process.exitCode = 1;
  },
};

/** `[████░░░░]`: a 30-cell bar for a fraction done. */
function progressBar(fraction: number, width = 30): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}]`;
}

/** µs: a bare number is µs here (runs are short, so this is bench's unit), or a duration with its unit. */
function benchInterval(text: string): number {
  return /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : parseInterval(text, '--interval');
}
