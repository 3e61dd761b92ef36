import type { CommandModule } from 'yargs';
import { bench, formatReport, type BenchMode } from '../../bench/index.js';
import { progressBar } from '../../bench/progress.js';

interface BenchArgs {
  file: string;
  runs?: number;
  warmup?: number;
  mode: BenchMode;
  out?: string;
  json: boolean;
  strategy?: string[];
  interval: number;
  timeout?: number;
}

export const benchCommand: CommandModule<object, BenchArgs> = {
  command: 'bench <file>',
  describe: 'run the strategies of a bench file side by side, with statistics and a trace or profile per strategy',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'bench file (.ts or .js) exporting defineBench({...})' })
      .option('runs', { type: 'number', describe: 'measured runs per strategy (default: the bench\'s, else 10)' })
      .option('warmup', { type: 'number', describe: 'unmeasured runs per strategy first (default: the bench\'s, else 1)' })
      .option('mode', { choices: ['off', 'trace', 'sample'] as const, default: 'off' as BenchMode, describe: 'observe runs with the tracer or the sampler' })
      .option('out', { type: 'string', describe: 'output folder for traces/profiles (default stackscope-out/<bench>)' })
      .option('timeout', { type: 'number', describe: 'seconds a run may take before its strategy fails (default: the bench\'s, else 60)' })
      .option('strategy', { type: 'string', array: true, describe: 'run only this strategy (repeatable)' })
      .option('interval', { type: 'number', default: 200, describe: 'sampling interval in µs (sample mode; finer than `sample`\'s: runs are short)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON' }),
  handler: async (args) => {
    const bar = progressBar();
    const report = await bench({
      file: args.file, runs: args.runs, warmup: args.warmup, mode: args.mode, outDir: args.out,
      strategies: args.strategy, sampleIntervalUs: args.interval, timeout: args.timeout,
      onProgress: (d, t, label) => bar.update(d, t, label),
    }).finally(() => bar.done());
    process.stdout.write(args.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
    // A failed (thrown, timed out) strategy fails the command (for CI), after the others were measured and reported.
    if (report.failures.length) process.exitCode = 1;
  },
};
