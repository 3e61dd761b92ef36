#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { UserError, oneLine } from '../util/errors.js';
import { traceCommand } from './commands/trace.js';
import { sampleCommand } from './commands/sample.js';
import { attachCommand } from './commands/attach.js';
import { benchCommand } from './commands/bench.js';
import { compareCommand } from './commands/compare.js';

// Thin by design: each command parses its options and calls the library API.
const cli = yargs(hideBin(process.argv))
  .scriptName('stackscope')
  .usage('$0 <command> [options]')
  .command(traceCommand)
  .command(sampleCommand)
  .command(attachCommand)
  .command(benchCommand)
  .command(compareCommand)
  .demandCommand(1, 'Give a command: trace, sample, attach, bench or compare (see --help).')
  .strict()
  .parserConfiguration({ 'populate--': true, 'halt-at-non-option': false })
  .help()
  .alias('h', 'help')
  .version()
  .wrap(Math.min(110, process.stdout.columns || 100))
  .fail((msg, err) => {
    // Bad options and user errors: one line, non-zero exit, no stack.
    process.stderr.write(`stackscope: ${msg ?? oneLine(err)}\n`);
    process.exit(err instanceof UserError ? err.exitCode : 2);
  });

try {
  await cli.parseAsync();
} catch (err) {
  if (err instanceof UserError) {
    process.stderr.write(`stackscope: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  process.stderr.write(`stackscope: internal error: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(70);
}
