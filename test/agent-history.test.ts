/** The agent's window history stays bounded by stacks held, not only by window count. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WindowHistory } from '../src/sample/history.js';
import { StallLog } from '../src/sample/stalls.js';

const win = (stacks: number) => ({
  startMs: 0, endMs: 1, intervalUs: 10_000, samples: stacks, foldedStacks: 0,
  stacks: new Map(Array.from({ length: stacks }, (_, i) => [`a;b;f${i}`, 1] as [string, number])),
});

test('history drops the oldest windows past its stack budget; collectors see them as missed', () => {
  const h = new WindowHistory('x', 360, 1000);
  for (let i = 0; i < 10; i++) h.push(win(300));
  assert.equal(h.size, 3, '3 × 300 stacks fit in 1000');
  const r = h.since('x-1');
  assert.deepEqual(r.windows.map((w) => w.seq), [8, 9, 10]);
  assert.equal(r.missedWindows, 6);
  // One window larger than the budget is still kept (the newest is never dropped).
  h.push(win(5000));
  assert.equal(h.size, 1);
  assert.equal(h.totalSamples, 10 * 300 + 5000);
});

test('stalls waiting for a window that never comes are bounded', () => {
  const log = new StallLog((us) => us / 1000, 30e6, 5);
  for (let i = 0; i < 100; i++) log.addStall({ startUs: i * 1e6, endUs: i * 1e6 + 200_000 });
  assert.equal((log as unknown as { pending: unknown[] }).pending.length, 5);
  log.addWindow([], 200e6);
  assert.equal(log.stalls.length, 5);
  assert.equal(log.stalls[0]!.startMs, 95_000);
});
