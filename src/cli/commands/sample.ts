import type { CommandModule } from 'yargs';
import { UserError } from '../../util/errors.js';
import { parseInterval, parseSeconds, resolveOutput } from '../../sample/options.js';
import { runSampled } from '../../sample/run.js';

interface SampleArgs {
  interval: string;
  duration?: string;
  output?: string;
  format?: string;
  script?: string;
  args?: string[];
  '--'?: string[];
}

export const sampleCommand: CommandModule<object, SampleArgs> = {
  command: 'sample [script] [args..]',
  describe: 'Run a script under the V8 sampling profiler and write a profile (trace, cpuprofile, folded or pprof)',
  builder: (y) => y
    .positional('script', { type: 'string', describe: 'JavaScript or TypeScript file to run (after --)' })
    .positional('args', { type: 'string', array: true })
    .option('interval', { type: 'string', default: '1ms', describe: 'sampling interval (e.g. 1ms, 500us)' })
    .option('duration', { type: 'string', describe: 'stop sampling after S seconds (the program keeps running)' })
    .option('output', { alias: 'o', type: 'string', describe: 'output file (format inferred from .json, .cpuprofile, .folded/.txt, .pb.gz)' })
    .option('format', { type: 'string', describe: 'trace | cpuprofile | folded | pprof' })
    .example('$0 sample -o profile.pb.gz -- app.ts --port 3000', ''),
  handler: async (argv) => {
    const rest = argv['--'] ?? [];
    const positional = [argv.script, ...(argv.args ?? [])].filter((x): x is string => x !== undefined);
    const [script, ...args] = [...positional, ...rest.map(String)];
    if (!script) throw new UserError('missing script: stackscope sample [options] -- script [args]');
    const intervalUs = parseInterval(argv.interval);
    const durationS = argv.duration !== undefined ? parseSeconds(argv.duration) : undefined;
    const { file, format } = resolveOutput(argv.output, argv.format);
    const result = await runSampled({ script, args, intervalUs, durationS, output: file, format });
    process.stderr.write(`stackscope: ${result.summary}\n`);
    if (result.signal) {
      process.kill(process.pid, result.signal);
      return;
    }
    process.exit(result.code ?? 1);
  },
};
