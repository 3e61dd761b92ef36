/** A queried profile written out: folded stacks (for flamegraph.pl), pprof, or JSON; a timeline as text or JSON. */
import { formatFolded, modelToFolded } from '../formats/folded.js';
import { modelToPprof } from '../formats/pprof.js';
import { stackFrames, weightByStack } from '../model/index.js';
import type { ProfileResult, TimelineResult } from './index.js';

export type QueryFormat = 'folded' | 'pprof' | 'json';

/** The format an output name asks for (folded when it says nothing). */
export function queryFormatOf(file: string | undefined): QueryFormat {
  const f = (file ?? '').toLowerCase();
  if (f.endsWith('.pb.gz') || f.endsWith('.pprof') || f.endsWith('.pb')) return 'pprof';
  if (f.endsWith('.json')) return 'json';
  return 'folded';
}

/** The query's result as one JSON document: range, targets, notes, frames and stacks with counts. */
export function profileResultToJson(r: ProfileResult): string {
  const p = r.profile;
  return (
    JSON.stringify({
      from: new Date(r.fromMs).toISOString(),
      until: new Date(r.untilMs).toISOString(),
      samples: r.samples,
      notes: r.notes,
      targets: r.targets,
      frames: p.frames,
      stacks: [...weightByStack(p)].map(([stack, count]) => ({ frames: stackFrames(p, stack), count })).sort((a, b) => b.count - a.count),
    }) + '\n'
  );
}

export function renderProfileResult(r: ProfileResult, format: QueryFormat): Buffer {
  switch (format) {
    case 'folded':
      return Buffer.from(formatFolded(modelToFolded(r.profile)));
    case 'pprof':
      return modelToPprof(r.profile);
    case 'json':
      return Buffer.from(profileResultToJson(r));
  }
}

/** A timeline as text (`time samples`, one step a line) or JSON. */
export function renderTimeline(t: TimelineResult, format: 'text' | 'json'): Buffer {
  if (format === 'json') {
    return Buffer.from(
      JSON.stringify({
        stepMs: t.stepMs,
        from: new Date(t.fromMs).toISOString(),
        until: new Date(t.untilMs).toISOString(),
        notes: t.notes,
        points: t.points.map((p) => ({ time: new Date(p.ms).toISOString(), samples: p.samples })),
      }) + '\n',
    );
  }
  return Buffer.from(t.points.map((p) => `${new Date(p.ms).toISOString()} ${p.samples}`).join('\n') + (t.points.length ? '\n' : ''));
}
