import type { CommandModule } from 'yargs';
import { convertProfile, OUTPUT_FORMATS } from '../../convert/index.js';
import { UserError } from '../../util/errors.js';
import { outOption, single } from '../options.js';

interface ConvertArgs {
  input?: string;
  out?: string;
  format?: string;
  process?: string;
  json: boolean;
}

const CONVERT = 'Convert a profile between formats (trace, .cpuprofile, folded, pprof in; folded, pprof, speedscope, .cpuprofile out)';

export const convertCommand: CommandModule<object, ConvertArgs> = {
  command: 'convert [input]',
  describe: CONVERT,
  builder: (y) =>
    y
      .usage(`$0 convert <input> -o <output> [options]\n\n${CONVERT}`)
      .positional('input', { type: 'string', describe: 'trace.json, .cpuprofile, folded stacks or pprof (.pb.gz); told apart by content' })
      .option('out', outOption(`output file; format from .folded/.txt, .pb.gz, .speedscope.json, .cpuprofile`))
      .option('format', single({ type: 'string', describe: `${OUTPUT_FORMATS.join(' | ')} (default: from the -o extension)` }))
      .option('process', single({ type: 'string', describe: 'traces: only this process (name or pid)' }))
      .option('json', { type: 'boolean', default: false, describe: 'print the summary as JSON on stdout' })
      .example('$0 convert profile.cpuprofile -o cpu.pb.gz', 'for go tool pprof, Pyroscope, Parca')
      .example('$0 convert trace.json -o trace.folded', "a trace's self times (µs) as folded stacks, for flamegraph.pl")
      .example('$0 convert cpu.pb.gz -o cpu.speedscope.json', 'for speedscope.app')
      .example('$0 convert app.folded -o app.cpuprofile', 'for the DevTools Performance panel')
      .epilogue(
        [
          'Every output keeps the weight of every stack, except as said here (lossy parts):',
          "  → folded: counts only (a sampled profile's durations are dropped, a trace's µs rounded); no times, order, columns",
          '  → pprof: counts and CPU time per stack; no sample times or order, no columns',
          '  → speedscope: weights in order (time where known, else counts); no timestamps',
          '  → .cpuprofile: from folded or pprof, sample times are made up at the interval (1 ms when unknown);',
          '    from a trace, one sample per call slice with its self time; V8 node ids and line ticks are not kept',
          '  trace in: call slices become self-time samples; no output keeps call counts',
          'Lossless round trips (same weight per stack): .cpuprofile → .cpuprofile, pprof; folded → any → folded;',
          'pprof → pprof, .cpuprofile. Each conversion prints what it did not keep.',
        ].join('\n'),
      ),
  handler: (args) => {
    if (args.input === undefined) throw new UserError('missing input: stackscope convert <input> -o <output>');
    if (args.out === undefined)
      throw new UserError('missing output: stackscope convert <input> -o <output> (.folded, .pb.gz, .speedscope.json, .cpuprofile)');
    const r = convertProfile(args.input, args.out, { format: args.format, process: args.process });
    if (args.json) {
      process.stdout.write(JSON.stringify(r) + '\n');
      return;
    }
    // A trace's samples are its call slices, weighted by self time.
    const what =
      r.unit === 'samples'
        ? `${Math.round(r.totalWeight)} samples`
        : `${r.samples} ${r.inputFormat === 'trace' ? 'call slices' : 'samples'}, ${Math.round(r.totalWeight)} ${r.unit === 'microseconds' ? 'µs' : r.unit}`;
    const lines = [`${r.input} (${r.inputFormat}, ${what}) → ${r.output} (${r.format})`];
    if (r.lost.length) lines.push(`not kept: ${r.lost.join('; ')}`);
    for (const n of r.notes) lines.push(`note: ${n}`);
    process.stdout.write(lines.join('\n') + '\n');
  },
};
