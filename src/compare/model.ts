/** What `compare` knows about a profile: the model, weighted in one unit, and time per function. */
import type { Profile } from '../model/index.js';

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
  kind: 'trace' | 'cpuprofile' | 'folded' | 'pprof';
  /** 'us' where the profile knows time (traces, cpuprofiles, CPU pprof), else 'samples' */
  unit: 'us' | 'samples';
  /** sum of self times: the profile's whole observed time */
  grandTotal: number;
  /** traces: the one process compared (`name (pid N)`), when one was chosen */
  process?: string;
  /** traces: the processes whose times were added up (all of the file's, unless one was chosen) */
  processes?: string[];
  /** traces that cover their run only in part (ring buffer cut, short calls omitted, throttled functions): what the warning says */
  warning?: string;
  /** per function, labelled relative to the working directory */
  functions: Map<string, FunctionTimes>;
  /** the profile in the model, weighted in `unit` */
  profile: Profile;
}
