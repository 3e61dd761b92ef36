import type { CommandModule } from 'yargs';
import { compareProfiles, formatCompare } from '../../compare/index.js';

interface CompareArgs {
  a: string;
  b: string;
  json: boolean;
  top: number;
}

export const compareCommand: CommandModule<object, CompareArgs> = {
  command: 'compare <a> <b>',
  describe: 'compare two traces or profiles (trace.json, .cpuprofile, folded) function by function',
  builder: (y) =>
    y
      .positional('a', { type: 'string', demandOption: true, describe: 'the baseline' })
      .positional('b', { type: 'string', demandOption: true, describe: 'the one to compare with it' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
      .option('top', { type: 'number', default: 20, describe: 'rows to show (text output)' }),
  handler: (args) => {
    const diff = compareProfiles(args.a, args.b);
    if (args.json) {
      process.stdout.write(JSON.stringify({ ...diff, rows: diff.rows.slice(0, args.top > 0 ? args.top : undefined) }, null, 2) + '\n');
    } else {
      process.stdout.write(formatCompare(diff, args.top > 0 ? args.top : diff.rows.length));
    }
  },
};
