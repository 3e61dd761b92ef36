/**
 * A queried profile written out: folded stacks (for flamegraph.pl), pprof, or JSON.
 *
 * The folded and pprof writers here are a minimal adapter from the profile model until the formats
 * stage offers model-based writers; they name frames with the shared label rule.
 */
import zlib from 'node:zlib';
import { Function as PFunction, Line, Location, Profile as PprofProfile, Sample, StringTable, ValueType } from 'pprof-format';
import { addStack, formatFolded, type FoldedStacks } from '../formats/folded.js';
import { displayPath, modelFrameLabel, stackFrames, weightByStack, type Profile } from '../model/index.js';
import type { ProfileResult, TimelineResult } from './index.js';

export type QueryFormat = 'folded' | 'pprof' | 'json';

/** The format an output name asks for (folded when it says nothing). */
export function queryFormatOf(file: string | undefined): QueryFormat {
  const f = (file ?? '').toLowerCase();
  if (f.endsWith('.pb.gz') || f.endsWith('.pprof') || f.endsWith('.pb')) return 'pprof';
  if (f.endsWith('.json')) return 'json';
  return 'folded';
}

export function profileToFolded(p: Profile, cwd = process.cwd()): FoldedStacks {
  const out: FoldedStacks = new Map();
  for (const [stack, w] of weightByStack(p)) addStack(out, stackFrames(p, stack).map((f) => modelFrameLabel(p.frames[f]!, cwd)), w);
  return out;
}

export function profileToPprof(p: Profile, cwd = process.cwd()): Buffer {
  const strings = new StringTable();
  const functions: PFunction[] = [];
  const locations: Location[] = [];
  const locOf = new Map<number, number>();
  const loc = (frameId: number): number => {
    let id = locOf.get(frameId);
    if (id === undefined) {
      const f = p.frames[frameId]!;
      id = locations.length + 1;
      functions.push(new PFunction({
        id, name: strings.dedup(modelFrameLabel(f, cwd)), systemName: strings.dedup(f.name || '(anonymous)'),
        filename: strings.dedup(f.file ? displayPath(f.file, cwd) : ''), startLine: f.line,
      }));
      locations.push(new Location({ id, line: [new Line({ functionId: id, line: f.line })] }));
      locOf.set(frameId, id);
    }
    return id;
  };
  const samples = [...weightByStack(p)].map(([stack, w]) => new Sample({ locationId: stackFrames(p, stack).map(loc).reverse(), value: [w] }));
  const startUs = p.meta.startUs ?? Date.now() * 1000;
  const pprof = new PprofProfile({
    sampleType: [new ValueType({ type: strings.dedup('samples'), unit: strings.dedup('count') })],
    sample: samples,
    location: locations,
    function: functions,
    stringTable: strings,
    timeNanos: Math.round(startUs * 1000),
    durationNanos: Math.max(0, Math.round(((p.meta.endUs ?? startUs) - startUs) * 1000)),
    comment: (p.meta.notes ?? []).map((n) => strings.dedup(n)),
  });
  return zlib.gzipSync(pprof.encode());
}

/** The query's result as one JSON document: range, targets, notes, frames and stacks with counts. */
export function profileResultToJson(r: ProfileResult): string {
  const p = r.profile;
  return JSON.stringify({
    from: new Date(r.fromMs).toISOString(),
    until: new Date(r.untilMs).toISOString(),
    samples: r.samples,
    notes: r.notes,
    targets: r.targets,
    frames: p.frames,
    stacks: [...weightByStack(p)].map(([stack, count]) => ({ frames: stackFrames(p, stack), count })).sort((a, b) => b.count - a.count),
  }) + '\n';
}

export function renderProfileResult(r: ProfileResult, format: QueryFormat): Buffer {
  switch (format) {
    case 'folded': return Buffer.from(formatFolded(profileToFolded(r.profile)));
    case 'pprof': return profileToPprof(r.profile);
    case 'json': return Buffer.from(profileResultToJson(r));
  }
}

/** A timeline as text (`time samples`, one step a line) or JSON. */
export function renderTimeline(t: TimelineResult, format: 'text' | 'json'): Buffer {
  if (format === 'json') {
    return Buffer.from(JSON.stringify({ stepMs: t.stepMs, from: new Date(t.fromMs).toISOString(), until: new Date(t.untilMs).toISOString(), notes: t.notes,
      points: t.points.map((p) => ({ time: new Date(p.ms).toISOString(), samples: p.samples })) }) + '\n');
  }
  return Buffer.from(t.points.map((p) => `${new Date(p.ms).toISOString()} ${p.samples}`).join('\n') + (t.points.length ? '\n' : ''));
}
