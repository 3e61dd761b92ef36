/**
 * yargs and its tokenizer yargs-parser, from their CommonJS builds (one bundled file each, which
 * load some 30 ms faster than the many modules of the ESM builds), each loaded on first use:
 * `stackscope trace app.js` with ordinary options never loads yargs itself (see options.ts).
 */
import { createRequire } from 'node:module';
import type { Argv } from 'yargs';
import type parser from 'yargs-parser';

const require = createRequire(import.meta.url);

type Yargs = (processArgs?: readonly string[] | string, cwd?: string) => Argv;

export function yargs(processArgs?: readonly string[] | string): Argv {
  return (require('yargs/yargs') as Yargs)(processArgs);
}

export function hideBin(argv: string[]): string[] {
  return (require('yargs/helpers') as { hideBin(argv: string[]): string[] }).hideBin(argv);
}

export function yargsParser(): typeof parser {
  return require('yargs-parser') as typeof parser;
}
