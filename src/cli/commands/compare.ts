import type { CommandModule } from 'yargs';
import { compareProfiles, formatCompare } from '../../compare/index.js';
import { UserError } from '../../util/errors.js';

interface CompareArgs {
  a: string;
  b: string;
  json: boolean;
  top?: number;
  process?: string;
  'a-process'?: string;
  'b-process'?: string;
}

export const compareCommand: CommandModule<object, CompareArgs> = {
  command: 'compare <a> <b>',
  describe: 'compare two traces or profiles (trace.json, .cpuprofile, folded) function by function',
  builder: (y) =>
    y
      .epilogue(
        [
          "A bench's compare.trace.json holds one process per strategy; without a choice, their times add up.",
          'Two strategies of it:',
          '  stackscope compare DIR/compare.trace.json DIR/compare.trace.json --a-process fast --b-process slow',
          'One strategy before and after a change:',
          '  stackscope compare old/compare.trace.json new/compare.trace.json --process batched',
        ].join('\n'),
      )
      .positional('a', { type: 'string', demandOption: true, describe: 'the baseline' })
      .positional('b', { type: 'string', demandOption: true, describe: 'the one to compare with it' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
      .option('top', { type: 'number', describe: 'rows to show (default: 20 in text, all in JSON)' })
      .option('a-process', { type: 'string', describe: 'trace A: only this process (name or pid), e.g. one strategy' })
      .option('b-process', { type: 'string', describe: 'trace B: only this process (name or pid)' })
      .option('process', { type: 'string', describe: 'both traces: only this process (name or pid)' }),
  handler: (args) => {
    if (args.top !== undefined && !(Number.isInteger(args.top) && args.top > 0)) throw new UserError('--top must be a positive integer');
    const diff = compareProfiles(args.a, args.b, { aProcess: args['a-process'] ?? args.process, bProcess: args['b-process'] ?? args.process });
    if (args.json) {
      process.stdout.write(JSON.stringify({ ...diff, rows: diff.rows.slice(0, args.top) }, null, 2) + '\n');
    } else {
      process.stdout.write(formatCompare(diff, args.top ?? 20));
    }
  },
};
