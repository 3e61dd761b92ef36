/** Parsing of the sampling options shared by the CLI, the agent's environment and the HTTP endpoint. */
import fs from 'node:fs';
import { UserError } from '../util/errors.js';

export const FORMATS = ['trace', 'cpuprofile', 'folded', 'pprof'] as const;
export type ProfileFormat = (typeof FORMATS)[number];

/** "10ms", "500us", "0.5ms", "2s" or a bare number of ms → µs. Throws UserError when unusable. */
export function parseInterval(text: string | number, what = 'interval'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s)?\s*$/.exec(String(text));
  if (!m) throw new UserError(`bad ${what} "${text}": give a duration like 1ms, 500us or 10ms`);
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  const us = unit === 's' ? n * 1e6 : unit === 'ms' ? n * 1000 : n;
  // V8 cannot sample faster than ~50 µs usefully; beyond a second it is no longer a profile.
  if (!(us >= 50 && us <= 1e6)) throw new UserError(`bad ${what} "${text}": must be between 50us and 1s`);
  return Math.round(us);
}

/** The longest wait a timer can express (2^31-1 ms); a longer one would fire at once. */
export const MAX_TIMER_S = 2_147_483;

/** Seconds (positive number) or UserError. */
export function parseSeconds(text: string | number, what = 'duration', max = Infinity): number {
  const n = typeof text === 'number' ? text : /^\s*\d+(\.\d+)?\s*s?\s*$/.test(text) ? parseFloat(text) : NaN;
  if (!(n > 0) || n > max) throw new UserError(`bad ${what} "${text}": give a number of seconds${max < Infinity ? ` up to ${max}` : ''}`);
  return n;
}

export function parseFormat(text: string): ProfileFormat {
  if ((FORMATS as readonly string[]).includes(text)) return text as ProfileFormat;
  throw new UserError(`bad format "${text}": use one of ${FORMATS.join(', ')}`);
}

/** The format an output file's name asks for, or null when the extension says nothing. */
export function formatFromPath(file: string): ProfileFormat | null {
  const f = file.toLowerCase();
  if (f.endsWith('.pb.gz') || f.endsWith('.pprof') || f.endsWith('.pb')) return 'pprof';
  if (f.endsWith('.cpuprofile')) return 'cpuprofile';
  if (f.endsWith('.folded') || f.endsWith('.txt')) return 'folded';
  if (f.endsWith('.json')) return 'trace';
  return null;
}

export const DEFAULT_EXTENSION: Record<ProfileFormat, string> = {
  trace: '.json',
  cpuprofile: '.cpuprofile',
  folded: '.folded',
  pprof: '.pb.gz',
};

/** Output file and format from -o / --format, defaults `profile.cpuprofile`. */
export function resolveOutput(output: string | undefined, format: string | undefined): { file: string; format: ProfileFormat } {
  const explicit = format !== undefined ? parseFormat(format) : null;
  const fromName = output && !explicit ? formatFromPath(output) : null;
  // (a folder is left to the write, which names it: EISDIR)
  if (output && !explicit && !fromName && !isFolder(output)) {
    throw new UserError(
      `cannot tell the output format from "${output}": name it .cpuprofile, .folded, .pb.gz or .json (a Chrome trace), or give --format (${FORMATS.join(', ')})`,
    );
  }
  const fmt = explicit ?? fromName ?? 'cpuprofile';
  return { file: output ?? `profile${DEFAULT_EXTENSION[fmt]}`, format: fmt };
}

function isFolder(file: string): boolean {
  try {
    return fs.statSync(file).isDirectory();
  } catch {
    return false;
  }
}
