/**
 * Renders a source-mapped cpuprofile in any of the output formats, as bytes or to a file: as it is
 * (.cpuprofile), as trace events, or through the profile model (folded, pprof).
 */
import fs from 'node:fs';
import { cpuProfileToModel, cpuProfileToTraceEvents, type CpuProfile } from '../formats/cpuprofile.js';
import { renderModel } from '../formats/write.js';
import { frameRole } from '../model/index.js';
import type { ProfileFormat } from './options.js';

export interface RenderOptions {
  pid?: number;
  intervalUs?: number;
  /** wall-clock time of profile.startTime, ms since the epoch */
  startEpochMs?: number;
  cwd?: string;
  /** free-form metadata for formats that have room for it (trace) */
  metadata?: Record<string, unknown>;
}

export const CONTENT_TYPE: Record<ProfileFormat, string> = {
  trace: 'application/json',
  cpuprofile: 'application/json',
  folded: 'text/plain; charset=utf-8',
  pprof: 'application/octet-stream',
};

export function renderProfile(profile: CpuProfile, format: ProfileFormat, opts: RenderOptions = {}): Buffer {
  switch (format) {
    case 'cpuprofile':
      return Buffer.from(JSON.stringify(profile));
    case 'folded':
    case 'pprof':
      return renderModel(cpuProfileToModel(profile), format, {
        cwd: opts.cwd,
        intervalUs: opts.intervalUs,
        startEpochMs: opts.startEpochMs,
      }).bytes;
    case 'trace': {
      const events = cpuProfileToTraceEvents(profile, { pid: opts.pid ?? process.pid });
      // One event per line keeps the file diffable and the writer's shape.
      const body = events.map((e) => JSON.stringify(e)).join(',\n');
      return Buffer.from(
        `{"traceEvents":[\n${body}\n],\n"metadata":${JSON.stringify({ source: 'stackscope sample', ...opts.metadata })}}\n`,
      );
    }
  }
}

/**
 * Samples a file of this format leaves out of what the profiler took: folded and pprof hold CPU
 * time only, so the idle samples (model/frame.ts frameRole) are not in them. The summaries say so.
 */
function idleLeftOut(profile: CpuProfile, format: ProfileFormat): number {
  if (format !== 'folded' && format !== 'pprof') return 0;
  const idle = new Set(profile.nodes.filter((n) => frameRole(n.callFrame.functionName, n.callFrame.url) === 'idle').map((n) => n.id));
  let n = 0;
  for (const id of profile.samples ?? []) if (idle.has(id)) n++;
  return n;
}

/** `N samples`, and how many of them the file leaves out when it does. */
export function samplesSaid(profile: CpuProfile, format: ProfileFormat): string {
  const all = profile.samples?.length ?? 0;
  const idle = idleLeftOut(profile, format);
  return idle ? `${all} samples (${idle} of them idle, not in the ${format} file)` : `${all} samples`;
}

export function writeProfile(file: string, profile: CpuProfile, format: ProfileFormat, opts: RenderOptions = {}): void {
  fs.writeFileSync(file, renderProfile(profile, format, opts));
}
