export { loadProfile, traceTimes, cpuProfileFolded, type LoadOptions } from './load.js';
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
}

/** Compares two traces or profiles (trace.json, .cpuprofile or folded), by function. */
export function compareProfiles(fileA: string, fileB: string, opts: CompareOptions = {}): ProfileDiff {
  return diffProfiles(loadProfile(fileA, { process: opts.aProcess }), loadProfile(fileB, { process: opts.bProcess }));
}
