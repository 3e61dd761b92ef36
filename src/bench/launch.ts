/**
 * How a bench child is started with the tracer loaded, so the bench's target modules are
 * instrumented as they load: the tracer's preload (which also registers tsx for TypeScript) and
 * its configuration in the environment. The preload dumps the thread at exit into `dumpDir`;
 * bench takes its recordings in-process instead, so that dump is thrown away.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { TRACE_ENV, type PreloadConfig } from '../recorder/protocol.js';
import { PRELOAD_PATH } from '../trace/index.js';
import { childEnv } from '../util/child-env.js';

export interface TracerLaunch {
  execArgv: string[];
  env: Record<string, string>;
  cleanup(): void;
}

export function tracerLaunch(benchFile: string, cwd = process.cwd()): TracerLaunch {
  const dumpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackscope-bench-'));
  const rel = path.relative(cwd, path.dirname(benchFile));
  // A bench file outside the working directory is still the user's code: trace its folder too.
  const include = rel.startsWith('..') || path.isAbsolute(rel) ? [`${path.dirname(benchFile).split(path.sep).join('/')}/**`] : [];
  // Every call timed (no throttling): strategies are compared call for call, and which functions
  // a run would throttle varies from run to run.
  const cfg: PreloadConfig = { dumpDir, cwd, include, exclude: [], includePackages: [], typescript: true, throttleAfter: 0 };
  return {
    execArgv: ['--import', pathToFileURL(PRELOAD_PATH).href],
    env: childEnv(TRACE_ENV, cfg),
    cleanup: () => fs.rmSync(dumpDir, { recursive: true, force: true }),
  };
}
