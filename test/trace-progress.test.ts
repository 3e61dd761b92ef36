/**
 * Feedback while writing a big trace: progress from writeTrace, drawn on a terminal only, and the
 * summary's warning when the trace is larger than DevTools opens comfortably.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeTrace } from '../src/trace/build.js';
import { progressPrinter, summaryLines, LARGE_TRACE_EVENTS, LARGE_TRACE_BYTES } from '../src/cli/commands/trace.js';
import type { TraceResult } from '../src/trace/session.js';
import { RECORD_STRIDE, RecordKind, recordCode, type ThreadRecording } from '../src/recorder/recording.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-progress-'));

/** n sequential top-level calls of one function. */
function flat(n: number): ThreadRecording {
  const records = new Float64Array(n * RECORD_STRIDE);
  for (let i = 0; i < n; i++) records.set([recordCode(0, RecordKind.Call), i * 2, i * 2 + 1, 0, 0], i * RECORD_STRIDE);
  return {
    pid: 1,
    tid: 0,
    threadName: 'main',
    timeOrigin: 1_700_000_000_000,
    functions: [{ name: 'f', file: 'a.js', line: 1, col: 0 }],
    spanNames: [],
    records,
    count: n,
    dropped: 0,
    nodeEvents: [{ ph: 'I', name: 'x', cat: 'net', ts: 3 }],
    droppedNodeEvents: 0,
  };
}

test('writeTrace reports progress: in steps, increasing, ending at the total', () => {
  const calls: Array<[number, number]> = [];
  const r = writeTrace(path.join(tmp, 'p.json'), [{ pid: 1, name: 'p', threads: [flat(300_000)] }], {
    onProgress: (done, total) => calls.push([done, total]),
  });
  assert.ok(calls.length >= 4 && calls.length <= 10, `${calls.length} calls`);
  for (let i = 1; i < calls.length; i++) assert.ok(calls[i]![0] > calls[i - 1]![0]);
  assert.deepEqual(calls.at(-1), [r.slices, 300_001]);
  assert.ok(calls.every(([, total]) => total === 300_001));
});

function fakeStream(isTTY: boolean) {
  const out: string[] = [];
  return {
    isTTY,
    write: (s: string) => {
      out.push(s);
      return true;
    },
    out,
  };
}

test('progress is drawn in place on a terminal, and not at all when stderr is not one', () => {
  const tty = fakeStream(true);
  const p = progressPrinter(tty as never, 0, 0)!;
  p.update(65_536, 1_000_000);
  p.update(500_000, 1_000_000);
  p.update(1_000_000, 1_000_000);
  p.end();
  assert.match(tty.out[0]!, /^\r\x1b\[Kstackscope: writing the trace… 6% \(65,536 of 1,000,000 events\)$/);
  assert.match(tty.out[2]!, /100%/);
  assert.equal(tty.out.at(-1), '\r\x1b[K', 'the line is cleared before the summary');
  assert.equal(progressPrinter(fakeStream(false) as never), undefined);
  // Throttled: a burst of updates draws once, then the final one.
  const slow = fakeStream(true);
  const q = progressPrinter(slow as never, 10_000, 0)!;
  for (let i = 1; i < 100; i++) q.update(i, 100);
  q.update(100, 100);
  assert.equal(slow.out.length, 2);
  // A trace written faster than the delay shows nothing at all.
  const quick = fakeStream(true);
  const r = progressPrinter(quick as never, 100, 10_000)!;
  r.update(50, 100);
  r.update(100, 100);
  r.end();
  assert.deepEqual(quick.out, []);
});

test('the summary says when a trace is too big for DevTools, with the flags that shrink it', () => {
  const base: TraceResult = { exitCode: 0, signal: null, tracePath: '/t/trace.json', events: 1000, bytes: 90_000, dropped: 0, threads: 1 };
  const small = summaryLines(base).join('\n');
  assert.doesNotMatch(small, /larger than DevTools/);
  assert.match(small, /1,000 events, 87\.9 KiB, 1 thread/);
  for (const big of [
    { ...base, events: LARGE_TRACE_EVENTS + 1 },
    { ...base, bytes: LARGE_TRACE_BYTES + 1 },
  ]) {
    const text = summaryLines(big).join('\n');
    assert.match(text, /larger than DevTools opens comfortably \(~1M events or ~500 MiB\).*--min-duration.*--max-depth/);
  }
});
