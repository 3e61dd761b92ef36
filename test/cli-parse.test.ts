/**
 * The two parsers of a program command's options (src/cli/options.ts): the quick path, taken for
 * ordinary command lines so the program starts without loading yargs, must give exactly what yargs
 * gives for every option of `trace` and `sample`, and must step aside (undefined) wherever yargs
 * has something to say: help, --version, unknown or misspelled options, missing values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quickParse, yargsParse, type ProgramSpec } from '../src/cli/options.js';
import { TRACE_SPEC } from '../src/cli/commands/trace.js';
import { SAMPLE_SPEC } from '../src/cli/commands/sample.js';

/** What a command reads of a parse: every option under each of its names, and the program's part. */
function seen(argv: Record<string, unknown>, spec: ProgramSpec): Record<string, unknown> {
  const out: Record<string, unknown> = { '--': argv['--'] };
  for (const [key, o] of Object.entries(spec.options)) for (const name of [key, ...[o.alias ?? []].flat()]) out[name] = argv[name];
  return out;
}

const TRACE_QUICK: string[][] = [
  ['app.js'],
  ['app.js', '--port', '8080', '-o', 'x'],
  ['-o', 'run.json', 'server.ts', '--port', '8080'],
  ['--out=run.json', '--output', 'b.json', 'app.js'],
  ['--sample', '--interval', '200us', 'app.js'],
  ['--sample', '--async', '--json', 'app.mjs', 'a', 'b'],
  ['--min-duration', '50', '--', 'app.mjs', 'in.txt'],
  ['--min-duration', 'abc', 'app.js'],
  ['--min-duration', ' ', 'app.js'],
  ['--max-depth', '', '--', 'app.js'],
  ['--buffer-size', '1000', '--max-depth=3', '--on-full', 'drop-oldest', 'app.js'],
  ['--include', 'src/**', '--include=lib/**', '--exclude', 'gen/**', 'app.js'],
  ['--include-package', 'marked', '--include-package', '@scope/name', 'app.js'],
  ['--node-arg=--enable-source-maps', '--node-arg=--max-old-space-size=64', 'app.js', '--sample'],
  ['--', '--weird-name.js'],
  ['-', 'app.js'],
];

const TRACE_YARGS: string[][] = [
  ['--help', 'app.js'],
  ['-h'],
  ['--version'],
  ['--outt', 'x', 'app.js'],
  ['--no-sample', 'app.js'],
  ['--sample=false', 'app.js'],
  ['-o'],
  ['-o', '--sample', 'app.js'],
  ['--min-duration', '-5', 'app.js'],
  ['--out', 'x.json'],
  ['--minDuration', '5', 'app.js'],
  ['-oj', 'app.js'],
  ['--o', 'x', 'app.js'],
  ['-o=', 'x.json', 'app.js'],
  ['--out=', 'app.js'],
  ['--no-out', 'app.js'],
  ['--out.x', 'y', 'app.js'],
  // yargs-parser takes a true/false after a boolean as its value and reads on: the options after
  // it must be checked by yargs
  ['--sample', 'true', '--bogus', 'x', 'app.js'],
  ['--json', 'false', '--no-out', 'app.js'],
  ['--async', 'false', '--version'],
];

test('the quick path gives what yargs gives, for every option of trace', async () => {
  for (const tokens of TRACE_QUICK) {
    const quick = quickParse(tokens, TRACE_SPEC.options);
    assert.ok(quick, `quick path not taken for ${tokens.join(' ')}`);
    const full = await yargsParse(tokens, TRACE_SPEC);
    assert.deepEqual(seen(quick, TRACE_SPEC), seen(full, TRACE_SPEC), tokens.join(' '));
  }
});

test('the quick path gives what yargs gives, for every option of sample', async () => {
  for (const tokens of [
    ['app.js'],
    ['-o', 'cpu.pb.gz', 'server.ts', '--port', '3000'],
    ['--format', 'folded', '--interval', '500us', '--duration', '2', '--json', 'app.js'],
    ['--interval=200us', '--node-arg=--max-old-space-size=4096', '--', 'app.js', '-x'],
  ]) {
    const quick = quickParse(tokens, SAMPLE_SPEC.options);
    assert.ok(quick, `quick path not taken for ${tokens.join(' ')}`);
    assert.deepEqual(seen(quick, SAMPLE_SPEC), seen(await yargsParse(tokens, SAMPLE_SPEC), SAMPLE_SPEC), tokens.join(' '));
  }
});

test('an empty number is not 0, on both paths', async () => {
  for (const tokens of [
    ['--min-duration', ' ', 'app.js'],
    ['--max-depth', '', '--', 'app.js'],
  ]) {
    const key = tokens[0]!.slice(2);
    assert.ok(Number.isNaN(quickParse(tokens, TRACE_SPEC.options)?.[key]), tokens.join(' '));
    assert.ok(Number.isNaN((await yargsParse(tokens, TRACE_SPEC))[key]), tokens.join(' '));
  }
  // `--max-depth=` (nothing after the =) is left to yargs, which reads it the same way
  assert.equal(quickParse(['--max-depth=', 'app.js'], TRACE_SPEC.options), undefined);
  assert.ok(Number.isNaN((await yargsParse(['--max-depth=', 'app.js'], TRACE_SPEC))['max-depth']));
});

test('help, --version, unknown spellings and missing values are left to yargs', () => {
  for (const tokens of TRACE_YARGS) assert.equal(quickParse(tokens, TRACE_SPEC.options), undefined, tokens.join(' '));
  // a sample option is not a trace option
  assert.equal(quickParse(['--format', 'folded', 'app.js'], TRACE_SPEC.options), undefined);
});
