/**
 * Loaded with `--import` into the program that `stackscope sample` runs: profiles the main thread
 * from the first line to exit (or for --duration) and hands the raw, source-mapped profile to the
 * parent through a file. Silent: the program's output, exit code and signals stay its own.
 *
 * An in-thread inspector session answers synchronously, which is what lets the profile be taken in
 * the 'exit' handler, where nothing asynchronous runs.
 */
import fs from 'node:fs';
import inspector from 'node:inspector';
import { isMainThread } from 'node:worker_threads';
import { chainSourceMaps, diskSourceMaps, inProcessSourceMaps, sourceMapProfile } from './source-maps.js';
import type { CpuProfile } from '../formats/cpuprofile.js';
import { readChildEnv } from '../util/child-env.js';
import { SAMPLE_ENV, type SampleJob, type SampledRun } from './protocol.js';


// Only the program's main thread; forked children and workers inherit --import but not the job.
let job: Partial<SampleJob> | undefined;
try {
  job = isMainThread ? readChildEnv<SampleJob>(SAMPLE_ENV, { take: true }) : undefined;
} catch {
  job = undefined; // the parent reports the missing profile
}
const out = typeof job?.out === 'string' ? job.out : undefined;
if (out) {
  const intervalUs = Number(job?.intervalUs) || 1000;
  const durationS = Number(job?.durationS) || 0;

  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: intervalUs });
  session.post('Profiler.start');
  const epochMs = Date.now();
  const hrUs = Number(process.hrtime.bigint() / 1000n);

  let done = false;
  const finish = (): void => {
    if (done) return;
    done = true;
    session.post('Profiler.stop', (err, res) => {
      if (err || !res) return;
      const profile = res.profile as unknown as CpuProfile;
      try {
        sourceMapProfile(profile, chainSourceMaps(inProcessSourceMaps(), diskSourceMaps()));
        const run: SampledRun = { profile, startEpochMs: epochMs + (profile.startTime - hrUs) / 1000, intervalUs, pid: process.pid };
        fs.writeFileSync(out, JSON.stringify(run));
      } catch { /* the parent reports the missing profile */ }
    });
    session.disconnect();
  };
  process.on('exit', finish);
  if (durationS > 0) setTimeout(finish, durationS * 1000).unref();

  // A signal that kills the program skips 'exit': take the profile first, then die of the same
  // signal. Only while ours is the sole listener: a program handling the signal itself decides.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      if (process.listenerCount(sig) > 1) return;
      finish();
      process.removeListener(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}
