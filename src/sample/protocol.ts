/**
 * Between `stackscope sample` (run.ts) and the preload it loads into the program (run-preload.ts):
 * the job handed over in one environment variable, and the profile handed back in a file.
 */
import type { CpuProfile } from '../formats/cpuprofile.js';

/** What `stackscope sample` hands the preload (in SAMPLE_ENV, taken before the program runs). */
export interface SampleJob {
  /** the file the profile goes to, in a folder only this user can write */
  out: string;
  intervalUs: number;
  /** stop after this long (s); 0: at exit */
  durationS: number;
}

export const SAMPLE_ENV = 'STACKSCOPE_SAMPLE';

export interface SampledRun {
  profile: CpuProfile;
  startEpochMs: number;
  intervalUs: number;
  pid: number;
}

/**
 * What a profiler running inside a traced program needs to hand its profile over (`trace --sample`
 * saves each thread's samples in that thread): source maps and joining profiles, without the
 * output formats that index.js brings along.
 */
export { joinProfiles } from './profile-chunks.js';
export { chainSourceMaps, diskSourceMaps, inProcessSourceMaps, sourceMapProfile } from './source-maps.js';
