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

/** URL prefix of stackscope's own modules (this preload and what it imports). */
const OWN_CODE = new URL('../', import.meta.url).href;

/**
 * Takes stackscope's own work out of the profile: the samples V8 took while stackscope's code ran
 * (this preload starting the profiler, the exit handler stopping it) and the frames only they
 * used. A dropped sample's time interval goes to the next sample, so the others keep their times.
 */
export function dropOwnFrames(profile: CpuProfile, isOwn: (url: string) => boolean): void {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const dropped = new Set<number>();
  // Below an own frame everything is stackscope's (the inspector calls it makes).
  const stack = profile.nodes.filter((n) => isOwn(n.callFrame.url)).map((n) => n.id);
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (dropped.has(id)) continue;
    dropped.add(id);
    stack.push(...(byId.get(id)?.children ?? []));
  }
  if (dropped.size === 0) return;
  const samples: number[] = [],
    deltas: number[] = [];
  let carry = 0;
  profile.samples?.forEach((id, k) => {
    const delta = profile.timeDeltas?.[k] ?? 0;
    if (dropped.has(id)) {
      carry += delta;
      return;
    }
    samples.push(id);
    deltas.push(delta + carry);
    carry = 0;
  });
  if (profile.samples) profile.samples = samples;
  if (profile.timeDeltas) profile.timeDeltas = deltas;
  // Frames left with no samples and no callees were there only for the dropped ones.
  const sampled = new Set(samples);
  let pruned = true;
  while (pruned) {
    pruned = false;
    for (const n of profile.nodes) {
      if (dropped.has(n.id)) continue;
      n.children = n.children?.filter((c) => !dropped.has(c));
      if (n.children?.length === 0) delete n.children;
      if (!n.children && !sampled.has(n.id) && n.callFrame.functionName !== '(root)') {
        dropped.add(n.id);
        pruned = true;
      }
    }
  }
  profile.nodes = profile.nodes.filter((n) => !dropped.has(n.id));
}

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
        dropOwnFrames(profile, (url) => url.startsWith(OWN_CODE));
        sourceMapProfile(profile, chainSourceMaps(inProcessSourceMaps(), diskSourceMaps()));
        const run: SampledRun = { profile, startEpochMs: epochMs + (profile.startTime - hrUs) / 1000, intervalUs, pid: process.pid };
        fs.writeFileSync(out, JSON.stringify(run));
      } catch {
        /* the parent reports the missing profile */
      }
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
