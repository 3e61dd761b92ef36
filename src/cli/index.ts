#!/usr/bin/env node
import type { CommandModule } from 'yargs';
import { hideBin, yargs } from './yargs.js';
import type { ProgramCommand } from './options.js';
import { UserError, oneLine } from '../util/errors.js';
import { ownVersion } from '../util/version.js';

/**
 * Each command's module is loaded only when that command runs (or for the top-level help): the
 * start-up of `stackscope trace` does not pay for the sampler, the inspector client or bench.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each command has its own argument types
const LOADERS: Record<string, () => Promise<CommandModule<any, any>>> = {
  trace: async () => (await import('./commands/trace.js')).traceCommand,
  sample: async () => (await import('./commands/sample.js')).sampleCommand,
  attach: async () => (await import('./commands/attach.js')).attachCommand,
  bench: async () => (await import('./commands/bench.js')).benchCommand,
  compare: async () => (await import('./commands/compare.js')).compareCommand,
  convert: async () => (await import('./commands/convert.js')).convertCommand,
  collect: async () => (await import('./commands/collect.js')).collectCommand,
  query: async () => (await import('./commands/query.js')).queryCommand,
  ui: async () => (await import('./commands/ui.js')).uiCommand,
  serve: async () => (await import('./commands/serve.js')).serveCommand,
};
const COMMANDS = Object.keys(LOADERS);
const GIVE_A_COMMAND = `give a command: ${COMMANDS.join(', ')} (see stackscope --help)`;

/**
 * Bad input and every other failure: exactly one line on stderr, a non-zero exit, no stack (yargs
 * writes some messages over two lines: they are joined). STACKSCOPE_DEBUG=1 shows the stack of an
 * unexpected error.
 */
function fail(err: unknown): never {
  const text = (err instanceof Error ? err.message : String(err))
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ')
    .replace(
      /^Not enough arguments following: (\S+)$/,
      (_, o: string) =>
        `${o.length === 1 ? '-' : '--'}${o} needs a value${o === 'node-arg' ? ' (a node flag goes as --node-arg=--flag)' : ''}`,
    );
  if (err instanceof UserError) {
    process.stderr.write(`stackscope: ${text}\n`);
    process.exit(err.exitCode);
  }
  const debug = process.env.STACKSCOPE_DEBUG && err instanceof Error ? `\n${err.stack}` : ' (STACKSCOPE_DEBUG=1 shows where)';
  process.stderr.write(`stackscope: internal error: ${text || oneLine(err)}${debug}\n`);
  process.exit(70);
}

// `stackscope help trace` is `stackscope trace --help`
if (process.argv[2] === 'help' && process.argv.length === 4 && COMMANDS.includes(process.argv[3]!)) {
  process.argv.splice(2, 2, process.argv[3]!, '--help');
}

// Before yargs: with no command (`stackscope -- app.js`) it would exit 0 in silence, and it calls an
// unknown command an "argument".
const given = process.argv.slice(2);
const first = given.findIndex((a) => !a.startsWith('-') || a === '--');
const before = first < 0 ? given : given.slice(0, first);
const word = first < 0 ? undefined : given[first];
const topLevel = before.some((a) => a === '-h' || a === '--help' || a === '--version') || word === 'help';
if (!topLevel) {
  if (word === undefined || word === '--') fail(new UserError(GIVE_A_COMMAND));
  if (!COMMANDS.includes(word)) fail(new UserError(`unknown command "${word}": use ${COMMANDS.join(', ')} (see stackscope --help)`));
}

// A program command first (`stackscope trace app.js`): the top-level parser would only hand it all
// that follows its name (see programCommand), so it gets it at once and the program starts sooner.
const direct = !topLevel && first === 0 ? await LOADERS[word!]!() : undefined;
if (direct && 'run' in direct) {
  try {
    await (direct as ProgramCommand).run(given.slice(1));
  } catch (err) {
    fail(err);
  }
} else {
  await parseAll(direct);
}

/** Thin by design: each command parses its options and calls the library API. */
async function parseAll(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each command has its own argument types
  loaded: CommandModule<any, any> | undefined,
): Promise<void> {
  const cli = yargs(hideBin(process.argv)).scriptName('stackscope').usage('$0 <command> [options]');
  const commands = loaded ? [loaded] : await Promise.all((topLevel ? COMMANDS : [word!]).map((name) => LOADERS[name]!()));
  for (const command of commands) cli.command(command);
  cli
    .demandCommand(1, GIVE_A_COMMAND)
    .example('$0 trace app.js', 'every call traced into trace.json, for Chrome DevTools')
    .example('$0 sample -o cpu.pb.gz app.ts', 'a sampled profile (pprof) of a TypeScript program')
    .example('$0 attach 12345 -o prod.folded', 'sample a running Node process for 10 s')
    .example('$0 bench mailbox.bench.ts', 'strategies side by side, with statistics')
    .example('$0 compare a.json b.json', 'which functions got slower')
    .example('$0 convert cpu.cpuprofile -o cpu.pb.gz', 'from any profile format to another')
    .example('$0 collect --host 127.0.0.1 --ports 9000-9015', 'poll production agents into stackscope.db')
    .example('$0 query --from -15m | flamegraph.pl > cpu.svg', 'the merged profile of the last 15 minutes')
    .example('$0 ui --db stackscope.db', 'a web page: flamegraph of any time range, compare, export')
    .epilogue('Every command has --help. Output files are -o/--out everywhere (--output works too).')
    .strict()
    .parserConfiguration({ 'populate--': true, 'halt-at-non-option': false })
    .help()
    .alias('h', 'help')
    .version(ownVersion())
    .wrap(Math.min(120, process.stdout.columns || 120))
    // msg: yargs found the input bad; no msg: a command failed with err
    .fail((msg, err) => fail(msg ? new UserError(msg) : err));

  try {
    await cli.parseAsync();
  } catch (err) {
    fail(err);
  }
}
