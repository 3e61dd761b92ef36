/**
 * yargs, from its CommonJS build: one bundled file, which loads some 30 ms faster than the many
 * modules of its ESM build (start-up of every command, `stackscope trace` first).
 */
import { createRequire } from 'node:module';
import type { Argv } from 'yargs';

const require = createRequire(import.meta.url);

export const yargs = require('yargs/yargs') as (processArgs?: readonly string[] | string, cwd?: string) => Argv;
export const { hideBin } = require('yargs/helpers') as { hideBin(argv: string[]): string[] };
