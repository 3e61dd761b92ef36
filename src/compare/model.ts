/** What `compare` knows about a profile: time per function, keyed by frame label. */

export interface FunctionTimes {
  /** frame label (`name (file:line)`), the key shared by traces, profiles and folded stacks */
  label: string;
  /** number of calls; null where the source cannot know (sampled profiles, folded stacks) */
  calls: number | null;
  /** time in the function itself, in the profile's unit */
  self: number;
  /** time with everything it called, recursion counted once */
  total: number;
}

export interface ProfileTimes {
  file: string;
  kind: 'trace' | 'cpuprofile' | 'folded';
  /** 'us' for traces and cpuprofiles, 'samples' for folded stacks */
  unit: 'us' | 'samples';
  /** sum of self times: the profile's whole observed time */
  grandTotal: number;
  /** traces: the one process compared (`name (pid N)`), when one was chosen */
  process?: string;
  /** traces: the processes whose times were added up (all of the file's, unless one was chosen) */
  processes?: string[];
  functions: Map<string, FunctionTimes>;
}

export function entry(map: Map<string, FunctionTimes>, label: string, countsCalls: boolean): FunctionTimes {
  let f = map.get(label);
  if (!f) map.set(label, (f = { label, calls: countsCalls ? 0 : null, self: 0, total: 0 }));
  return f;
}

/** Adds one weighted stack (root first) to the per-function times. */
export function addStackTimes(map: Map<string, FunctionTimes>, stack: readonly string[], weight: number): void {
  if (stack.length === 0 || weight <= 0) return;
  entry(map, stack[stack.length - 1]!, false).self += weight;
  // A recursive function appears several times in one stack: its total takes the sample once.
  const seen = new Set<string>();
  for (const label of stack) {
    if (seen.has(label)) continue;
    seen.add(label);
    entry(map, label, false).total += weight;
  }
}
