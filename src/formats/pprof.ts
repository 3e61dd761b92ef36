/**
 * pprof: gzipped protobuf `profile.proto`, read by `go tool pprof`, Pyroscope, Parca and speedscope.
 * Encoded with the `pprof-format` package. Functions carry the shared frame name (model/frame.ts) as
 * their name, so a pprof view lines up with folded stacks and traces of the same program.
 */
import zlib from 'node:zlib';
import { Profile, Function as PFunction, Location, Sample, StringTable, ValueType, Line } from 'pprof-format';
import { callFrameLabel, forEachSampleStack, isIdleFrame, type CpuProfile, type CpuProfileNode } from './cpuprofile.js';
import { displayPath } from '../model/frame.js';

export interface PprofOptions {
  /** sampling interval, µs (pprof's period) */
  intervalUs?: number;
  /** wall-clock start of the profile, ms since the epoch */
  startEpochMs?: number;
  cwd?: string;
}

/** Encodes a (source-mapped) cpuprofile as gzipped pprof: samples/count and cpu/nanoseconds. */
export function cpuProfileToPprof(profile: CpuProfile, opts: PprofOptions = {}): Buffer {
  const cwd = opts.cwd ?? process.cwd();
  const strings = new StringTable();
  const functions: PFunction[] = [];
  const locations: Location[] = [];
  const locByLabel = new Map<string, number>();
  const locByNode = new Map<CpuProfileNode, number>();
  type Entry = { locs: number[]; count: number; ns: number };
  const samples = new Map<string, Entry>();
  // Samples of the same node share one stack array (forEachSampleStack): its entry, null when idle.
  const sampleOfStack = new Map<CpuProfileNode[], Entry | null>();

  const locationOf = (node: CpuProfileNode): number => {
    let id = locByNode.get(node);
    if (id !== undefined) return id;
    const frame = node.callFrame;
    const label = callFrameLabel(frame, cwd);
    id = locByLabel.get(label);
    if (id === undefined) {
      id = locations.length + 1;
      const line = frame.url ? frame.lineNumber + 1 : 0;
      functions.push(new PFunction({
        id, name: strings.dedup(label), systemName: strings.dedup(frame.functionName || '(anonymous)'),
        filename: strings.dedup(frame.url ? displayPath(frame.url, cwd) : ''), startLine: line,
      }));
      locations.push(new Location({ id, line: [new Line({ functionId: id, line })] }));
      locByLabel.set(label, id);
    }
    locByNode.set(node, id);
    return id;
  };

  const sampleOf = (stack: CpuProfileNode[]): Entry | null => {
    let s = sampleOfStack.get(stack);
    if (s !== undefined) return s;
    const leaf = stack[stack.length - 1];
    if (!leaf || isIdleFrame(leaf.callFrame)) {
      s = null;
    } else {
      // pprof lists a sample's locations leaf first.
      const locs = stack.map(locationOf).reverse();
      const key = locs.join(',');
      s = samples.get(key);
      if (!s) samples.set(key, (s = { locs, count: 0, ns: 0 }));
    }
    sampleOfStack.set(stack, s);
    return s;
  };

  forEachSampleStack(profile, (stack, weightUs) => {
    const s = sampleOf(stack);
    if (!s) return;
    s.count++;
    s.ns += Math.round(weightUs * 1000);
  });

  const intervalNs = Math.round((opts.intervalUs ?? 1000) * 1000);
  const p = new Profile({
    sampleType: [
      new ValueType({ type: strings.dedup('samples'), unit: strings.dedup('count') }),
      new ValueType({ type: strings.dedup('cpu'), unit: strings.dedup('nanoseconds') }),
    ],
    sample: [...samples.values()].map((s) => new Sample({ locationId: s.locs, value: [s.count, s.ns] })),
    location: locations,
    function: functions,
    stringTable: strings,
    periodType: new ValueType({ type: strings.dedup('cpu'), unit: strings.dedup('nanoseconds') }),
    period: intervalNs,
    timeNanos: Math.round((opts.startEpochMs ?? Date.now()) * 1e6),
    durationNanos: Math.max(0, Math.round((profile.endTime - profile.startTime) * 1000)),
  });
  return zlib.gzipSync(p.encode());
}

/** Decodes a (gzipped or plain) pprof buffer. */
export function decodePprof(buf: Uint8Array): Profile {
  const raw = buf[0] === 0x1f && buf[1] === 0x8b ? zlib.gunzipSync(buf) : buf;
  return Profile.decode(raw);
}
