#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { UserError, oneLine } from '../util/errors.js';
import { traceCommand } from './commands/trace.js';
import { sampleCommand } from './commands/sample.js';
import { attachCommand } from './commands/attach.js';
import { benchCommand } from './commands/bench.js';
import { compareCommand } from './commands/compare.js';

const COMMANDS = ['trace', 'sample', 'attach', 'bench', 'compare'];
const GIVE_A_COMMAND = `give a command: ${COMMANDS.join(', ')} (see stackscope --help)`;

// Thin by design: each command parses its options and calls the library API.
const cli = yargs(hideBin(process.argv))
  .scriptName('stackscope')
  .usage('$0 <command> [options]')
  .command(traceCommand)
  .command(sampleCommand)
  .command(attachCommand)
  .command(benchCommand)
  .command(compareCommand)
  .demandCommand(1, GIVE_A_COMMAND)
  .example('$0 trace app.js', 'every call traced into trace.json, for Chrome DevTools')
  .example('$0 sample -o cpu.pb.gz app.ts', 'a sampled profile (pprof) of a TypeScript program')
  .example('$0 attach 12345 -o prod.folded', 'sample a running Node process for 10 s')
  .example('$0 bench mailbox.bench.ts', 'strategies side by side, with statistics')
  .example('$0 compare a.json b.json', 'which functions got slower')
  .epilogue('Every command has --help. Output files are -o/--out everywhere (--output works too).')
  .strict()
  .parserConfiguration({ 'populate--': true, 'halt-at-non-option': false })
  .help()
  .alias('h', 'help')
  .version()
  .wrap(Math.min(120, process.stdout.columns || 120))
  // msg: yargs found the input bad; no msg: a command failed with err
  .fail((msg, err) => fail(msg ? new UserError(msg) : err));

/**
 * Bad input and every other failure: exactly one line on stderr, a non-zero exit, no stack (yargs
 * writes some messages over two lines: they are joined). STACKSCOPE_DEBUG=1 shows the stack of an
 * unexpected error.
 */
function fail(err: unknown): never {
  const text = (err instanceof Error ? err.message : String(err)).split('\n').map((l) => l.trim()).filter(Boolean).join(' ')
    .replace(/^Not enough arguments following: (\S+)$/, (_, o: string) =>
      `${o.length === 1 ? '-' : '--'}${o} needs a value${o === 'node-arg' ? ' (a node flag goes as --node-arg=--flag)' : ''}`);
  if (err instanceof UserError) {
    process.stderr.write(`stackscope: ${text}\n`);
    process.exit(err.exitCode);
  }
  const debug = process.env.STACKSCOPE_DEBUG && err instanceof Error ? `\n${err.stack}` : ' (STACKSCOPE_DEBUG=1 shows where)';
  process.stderr.write(`stackscope: internal error: ${text || oneLine(err)}${debug}\n`);
  process.exit(70);
}

// Before yargs: with no command (`stackscope -- app.js`) it would exit 0 in silence, and it calls an
// unknown command an "argument".
const given = process.argv.slice(2);
const first = given.findIndex((a) => !a.startsWith('-') || a === '--');
const before = first < 0 ? given : given.slice(0, first);
if (!before.some((a) => a === '-h' || a === '--help' || a === '--version')) {
  const word = first < 0 ? undefined : given[first];
  if (word === undefined || word === '--') fail(new UserError(GIVE_A_COMMAND));
  if (!COMMANDS.includes(word) && word !== 'help') fail(new UserError(`unknown command "${word}": use ${COMMANDS.join(', ')} (see stackscope --help)`));
}

try {
  await cli.parseAsync();
} catch (err) {
  fail(err);
}
