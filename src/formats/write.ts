/** The model written in any output format, as bytes, with what the format could not keep. */
import type { Profile, WeightUnit } from '../model/index.js';
import { modelToCpuProfile } from './cpuprofile.js';
import { formatFolded, modelToFolded } from './folded.js';
import { modelToPprof } from './pprof.js';
import { modelToSpeedscope } from './speedscope.js';

export const OUTPUT_FORMATS = ['folded', 'pprof', 'speedscope', 'cpuprofile'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface WriteOptions {
  /** labels (folded, pprof) show files relative to this folder */
  cwd?: string;
  intervalUs?: number;
  startEpochMs?: number;
}

export interface Rendered {
  bytes: Buffer;
  /** what this output does not keep of this profile, one sentence each */
  lost: string[];
}

/** The output format a file name asks for, or null when its extension says nothing. */
export function outputFormatFromPath(file: string): OutputFormat | null {
  const f = file.toLowerCase();
  if (f.endsWith('.speedscope.json')) return 'speedscope';
  if (f.endsWith('.pb.gz') || f.endsWith('.pprof') || f.endsWith('.pb')) return 'pprof';
  if (f.endsWith('.cpuprofile')) return 'cpuprofile';
  if (f.endsWith('.folded') || f.endsWith('.txt')) return 'folded';
  return null;
}

const UNIT_SYMBOL: Partial<Record<WeightUnit, string>> = { nanoseconds: 'ns', microseconds: 'µs' };

const hasTimes = (p: Profile) => p.sampleTime.some((t) => Number.isFinite(t));

export function renderModel(p: Profile, format: OutputFormat, opts: WriteOptions = {}): Rendered {
  const lost: string[] = [];
  const cwd = opts.cwd ?? process.cwd();
  const timed = hasTimes(p);
  const cols = p.frames.some((f) => f.col > 0);
  switch (format) {
    case 'folded': {
      if (timed) lost.push('sample times and order (stacks are added up)');
      if (p.sampleDurationUs && p.unit === 'samples') lost.push('sample durations (folded counts samples)');
      if (cols) lost.push('columns (frames are name (file:line))');
      if (p.unit !== 'samples') lost.push(`fractions of a ${UNIT_SYMBOL[p.unit] ?? p.unit} (counts are whole numbers)`);
      return { bytes: Buffer.from(formatFolded(modelToFolded(p, cwd))), lost };
    }
    case 'pprof':
      if (timed) lost.push('sample times and order (one pprof sample per stack)');
      if (cols) lost.push('columns');
      return { bytes: modelToPprof(p, { ...opts, cwd }), lost };
    case 'speedscope':
      if (timed) lost.push('sample timestamps (speedscope keeps order and weights)');
      return { bytes: Buffer.from(JSON.stringify(modelToSpeedscope(p))), lost };
    case 'cpuprofile': {
      const { profile, notes } = modelToCpuProfile(p, opts.intervalUs !== undefined ? { intervalUs: opts.intervalUs } : {});
      return { bytes: Buffer.from(JSON.stringify(profile)), lost: ['V8 node ids, hit counts per line and idle samples', ...notes] };
    }
  }
}
