/**
 * Any profile file (formats/read.ts: trace, .cpuprofile, pprof or folded) as per-function times
 * (model.ts). Weights are time in µs where the profile knows it (a trace's self times, a sampled
 * profile's sample durations), else sample counts; per-function self and total come from the model
 * (model/ops.ts functionWeights: recursion counted once in total).
 */
import { functionWeights, modelFrameLabel, timeWeighted, type Profile } from '../model/index.js';
import { readProfile, type InputFormat } from '../formats/read.js';
import { traceToModel } from '../formats/trace-read.js';
import type { TraceEvent } from '../formats/trace-event.js';
import type { FunctionTimes, ProfileTimes } from './model.js';

function timesOf(file: string, kind: InputFormat, read: Profile, cwd: string): ProfileTimes {
  const profile = timeWeighted(read) ?? read;
  const functions = new Map<string, FunctionTimes>();
  let grandTotal = 0;
  for (const f of functionWeights(profile)) {
    const label = modelFrameLabel(f.frame, cwd);
    let t = functions.get(label);
    if (!t) functions.set(label, (t = { label, calls: profile.frameCalls ? 0 : null, self: 0, total: 0 }));
    t.self += f.self;
    t.total += f.total;
    if (t.calls !== null) t.calls += f.calls ?? 0;
    grandTotal += f.self;
  }
  return { file, kind, unit: profile.unit === 'microseconds' ? 'us' : 'samples', grandTotal, functions, profile };
}

/** Per-function times of a trace's events (all processes). */
export function traceTimes(file: string, events: TraceEvent[], cwd: string = process.cwd()): ProfileTimes {
  return timesOf(file, 'trace', traceToModel(events, { file }).profile, cwd);
}

export interface LoadOptions {
  /** traces only: compare this process (name or pid) instead of all of them added up */
  process?: string;
  /** the folder labels are shown relative to (default: the working directory) */
  cwd?: string;
  /** where a warning about the input goes (one line each; default: stderr) */
  warn?: (line: string) => void;
}

/** Reads any supported format (by content, not extension) into per-function times. */
export function loadProfile(file: string, opts: LoadOptions = {}): ProfileTimes {
  const r = readProfile(file, opts.process !== undefined ? { process: opts.process } : {});
  // A trace cut by its ring buffer: every time compared from it is a time of the part it kept.
  if (r.cut) (opts.warn ?? ((line) => process.stderr.write(line + '\n')))(`stackscope: warning: ${file} ${r.cut}`);
  const t = timesOf(file, r.format, r.profile, opts.cwd ?? process.cwd());
  if (r.cut) t.warning = `${file} ${r.cut}`;
  if (r.processes) {
    t.processes = r.processes.map((p) => p.label);
    if (r.processChosen) t.process = r.processes[0]?.label;
  }
  return t;
}
