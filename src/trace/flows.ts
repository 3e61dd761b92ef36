/**
 * Flow arrows from an async call's first running segment to each of its continuations.
 *
 * DevTools binds a flow event to the slice with the same ts, pid, tid and cat, and groups the
 * events of one flow by cat + name + id, in timestamp order; so the ts printed here must be the
 * very number printed for the slice, flows and JS slices alike carry no cat (so that the arrows of
 * causality.ts can link any two of them), and ids are unique across the whole trace (the engine
 * keys flows by id alone).
 */
import { round3 } from '../formats/trace-event.js';
import { RECORD_STRIDE, RecordField, recordInst } from '../recorder/protocol.js';
import type { BuildContext } from './build.js';

/**
 * `seg`: record indices of async segments sorted by (inst, start). `tidOf` tells the track a
 * segment ended up on (its thread's, or an overflow lane), `startOf` where its slice was drawn to
 * start (its own start, or the ring-buffer cut for one that began before it).
 */
export function writeSegmentFlows(
  ctx: BuildContext,
  seg: Uint32Array,
  rec: Float64Array,
  base: number,
  pid: number,
  tidOf: (i: number) => number,
  startOf: (i: number) => number,
): void {
  const n = seg.length;
  for (let g = 0; g < n;) {
    const inst = recordInst(rec[seg[g]! * RECORD_STRIDE + RecordField.Inst]!);
    let e = g + 1;
    while (e < n && recordInst(rec[seg[e]! * RECORD_STRIDE + RecordField.Inst]!) === inst) e++;
    if (e - g >= 2) {
      const id = ctx.flowId();
      for (let k = g; k < e; k++) {
        const i = seg[k]!;
        const ph = k === g ? 's' : k === e - 1 ? 'f' : 't';
        const ts = round3(base + startOf(i));
        // bp "e": bind the end to the enclosing slice (the continuation itself), as Perfetto expects.
        ctx.writer.writeRaw(
          `{"ph":"${ph}","name":"await","id":${id},"ts":${ts},"pid":${pid},"tid":${tidOf(i)}${ph === 'f' ? ',"bp":"e"' : ''}}`,
        );
      }
    }
    g = e;
  }
}
