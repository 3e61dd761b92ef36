/**
 * What the commands share: one spelling of the output option, options that take one value, and the
 * parsing of commands that run a program (`trace`, `sample`), whose options stop at the script.
 */
import type { Argv, CommandModule, Options } from 'yargs';
import { yargs } from './yargs.js';
import { UserError } from '../util/errors.js';
import { ownVersion } from '../util/version.js';

/** A repeated option keeps its last value (`-o a.json -o b.json` writes b.json), as in most CLIs. */
const lastWins = (v: unknown): unknown => (Array.isArray(v) ? v[v.length - 1] : v);

/** An option that takes exactly one value: `--top` alone is an error, a repeat keeps the last. */
export function single<O extends Options>(o: O): O {
  // (typed as given: yargs would infer the option's type from `coerce`, which keeps it as it is)
  return { requiresArg: true, coerce: lastWins, ...o } as O;
}

/** `-o/--out`, also spelled `--output`: the output option has one name on every command. */
export function outOption(describe: string) {
  return single({ alias: ['o', 'output'], type: 'string', describe } as const);
}

/** `--json` of the commands whose stdout is not theirs (trace, sample) or that end with a summary line (attach). */
export const JSON_SUMMARY = {
  type: 'boolean',
  default: false,
  describe: 'print the summary as one JSON line on stderr (stdout belongs to the program)',
} as const;

/** The value of a string option that may be given more than once (`--strategy a --strategy b`). */
export const REPEATABLE = { type: 'string', array: true, requiresArg: true } as const;

type Passthrough = { '--'?: unknown[] };

/** A program command; `run` takes what follows its name on the command line. */
export type ProgramCommand = CommandModule<object, Passthrough> & { run(tokens: string[]): Promise<void> };

/**
 * `stackscope NAME [options] <script> [args..]`: everything after NAME is handed to `run`, which
 * parses it with `programParser`. yargs cannot stop at the script inside a command
 * (halt-at-non-option there halts at the command word itself), hence the second parser.
 */
export function programCommand(name: string, describe: string, run: (tokens: string[]) => Promise<void>): ProgramCommand {
  return {
    run,
    command: `${name} [script] [args..]`,
    describe,
    builder: (y: Argv) => y.parserConfiguration({ 'halt-at-non-option': true, 'populate--': true }).help(false) as Argv<Passthrough>,
    handler: async (argv) => {
      const tokens = (argv['--'] ?? []).map(String);
      if (tokens[0] === name) tokens.shift();
      // `stackscope -h trace`: the top-level parser took the -h meant for this command.
      const { help } = argv as { help?: unknown };
      if (help !== undefined && help !== false) tokens.unshift('--help');
      await run(tokens);
    },
  };
}

/** The parser of a program command's own options: they stop at the script, the rest is the program's. */
export function programParser(tokens: string[], name: string, describe: string): Argv {
  return yargs(tokens)
    .scriptName(`stackscope ${name}`)
    .usage(`$0 [options] <script> [args..]\n\n${describe}`)
    .parserConfiguration({
      'halt-at-non-option': true,
      'populate--': true,
      'greedy-arrays': false,
      'parse-numbers': false,
      'parse-positional-numbers': false,
    })
    .strict()
    .version(ownVersion())
    .help()
    .alias('h', 'help')
    .wrap(Math.min(120, process.stdout.columns || 120))
    .fail((msg, err) => {
      throw err instanceof UserError ? err : new UserError(msg ?? (err ? err.message : 'bad arguments'));
    });
}

/** The script and its arguments: the first word that is not an option, and all after it. */
export function programOf(argv: Passthrough, name: string): { script: string; args: string[] } {
  const [script, ...args] = (argv['--'] ?? []).map(String);
  if (!script) throw new UserError(`missing script: give the script to run: stackscope ${name} [options] <script> [args..]`);
  return { script, args };
}

/** Leaves the way the program left: the same signal, or the same exit code. */
export function exitAsProgram(code: number | null, signal: NodeJS.Signals | null): void {
  if (signal) {
    process.kill(process.pid, signal);
    return;
  }
  process.exitCode = code ?? 1;
}
