/**
 * pprof: gzipped protobuf `profile.proto`, read by `go tool pprof`, Pyroscope, Parca and speedscope.
 * Encoded and decoded with the `pprof-format` package.
 *
 * Writer: functions carry the shared frame label (`name (file:line)`, model/frame.ts) as their name,
 * so a pprof view lines up with folded stacks and traces of the same program; their file is the
 * frame's own (absolute where known), so `go tool pprof -list` finds the source from any folder.
 * Reader: functions' name, file and start line become frames; a sample's locations (leaf first,
 * inlined lines innermost first) become a stack, root first.
 */
import zlib from 'node:zlib';
import { Profile as PprofProfile, Function as PFunction, Location, Sample, StringTable, ValueType, Line } from 'pprof-format';
import {
  NO_STACK,
  ProfileBuilder,
  framePath,
  modelFrameLabel,
  parseFrameLabel,
  weightByStack,
  type Frame,
  type Profile,
  type WeightUnit,
} from '../model/index.js';
import { cpuProfileToModel, type CpuProfile } from './cpuprofile.js';

export interface PprofOptions {
  /** sampling interval, µs (pprof's period); default: the profile's own, else none */
  intervalUs?: number;
  /** wall-clock start of the profile, ms since the epoch; default: the profile's, when on that clock */
  startEpochMs?: number;
  /** the folder labels are shown relative to */
  cwd?: string;
}

/**
 * Encodes a profile as gzipped pprof, one pprof sample per stack (times and order are not kept).
 * Sample types: `samples/count` for sampled profiles, plus `cpu/nanoseconds` when every sample's
 * duration is known; `wall/nanoseconds` for time-weighted ones (traces' self time).
 */
export function modelToPprof(p: Profile, opts: PprofOptions = {}): Buffer {
  const cwd = opts.cwd ?? process.cwd();
  const strings = new StringTable();
  const functions: PFunction[] = [];
  const locations: Location[] = [];
  const byKey = new Map<string, number>();
  const locOfFrame = p.frames.map((f: Frame) => {
    const label = modelFrameLabel(f, cwd);
    const key = `${label}\u0000${f.file}`;
    let id = byKey.get(key);
    if (id === undefined) {
      id = functions.length + 1;
      functions.push(
        new PFunction({
          id,
          name: strings.dedup(label),
          systemName: strings.dedup(f.name),
          filename: strings.dedup(f.file),
          startLine: f.line,
        }),
      );
      locations.push(new Location({ id, line: [new Line({ functionId: id, line: f.line })] }));
      byKey.set(key, id);
    }
    return id;
  });

  const d = p.sampleDurationUs;
  const withCpu = p.unit === 'samples' && !!d && d.every((x) => Number.isFinite(x));
  const types: [string, string][] =
    p.unit === 'samples'
      ? [['samples', 'count'], ...(withCpu ? [['cpu', 'nanoseconds'] as [string, string]] : [])]
      : p.unit === 'microseconds' || p.unit === 'nanoseconds'
        ? [['wall', 'nanoseconds']]
        : p.unit === 'bytes'
          ? [['space', 'bytes']]
          : [['samples', 'count']];
  const toValue = p.unit === 'microseconds' ? 1000 : 1;
  const values = weightByStack(p);
  const ns = withCpu ? weightByStack(p, d!) : undefined;
  const samples: Sample[] = [];
  for (const [stack, w] of values) {
    const locs: number[] = [];
    for (let s = stack; s !== NO_STACK; s = p.stackParent[s]!) locs.push(locOfFrame[p.stackFrame[s]!]!); // leaf first
    const value = [Math.round(w * toValue)];
    if (ns) value.push(Math.round(ns.get(stack)! * 1000));
    samples.push(new Sample({ locationId: locs, value }));
  }

  const intervalUs = opts.intervalUs ?? p.meta.intervalUs;
  const startMs = opts.startEpochMs ?? (p.meta.clock === 'epoch' && p.meta.startUs !== undefined ? p.meta.startUs / 1000 : undefined);
  const { startUs, endUs } = p.meta;
  const pp = new PprofProfile({
    sampleType: types.map(([type, unit]) => new ValueType({ type: strings.dedup(type), unit: strings.dedup(unit) })),
    sample: samples,
    location: locations,
    function: functions,
    stringTable: strings,
    ...(intervalUs !== undefined
      ? {
          periodType: new ValueType({ type: strings.dedup('cpu'), unit: strings.dedup('nanoseconds') }),
          period: Math.round(intervalUs * 1000),
        }
      : {}),
    ...(startMs !== undefined ? { timeNanos: Math.round(startMs * 1e6) } : {}),
    ...(startUs !== undefined && endUs !== undefined ? { durationNanos: Math.max(0, Math.round((endUs - startUs) * 1000)) } : {}),
  });
  return zlib.gzipSync(pp.encode());
}

/** Encodes a (source-mapped) cpuprofile as gzipped pprof: samples/count and cpu/nanoseconds. */
export function cpuProfileToPprof(profile: CpuProfile, opts: PprofOptions = {}): Buffer {
  return modelToPprof(cpuProfileToModel(profile), opts);
}

/** Decodes a (gzipped or plain) pprof buffer. Throws when it is not one. */
export function decodePprof(buf: Uint8Array): PprofProfile {
  const raw = buf[0] === 0x1f && buf[1] === 0x8b ? zlib.gunzipSync(buf) : buf;
  return PprofProfile.decode(raw);
}

/** pprof's time units, as µs per unit. */
const TIME_UNITS = new Map<string, number>([
  ['nanoseconds', 1e-3],
  ['microseconds', 1],
  ['milliseconds', 1e3],
  ['seconds', 1e6],
]);

/**
 * A pprof profile (gzipped or plain) in the model. The weight is cpu time when present, else the
 * first sample type; where the profile has both a count and a time (a CPU profile), the count is
 * the weight and the time each sample's duration, so both survive. Times are converted to µs.
 */
export function pprofToModel(buf: Uint8Array, name?: string): Profile {
  const pp = decodePprof(buf);
  const str = (i: unknown) => pp.stringTable.strings[Number(i)] ?? '';
  const types = pp.sampleType.map((t) => ({ type: str(t.type), unit: str(t.unit) }));
  if (types.length === 0) throw new Error('no sample types');
  const cpu = types.findIndex((t) => t.type === 'cpu' && TIME_UNITS.has(t.unit));
  const time = cpu >= 0 ? cpu : types.findIndex((t) => TIME_UNITS.has(t.unit));
  const count = types.findIndex((t) => t.unit === 'count');
  const both = count >= 0 && time >= 0;
  const w = both ? count : cpu >= 0 ? cpu : 0;
  const wUnit = types[w]!.unit;
  const unit: WeightUnit =
    both || wUnit === 'count'
      ? 'samples'
      : TIME_UNITS.has(wUnit)
        ? wUnit === 'nanoseconds'
          ? 'nanoseconds'
          : 'microseconds'
        : wUnit === 'bytes'
          ? 'bytes'
          : 'none';
  const scale = unit === 'microseconds' ? TIME_UNITS.get(wUnit)! : 1;

  const b = new ProfileBuilder(unit);
  const frameOfFunction = new Map<number, number>();
  for (const fn of pp.function) {
    const file = framePath(str(fn.filename));
    const line = Number(fn.startLine ?? 0);
    let fname = str(fn.name) || str(fn.systemName) || '(anonymous)';
    // stackscope's writer names functions by their label: read the name back out of it.
    const l = parseFrameLabel(fname);
    if (l.file && l.line === line && (file === l.file || file.endsWith('/' + l.file.replace(/^\.\//, '')))) fname = l.name;
    frameOfFunction.set(Number(fn.id), b.frame({ name: fname, file, line, col: 0 }));
  }
  const framesOfLocation = new Map<number, number[]>();
  for (const loc of pp.location) {
    const ids = loc.line.map((ln) => frameOfFunction.get(Number(ln.functionId))).filter((f): f is number => f !== undefined);
    if (ids.length === 0) ids.push(b.frame({ name: `0x${Number(loc.address ?? 0).toString(16)}`, file: '', line: 0, col: 0 }));
    framesOfLocation.set(Number(loc.id), ids); // innermost first, like the sample's locations
  }
  const stacks = new Map<string, number>();
  for (const s of pp.sample) {
    const weight = Number(s.value[w] ?? 0) * scale;
    if (weight === 0) continue;
    const key = s.locationId.join(',');
    let stack = stacks.get(key);
    if (stack === undefined) {
      stack = NO_STACK;
      for (let i = s.locationId.length - 1; i >= 0; i--) {
        const frames = framesOfLocation.get(Number(s.locationId[i])) ?? [];
        for (let j = frames.length - 1; j >= 0; j--) stack = b.stack(stack, frames[j]!);
      }
      stacks.set(key, stack);
    }
    b.sample(stack, weight, NaN, both ? Number(s.value[time] ?? 0) * TIME_UNITS.get(types[time]!.unit)! : undefined);
  }
  const periodUnit = TIME_UNITS.get(str(pp.periodType?.unit));
  const period = periodUnit !== undefined ? Number(pp.period ?? 0) * periodUnit : 0;
  const startUs = Number(pp.timeNanos ?? 0) / 1000;
  b.meta = {
    ...(name !== undefined ? { name } : {}),
    ...(period > 0 ? { intervalUs: period } : {}),
    ...(startUs > 0 ? { startUs, endUs: startUs + Number(pp.durationNanos ?? 0) / 1000, clock: 'epoch' as const } : {}),
  };
  return b.build();
}
