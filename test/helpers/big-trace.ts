/**
 * Writes a trace of N synthetic records (nested calls, async calls with continuations and
 * lifetimes) and prints {ms, peakRssMB, heapMB, bytes, slices} as JSON. Run in its own process
 * (with a small --max-old-space-size) so the memory bound is the writer's, not the test runner's.
 * Usage: node --import tsx test/helpers/big-trace.ts OUT N
 */
import fs from 'node:fs';
import { writeTrace } from '../../src/trace/build.js';
import { RECORD_STRIDE, recordCode } from '../../src/recorder/recording.js';
import type { ThreadRecording } from '../../src/recorder/recording.js';

const [out, nArg] = process.argv.slice(2);
const N = Number(nArg ?? 5_000_000);
const rec = new Float64Array(N * RECORD_STRIDE);
let k = 0,
  t = 0,
  inst = 0;
const put = (code: number, s: number, e: number, d: number, i: number): void => {
  const o = k++ * RECORD_STRIDE;
  rec[o] = code;
  rec[o + 1] = s;
  rec[o + 2] = e;
  rec[o + 3] = d;
  rec[o + 4] = i;
};
const pendingAsync: Array<[number, number]> = [];
// A call tree of fan-out 4 and depth 5, written in exit order like the recorder; every 16th root
// is an async call whose continuation and lifetime come after the next root.
function tree(depth: number): void {
  const s = t;
  t += 0.137;
  if (depth < 4) for (let c = 0; c < 4 && k < N - 4; c++) tree(depth + 1);
  t += 0.071;
  if (k < N) put(recordCode((depth * 7) % 50, 0), s, t, depth, 0);
}
for (let root = 0; k < N - 4; root++) {
  if (root % 16 === 0) {
    const s = t;
    inst++;
    t += 0.05;
    put(recordCode(60, 1), s, t, 0, inst);
    pendingAsync.push([inst, s]);
  }
  tree(0);
  const p = pendingAsync.shift();
  if (p && k < N - 2) {
    const s = t;
    t += 0.2;
    put(recordCode(60, 1), s, t, 0, p[0]);
    put(recordCode(60, 2), p[1], t, 0, p[0]);
  }
}
const functions = Array.from({ length: 61 }, (_, i) => ({ name: `fn${i}`, file: `src/module${i % 7}.ts`, line: i * 3 + 1, col: 2 }));
const th: ThreadRecording = {
  pid: 1,
  tid: 0,
  threadName: 'main',
  timeOrigin: 1_700_000_000_000.5,
  functions,
  spanNames: [],
  records: rec,
  count: k,
  dropped: 0,
  nodeEvents: [],
  droppedNodeEvents: 0,
};
const t0 = performance.now();
const res = writeTrace(out!, [{ pid: 1, name: 'synthetic', threads: [th] }]);
const ms = performance.now() - t0;
const status = fs.readFileSync('/proc/self/status', 'utf8');
const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
process.stdout.write(
  JSON.stringify({
    records: k,
    ms: Math.round(ms),
    peakRssMB: Math.round(hwm),
    recordsMB: Math.round(rec.byteLength / 2 ** 20),
    heapMB: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
    bytes: fs.statSync(out!).size,
    ...res,
  }) + '\n',
);
