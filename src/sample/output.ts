/** Renders a source-mapped cpuprofile in any of the output formats, as bytes or to a file. */
import fs from 'node:fs';
import { cpuProfileToFolded, cpuProfileToTraceEvents, type CpuProfile } from '../formats/cpuprofile.js';
import { formatFolded } from '../formats/folded.js';
import { cpuProfileToPprof } from '../formats/pprof.js';
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
      return Buffer.from(formatFolded(cpuProfileToFolded(profile, opts.cwd)));
    case 'pprof':
      return cpuProfileToPprof(profile, { intervalUs: opts.intervalUs, startEpochMs: opts.startEpochMs, cwd: opts.cwd });
    case 'trace': {
      const events = cpuProfileToTraceEvents(profile, { pid: opts.pid ?? process.pid });
      // One event per line keeps the file diffable and the writer's shape.
      const body = events.map((e) => JSON.stringify(e)).join(',\n');
      return Buffer.from(`{"traceEvents":[\n${body}\n],\n"metadata":${JSON.stringify({ source: 'stackscope sample', ...opts.metadata })}}\n`);
    }
  }
}

export function writeProfile(file: string, profile: CpuProfile, format: ProfileFormat, opts: RenderOptions = {}): void {
  fs.writeFileSync(file, renderProfile(profile, format, opts));
}
