import type { CommandModule } from 'yargs';
import { compareProfiles, formatCompare } from '../../compare/index.js';
import { UserError } from '../../util/errors.js';

interface CompareArgs {
  a: string;
  b: string;
  json: boolean;
  top?: number;
}

export const compareCommand: CommandModule<object, CompareArgs> = {
  command: 'compare <a> <b>',
  describe: 'compare two traces or profiles (trace.json, .cpuprofile, folded) function by function',
  builder: (y) =>
    y
      .positional('a', { type: 'string', demandOption: true, describe: 'the baseline' })
      .positional('b', { type: 'string', demandOption: true, describe: 'the one to compare with it' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
      .option('top', { type: 'number', describe: 'rows to show (default: 20 in text, all in JSON)' }),
  handler: (args) => {
    if (args.top !== undefined && !(Number.isInteger(args.top) && args.top > 0)) throw new UserError('--top must be a positive integer');
    const diff = compareProfiles(args.a, args.b);
    if (args.json) {
      process.stdout.write(JSON.stringify({ ...diff, rows: diff.rows.slice(0, args.top) }, null, 2) + '\n');
    } else {
      process.stdout.write(formatCompare(diff, args.top ?? 20));
    }
  },
};
