/**
 * Hand-made recordings for the trace builder's tests: the shapes the recorder produces (records in
 * exit order, async calls as segments + lifetime), without running anything.
 */
import { RECORD_STRIDE, RecordKind, recordCode, type NodeEvent, type ThreadRecording } from '../../src/recorder/recording.js';
import type { FunctionInfo } from '../../src/model/frame.js';

export class SynthThread {
  functions: FunctionInfo[] = [];
  spanNames: string[] = [];
  nodeEvents: NodeEvent[] = [];
  private recs: number[] = [];
  dropped = 0;

  constructor(
    readonly tid = 0,
    readonly threadName = 'main',
    readonly timeOrigin = 1_700_000_000_000.123,
  ) {}

  fn(name: string, line = 1, file = 'app.js', col = 0): number {
    this.functions.push({ name, file, line, col });
    return this.functions.length - 1;
  }
  span(name: string): number {
    this.spanNames.push(name);
    return this.spanNames.length - 1;
  }
  private push(code: number, start: number, end: number, depth: number, inst: number): this {
    this.recs.push(code, start, end, depth, inst);
    return this;
  }
  call(id: number, start: number, end: number, depth = 0): this {
    return this.push(recordCode(id, RecordKind.Call), start, end, depth, 0);
  }
  seg(id: number, inst: number, start: number, end: number, depth = 0): this {
    return this.push(recordCode(id, RecordKind.AsyncSegment), start, end, depth, inst);
  }
  life(id: number, inst: number, start: number, end: number, depth = 0): this {
    return this.push(recordCode(id, RecordKind.AsyncLifetime), start, end, depth, inst);
  }
  spanRec(id: number, start: number, end: number, depth = 0): this {
    return this.push(recordCode(id, RecordKind.Span), start, end, depth, 0);
  }

  build(): ThreadRecording {
    // The recorder stores records at exit: sort by end so tests see the real order.
    const n = this.recs.length / RECORD_STRIDE;
    const order = [...Array(n).keys()].sort((a, b) => this.recs[a * 5 + 2]! - this.recs[b * 5 + 2]!);
    const records = new Float64Array(n * RECORD_STRIDE);
    order.forEach((src, dst) => {
      for (let f = 0; f < RECORD_STRIDE; f++) records[dst * 5 + f] = this.recs[src * 5 + f]!;
    });
    return {
      pid: 0,
      tid: this.tid,
      threadName: this.threadName,
      timeOrigin: this.timeOrigin,
      functions: this.functions,
      spanNames: this.spanNames,
      records,
      count: n,
      dropped: this.dropped,
      nodeEvents: this.nodeEvents,
      droppedNodeEvents: 0,
    };
  }
}
