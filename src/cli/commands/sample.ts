import { MAX_TIMER_S, parseInterval, parseSeconds, resolveOutput } from '../../sample/options.js';
import { runSampled, type SampleRunResult } from '../../sample/run.js';
import { JSON_SUMMARY, REPEATABLE, exitAsProgram, outOption, parseProgramArgs, programCommand, programOf, single } from '../options.js';
import type { ProgramSpec } from '../options.js';

interface SampleArgs {
  interval: string;
  duration?: string;
  out?: string;
  format?: string;
  'node-arg'?: string[];
  json: boolean;
  '--'?: unknown[];
}

const SAMPLE = "Run a program under V8's sampling profiler; write a profile (4 formats)";

/** `sample`'s options, help and examples. */
export const SAMPLE_SPEC: ProgramSpec = {
  name: 'sample',
  describe: SAMPLE,
  epilogue:
    'Options go before the script; everything after the script is passed to the program.\n' +
    'The format follows --format, else the extension of -o: .json (Chrome trace), .cpuprofile, .folded/.txt, .pb.gz (pprof).\n' +
    'stackscope prints its summary on stderr once the program has ended (with --json: one JSON line).',
  options: {
    out: outOption('output file (default profile.cpuprofile; an existing file is replaced only by a complete profile)'),
    format: single({ type: 'string', describe: 'trace | cpuprofile | folded | pprof (default: from the -o extension)' }),
    interval: single({ type: 'string', default: '1ms', describe: 'sampling interval, 50us to 1s (e.g. 1ms, 500us)' }),
    duration: single({ type: 'string', describe: 'stop sampling after S seconds (the program keeps running)' }),
    'node-arg': { ...REPEATABLE, describe: 'extra option for node itself (repeatable), e.g. --node-arg=--max-old-space-size=4096' },
    json: JSON_SUMMARY,
  },
  examples: [
    ['$0 app.js', 'sample every 1 ms, write profile.cpuprofile'],
    ['$0 -o cpu.pb.gz server.ts --port 3000', 'pprof; --port 3000 is for the program'],
    ['$0 -o cpu.folded --interval 500us app.js', 'folded stacks, for flamegraph.pl cpu.folded'],
  ],
};

/**
 * `stackscope sample [options] <script> [args..]`: like `trace`, options stop at the script and
 * stdout stays the program's; the summary goes to stderr after the program has ended.
 */
export const sampleCommand = programCommand('sample', SAMPLE, async (tokens) => {
  const argv = await parseProgramArgs<SampleArgs>(tokens, SAMPLE_SPEC);
  const { script, args } = programOf(argv, 'sample', tokens);
  const intervalUs = parseInterval(argv.interval);
  const durationS = argv.duration !== undefined ? parseSeconds(argv.duration, 'duration', MAX_TIMER_S) : undefined;
  const { file, format } = resolveOutput(argv.out, argv.format);
  const result = await runSampled({ script, args, intervalUs, durationS, output: file, format, nodeArgs: argv['node-arg'] });
  process.stderr.write(argv.json ? JSON.stringify(sampleJson(result, format)) + '\n' : `stackscope: ${result.summary}\n`);
  exitAsProgram(result.code, result.signal);
});

function sampleJson(r: SampleRunResult, format: string): Record<string, unknown> {
  return {
    profile: r.output ?? null,
    format,
    samples: r.samples,
    seconds: r.seconds ?? null,
    intervalUs: r.intervalUs,
    exitCode: r.code,
    signal: r.signal,
    ...(r.output ? {} : { error: r.summary }),
  };
}
