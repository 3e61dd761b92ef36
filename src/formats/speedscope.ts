/**
 * speedscope's own file format (what speedscope.app opens, its `file-format-schema.json`): shared
 * frames and one "sampled" profile whose samples list frame indexes root first, with a weight each.
 * Written only (speedscope reads every format stackscope writes).
 */
import { NO_STACK, timeWeighted, type Profile } from '../model/index.js';

export const SPEEDSCOPE_SCHEMA = 'https://www.speedscope.app/file-format-schema.json';

export interface SpeedscopeFrame {
  name: string;
  file?: string;
  line?: number;
  col?: number;
}
export interface SpeedscopeSampled {
  type: 'sampled';
  name: string;
  unit: 'none' | 'nanoseconds' | 'microseconds' | 'milliseconds' | 'seconds' | 'bytes';
  startValue: number;
  endValue: number;
  samples: number[][];
  weights: number[];
}
export interface SpeedscopeFile {
  $schema: typeof SPEEDSCOPE_SCHEMA;
  shared: { frames: SpeedscopeFrame[] };
  profiles: SpeedscopeSampled[];
  name?: string;
  activeProfileIndex?: number;
  exporter?: string;
}

/**
 * The model as a speedscope file. Samples stay in their order (speedscope's "time order" view);
 * consecutive samples of one stack are joined into one with their weights added. Weights are time
 * (µs) where the profile knows it (a trace, or a V8 profile's sample durations), else counts;
 * timestamps themselves are not kept (speedscope's sampled profiles have none).
 */
export function modelToSpeedscope(p: Profile, opts: { name?: string; exporter?: string } = {}): SpeedscopeFile {
  const timed = timeWeighted(p);
  const src = timed ?? p;
  const unit: SpeedscopeSampled['unit'] = timed ? 'microseconds' : p.unit === 'bytes' ? 'bytes' : 'none';
  const frames: SpeedscopeFrame[] = p.frames.map((f) => ({
    name: f.name,
    ...(f.file ? { file: f.file } : {}),
    ...(f.line ? { line: f.line } : {}),
    ...(f.col ? { col: f.col } : {}),
  }));
  const paths = new Map<number, number[]>();
  const pathOf = (stack: number): number[] => {
    let out = paths.get(stack);
    if (!out) {
      out = [];
      for (let s = stack; s !== NO_STACK; s = p.stackParent[s]!) out.push(p.stackFrame[s]!);
      out.reverse();
      paths.set(stack, out);
    }
    return out;
  };
  const samples: number[][] = [];
  const weights: number[] = [];
  let last = NO_STACK;
  let total = 0;
  for (let i = 0; i < src.sampleStack.length; i++) {
    const s = src.sampleStack[i]!;
    const w = src.sampleWeight[i]!;
    total += w;
    if (s === last) {
      weights[weights.length - 1]! += w;
    } else {
      samples.push(pathOf(s));
      weights.push(w);
      last = s;
    }
  }
  const name = opts.name ?? p.meta.name ?? 'profile';
  return {
    $schema: SPEEDSCOPE_SCHEMA,
    shared: { frames },
    profiles: [{ type: 'sampled', name, unit, startValue: 0, endValue: total, samples, weights }],
    name,
    activeProfileIndex: 0,
    exporter: opts.exporter ?? 'stackscope',
  };
}
