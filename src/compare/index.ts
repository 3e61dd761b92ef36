export { loadProfile, traceTimes, cpuProfileFolded, cpuFrameLabel } from './load.js';
export { diffProfiles, type ProfileDiff, type FunctionDiff } from './diff.js';
export { formatCompare } from './report.js';
export type { FunctionTimes, ProfileTimes } from './model.js';

import { loadProfile } from './load.js';
import { diffProfiles, type ProfileDiff } from './diff.js';

/** Compares two traces or profiles (trace.json, .cpuprofile or folded), by function. */
export function compareProfiles(fileA: string, fileB: string): ProfileDiff {
  return diffProfiles(loadProfile(fileA), loadProfile(fileB));
}
