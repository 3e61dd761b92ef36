/**
 * The collector's memory over a long run, compressed: 20 protocol-v2 test agents each produce a
 * window every 20 ms (an hour of 1 s windows in 72 s), polled by a real `stackscope collect` every
 * 100 ms into SQLite. Prints the collector's resident memory every 10 s: it should stay flat.
 *
 *   npx tsc -p . && node --import tsx benchmarks/collector-memory.ts [--seconds 72]
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  cleanup,
  sleep,
  startAgent,
  startCollector,
  storedTotals,
  sum,
  tmpDir,
  waitForTotals,
  addTotals,
} from '../test/helpers/collect.js';

const i = process.argv.indexOf('--seconds');
const seconds = i > 0 ? Number(process.argv[i + 1]) : 72;
const dir = tmpDir('ss-mem-');
const db = path.join(dir, 'mem.db');
const agents = await Promise.all(
  Array.from({ length: 20 }, (_, k) => startAgent({ seed: 100 + k, periodMs: 20, pool: 2000, perWindow: 20, history: 1_000_000 })),
);
const c = startCollector(['--db', db, ...agents.flatMap((a) => ['--target', a.address]), '--interval', '100ms', '--timeout', '2s']);
const rss = () => {
  const status = fs.readFileSync(`/proc/${c.child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
};
const t0 = Date.now();
const readings: string[] = [];
while (Date.now() - t0 < seconds * 1000) {
  await sleep(10_000);
  const windows = (await Promise.all(agents.map((a) => a.totals()))).reduce((n, t) => n + t.servedWindows, 0);
  readings.push(
    `${Math.round((Date.now() - t0) / 1000)} s: RSS ${rss().toFixed(0)} MiB, ${windows} windows read (${(windows / 20 / 3600).toFixed(2)} h per agent)`,
  );
  console.log(readings[readings.length - 1]);
}
for (const a of agents) a.freeze();
const totals = await Promise.all(agents.map((a) => a.totals()));
await waitForTotals(db, addTotals(...totals.map((t) => t.produced)), {}, 60_000);
console.log(`stored ${sum(await storedTotals(db))} samples = the agents' ${sum(addTotals(...totals.map((t) => t.produced)))}`);
await c.kill();
await cleanup();
fs.rmSync(dir, { recursive: true, force: true });
