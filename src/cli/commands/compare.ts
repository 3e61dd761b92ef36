import type { CommandModule } from 'yargs';
import { compareProfiles, formatCompare } from '../../compare/index.js';
import { UserError } from '../../util/errors.js';
import { single } from '../options.js';

interface CompareArgs {
  a?: string;
  b?: string;
  json: boolean;
  top?: number;
  process?: string;
  'a-process'?: string;
  'b-process'?: string;
}

const COMPARE = 'Compare two traces or profiles (trace, .cpuprofile, pprof, folded) function by function';

export const compareCommand: CommandModule<object, CompareArgs> = {
  // [a] [b], not <a> <b>: missing files get their own message, and an unknown option is named as such.
  command: 'compare [a] [b]',
  describe: COMPARE,
  builder: (y) =>
    y
      .usage(`$0 compare <a> <b> [options]\n\n${COMPARE}`)
      .example('$0 compare before.json after.json', 'per function: calls, self and total time, the change')
      .example('$0 compare trace.json cpu.cpuprofile --json', 'a trace against a sampled profile, as JSON')
      .epilogue(
        [
          "A bench's compare.trace.json holds one process per strategy; without a choice, their times add up.",
          'Two strategies of it:',
          '  stackscope compare DIR/compare.trace.json DIR/compare.trace.json --a-process fast --b-process slow',
          'One strategy before and after a change:',
          '  stackscope compare old/compare.trace.json new/compare.trace.json --process batched',
        ].join('\n'),
      )
      .positional('a', { type: 'string', describe: 'the baseline' })
      .positional('b', { type: 'string', describe: 'the one to compare with it' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON on stdout' })
      .option('top', single({ type: 'number', describe: 'rows to show (default: 20 in text, all in JSON)' }))
      .option('a-process', single({ type: 'string', describe: 'trace A: only this process (name or pid), e.g. one strategy' }))
      .option('b-process', single({ type: 'string', describe: 'trace B: only this process (name or pid)' }))
      .option('process', single({ type: 'string', describe: 'both traces: only this process (name or pid)' })),
  handler: (args) => {
    if (args.a === undefined || args.b === undefined) {
      throw new UserError(
        `missing ${args.a === undefined ? 'files' : 'second file'}: stackscope compare <a> <b> (traces, .cpuprofiles, pprof or folded files)`,
      );
    }
    if (args.top !== undefined && !(Number.isInteger(args.top) && args.top > 0)) throw new UserError('--top must be a positive integer');
    const diff = compareProfiles(args.a, args.b, {
      aProcess: args['a-process'] ?? args.process,
      bProcess: args['b-process'] ?? args.process,
    });
    if (args.json) {
      process.stdout.write(JSON.stringify({ ...diff, rows: diff.rows.slice(0, args.top) }, null, 2) + '\n');
    } else {
      process.stdout.write(formatCompare(diff, args.top ?? 20));
    }
  },
};
