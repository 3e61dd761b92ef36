/**
 * What the commands share: one spelling of the output option, options that take one value, and the
 * parsing of commands that run a program (`trace`, `sample`), whose options stop at the script.
 */
import type { Argv, CommandModule, Options } from 'yargs';
import { yargs, yargsParser } from './yargs.js';
import { UserError } from '../util/errors.js';
import { ownVersion } from '../util/version.js';

/** A repeated option keeps its last value (`-o a.json -o b.json` writes b.json), as in most CLIs. */
const lastWins = (v: unknown): unknown => (Array.isArray(v) ? v[v.length - 1] : v);

/** An option that takes exactly one value: `--top` alone is an error, a repeat keeps the last. */
export function single<O extends Options>(o: O): O {
  // (typed as given: yargs would infer the option's type from `coerce`, which keeps it as it is)
  return { requiresArg: true, coerce: lastWins, ...o } as O;
}

/**
 * A number option of a program command: one value, read as a number by the command's own check
 * (`Number.isFinite`). yargs would read an empty value (`--min-duration ''`, `--max-depth=`) as 0;
 * here it is not a number. A `--no-` form stays `false`, for parseProgramArgs to refuse.
 */
export function numberOption(describe: string) {
  const coerce = (v: unknown): unknown => {
    const last = lastWins(v);
    return typeof last === 'string' ? (last.trim() === '' ? NaN : Number(last)) : last;
  };
  return single({ type: 'string', coerce, describe } as const);
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
 * parses it with `parseProgramArgs`. yargs cannot stop at the script inside a command
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

/** A program command's options, help text and examples: one table for both parsers below. */
export interface ProgramSpec {
  name: string;
  describe: string;
  epilogue: string;
  options: Record<string, Options>;
  examples: Array<[command: string, description: string]>;
}

const PROGRAM_PARSING = {
  'halt-at-non-option': true,
  // `--out.x y` is an unknown option, not an object in `out`
  'dot-notation': false,
  'populate--': true,
  'greedy-arrays': false,
  'parse-numbers': false,
  'parse-positional-numbers': false,
} as const;

/**
 * Parses `[options] <script> [args..]` of a program command: options stop at the script, the rest
 * (in `--`) is the program's. Ordinary command lines take the quick path (`quickParse`: yargs'
 * own tokenizer on the same table, ~4 ms instead of ~30 ms for loading and running yargs, before
 * the program can start); help, mistakes and anything unusual go through yargs, which explains them.
 */
export async function parseProgramArgs<T extends Passthrough>(tokens: string[], spec: ProgramSpec): Promise<T> {
  return (quickParse(tokens, spec.options) ?? (await yargsParse(tokens, spec))) as T;
}

/** The whole of yargs on a program command's tokens: help, --version, every check and message. */
export async function yargsParse(tokens: string[], spec: ProgramSpec): Promise<Record<string, unknown> & Passthrough> {
  let y = yargs(tokens)
    .scriptName(`stackscope ${spec.name}`)
    .usage(`$0 [options] <script> [args..]\n\n${spec.describe}`)
    .parserConfiguration(PROGRAM_PARSING)
    .strict()
    .version(ownVersion())
    .help()
    .alias('h', 'help')
    .wrap(Math.min(120, process.stdout.columns || 120))
    .fail((msg, err) => {
      throw err instanceof UserError ? err : new UserError(msg ?? (err ? err.message : 'bad arguments'));
    })
    .epilogue(spec.epilogue)
    .options(spec.options);
  for (const [command, description] of spec.examples) y = y.example(command, description);
  const argv = (await y.parseAsync()) as Record<string, unknown> & Passthrough;
  // yargs reads `--no-X` as X = false for every option; only the booleans have that form.
  for (const [key, o] of Object.entries(spec.options)) {
    const v = argv[key];
    if (o.type !== 'boolean' && [v].flat().some((x) => typeof x === 'boolean')) {
      throw new UserError(`--${key} takes a value: there is no --no-${key}`);
    }
  }
  return argv;
}

/**
 * The quick path of parseProgramArgs: only when every token before the script is one of the
 * table's options spelled as declared (`--out x`, `-o x`, `--out=x`, a boolean alone), each
 * option that takes a value has one, and yargs-parser finds nothing wrong. Otherwise undefined,
 * and yargs parses (help, --version, negations, unknown options, missing values: its messages).
 * Same result as yargs for the table's keys and aliases (test/cli-parse.test.ts holds both to it).
 *
 * The scan below must find the script exactly where yargs-parser stops reading options: it only
 * checks the tokens before that point, so wherever the two could split the tokens differently
 * (a boolean followed by `true`/`false`, which yargs-parser takes as its value) it steps aside.
 */
export function quickParse(tokens: string[], options: Record<string, Options>): (Record<string, unknown> & Passthrough) | undefined {
  const byName = new Map<string, Options>();
  for (const [key, o] of Object.entries(options)) {
    for (const name of [key, ...[o.alias ?? []].flat()]) byName.set(name, o);
  }
  let script = -1;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === '--') {
      script = i + 1;
      break;
    }
    if (!t.startsWith('-') || t === '-') {
      script = i;
      break;
    }
    const long = t.startsWith('--');
    const eq = t.indexOf('=');
    const name = t.slice(long ? 2 : 1, eq < 0 ? undefined : eq);
    // `-o` is one letter and `--out` more: `-oj` (two short options) and `--o` are yargs' to read.
    if (long ? name.length < 2 : name.length !== 1) return undefined;
    const o = byName.get(name);
    if (!o) return undefined;
    if (o.type === 'boolean') {
      const next = tokens[i + 1];
      if (eq >= 0 || next === 'true' || next === 'false') return undefined;
      continue;
    }
    if (eq >= 0) {
      // `-o=` / `--out=` with nothing after it: yargs says what is wrong
      if (eq === t.length - 1) return undefined;
      continue;
    }
    const value = tokens[i + 1];
    if (value === undefined || value.startsWith('-')) return undefined;
    i++;
  }
  if (script < 0 || script >= tokens.length) return undefined;
  const alias: Record<string, string[]> = {};
  const types: Record<'string' | 'number' | 'boolean' | 'array', string[]> = { string: [], number: [], boolean: [], array: [] };
  const defaults: Record<string, unknown> = {};
  const coerce: Record<string, (v: unknown) => unknown> = {};
  for (const [key, o] of Object.entries(options)) {
    if (o.alias !== undefined) alias[key] = [o.alias].flat();
    if (o.type === 'string' || o.type === 'number' || o.type === 'boolean') types[o.type].push(key);
    if (o.array) types.array.push(key);
    if (o.default !== undefined) defaults[key] = o.default;
    if (o.coerce) coerce[key] = o.coerce as (v: unknown) => unknown;
  }
  const parsed = yargsParser().detailed(tokens, { configuration: PROGRAM_PARSING, alias, default: defaults, coerce, ...types });
  if (parsed.error) return undefined;
  return parsed.argv as Record<string, unknown> & Passthrough;
}

/**
 * The script and its arguments: the first word that is not an option, and all after it. Without
 * one, the message says which option took the last word as its value (`--min-duration app.js`,
 * `--sample true`), the usual way a script goes missing.
 */
export function programOf(argv: Passthrough, name: string, tokens: string[] = []): { script: string; args: string[] } {
  const [script, ...args] = (argv['--'] ?? []).map(String);
  if (!script) {
    const [option, last] = tokens.slice(-2);
    const took =
      option !== undefined &&
      last !== undefined &&
      option.startsWith('-') &&
      option !== '--' &&
      !option.includes('=') &&
      !last.startsWith('-')
        ? ` (${option} took ${JSON.stringify(last)} as its value)`
        : '';
    throw new UserError(`missing script: give the script to run: stackscope ${name} [options] <script> [args..]${took}`);
  }
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
