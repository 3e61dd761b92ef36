/**
 * `stackscope collect` and `stackscope query` against a real SQLite file: real collector child
 * processes polling real HTTP agents (test/helpers/fake-agent.ts, protocol v2) through faults, then
 * the stored per-stack totals compared with the agents' own, exactly.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { parseFolded } from '../src/formats/folded.js';
import { decodePprof } from '../src/formats/pprof.js';
import { modelFrameLabel, type Frame } from '../src/model/index.js';
import {
  addTotals, cleanup, runCli, sleep, startAgent, startCollector, storedTotals, sum, tmpDir, waitFor, waitForTotals,
} from './helpers/collect.js';

after(cleanup);

const fast = ['--interval', '200ms', '--timeout', '1s'];

test('a collector SIGKILLed again and again mid-run loses and doubles nothing', async () => {
  const db = path.join(tmpDir('ss-collect-'), 'kill.db');
  const a = await startAgent({ seed: 11, service: 'api', periodMs: 20, perWindow: 30, pool: 2000 });
  const b = await startAgent({ seed: 12, service: 'worker', periodMs: 30, perWindow: 30, pool: 2000 });
  const args = ['--db', db, '--target', a.address, '--target', b.address, ...fast];
  let kills = 0;
  for (const delay of [900, 450, 700, 330]) {
    const c = startCollector(args);
    await waitFor('the collector to store something', () => fs.existsSync(db) && /collecting from 2 targets/.test(c.stderr()));
    await sleep(delay);
    const { signal } = await c.kill('SIGKILL');
    assert.equal(signal, 'SIGKILL');
    kills++;
  }
  // The agents produced while no collector ran; a last collector catches up from the stored cursors.
  const last = startCollector(args);
  await sleep(600);
  a.freeze();
  b.freeze();
  const ta = await a.totals();
  const tb = await b.totals();
  assert.ok(ta.producedWindows > 50 && tb.producedWindows > 30, 'the agents produced windows throughout');
  await waitForTotals(db, addTotals(ta.produced, tb.produced));
  assert.deepEqual(await storedTotals(db, { service: 'api' }), ta.produced);
  assert.deepEqual(await storedTotals(db, { service: 'worker' }), tb.produced);
  const { code } = await last.kill('SIGTERM');
  assert.equal(code, 0, last.stderr());
  assert.equal(kills, 4);
  assert.match(last.stderr(), /stopped: \d+ samples in \d+ windows read/);
});
