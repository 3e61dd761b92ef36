/**
 * The agent's memory is bounded in bytes: a minute of stacks 100 frames deep, of functions with
 * 4,000-character names that are replaced five times a second, sampled every 100 µs, stays under
 * the documented default bound (64 MiB of data; the worker's whole heap well under its limit), and
 * the agent keeps answering and sampling. Takes about a minute. Real child process (`npm run build` first).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { parseStacksResponse } from '../src/agent/protocol.js';
import { DEFAULT_MAX_MEMORY } from '../src/agent/config.js';
import { root, sleep, startApp } from './helpers/agent-app.js';

interface Meta {
  samples: number;
  foldedStacks: number;
  memory: { budgetBytes: number; usedBytes: number; storeMigrations: number; workerHeapUsedBytes: number; workerHeapLimitBytes: number };
}

const MiB = 1024 * 1024;

test('60 s of deep stacks with 4,000-character names at 100 µs stay under the memory bound', async () => {
  const a = await startApp({ STACKSCOPE_INTERVAL: '100us' }, { app: path.join(root, 'fixtures/sample/agent-hostile.js') });
  try {
    const seen: Meta[] = [];
    const t0 = Date.now();
    while (Date.now() - t0 < 60_000) {
      await sleep(2000);
      const meta = (await (await fetch(a.base + '/meta', { signal: AbortSignal.timeout(10_000) })).json()) as Meta;
      seen.push(meta);
      const m = meta.memory;
      assert.equal(m.budgetBytes, DEFAULT_MAX_MEMORY);
      assert.ok(m.usedBytes <= m.budgetBytes, `data ${(m.usedBytes / MiB).toFixed(1)} MiB over the ${m.budgetBytes / MiB} MiB bound`);
      // The data estimate is honest: the worker's whole heap (data, the chunk being converted, code)
      // stays within twice the bound, far under the heap limit that would stop the worker.
      assert.ok(m.workerHeapUsedBytes <= 2 * m.budgetBytes, `worker heap ${(m.workerHeapUsedBytes / MiB).toFixed(1)} MiB`);
      assert.equal(a.child.exitCode, null, 'host alive');
    }
    const last = seen[seen.length - 1]!;
    console.log(
      `data MiB: ${seen.map((m) => (m.memory.usedBytes / MiB).toFixed(0)).join(' ')}; heap MiB: ${seen.map((m) => (m.memory.workerHeapUsedBytes / MiB).toFixed(0)).join(' ')}; ` +
        `${last.memory.storeMigrations} store migrations, ${last.foldedStacks} stacks folded, ${last.samples} samples`,
    );
    assert.ok(last.memory.storeMigrations > 0, 'the workload did push the bound');
    assert.ok(last.samples > seen[0]!.samples, 'still sampling');
    // Past the bound the oldest windows leave the history, which can empty it for a moment (once in
    // six full runs the request came then); a window closes every second, so the history fills again.
    let windows = 0;
    for (let tries = 0; tries < 5 && windows === 0; tries++) {
      if (tries > 0) await sleep(1000);
      windows = parseStacksResponse(await (await fetch(a.base + '/stacks', { signal: AbortSignal.timeout(10_000) })).json()).windows.length;
    }
    assert.ok(windows > 0, 'the history still holds windows');
    assert.equal(a.stderr(), '');
  } finally {
    await a.stop();
  }
});
