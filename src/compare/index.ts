export { loadProfile, traceTimes, type LoadOptions } from './load.js';
export { diffProfiles, type ProfileDiff, type FunctionDiff } from './diff.js';
export { formatCompare } from './report.js';
export type { FunctionTimes, ProfileTimes } from './model.js';

import { loadProfile } from './load.js';
import { diffProfiles, type ProfileDiff } from './diff.js';

export interface CompareOptions {
  /** process of A to compare, by name or pid (traces holding several, e.g. a bench's compare.trace.json) */
  aProcess?: string;
  /** same for B */
  bProcess?: string;
  /** the folder labels are shown relative to (default: the working directory) */
  cwd?: string;
}

/** Compares two profiles of any supported format (trace, .cpuprofile, pprof, folded), by function. */
export function compareProfiles(fileA: string, fileB: string, opts: CompareOptions = {}): ProfileDiff {
  const cwd = opts.cwd ?? process.cwd();
  return diffProfiles(loadProfile(fileA, { process: opts.aProcess, cwd }), loadProfile(fileB, { process: opts.bProcess, cwd }), cwd);
}
