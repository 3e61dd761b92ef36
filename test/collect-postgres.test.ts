/**
 * `stackscope collect` into a real PostgreSQL: a throwaway cluster started by this file on a free
 * loopback port (initdb, pg_ctl), stopped for a while under a running collector, and shared by two
 * collectors at once. Skips, saying why, only when PostgreSQL is not installed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { parseFolded } from '../src/formats/folded.js';
import {
  addTotals,
  cleanup,
  pgMissing,
  runCli,
  sleep,
  startAgent,
  startCollector,
  startPg,
  storedTotals,
  sum,
  waitFor,
  waitForTotals,
  type PgCluster,
} from './helpers/collect.js';

const missing = pgMissing();
let pg: PgCluster;

before(async () => {
  if (!missing) pg = await startPg();
});
after(async () => {
  await cleanup();
  pg?.destroy();
});

test(
  'PostgreSQL stopped under a running collector: it keeps polling, holds what it read, writes it when the database is back',
  { skip: missing ?? false },
  async () => {
    const a = await startAgent({ seed: 51, service: 'pg-down', periodMs: 25 });
    const c = startCollector(['--db', pg.url, '--target', a.address, '--interval', '300ms', '--timeout', '1s']);
    // A second one with a tiny buffer: full, it stops reading (its agent keeps the windows) until the database is back.
    const small = await startAgent({ seed: 52, service: 'pg-small', periodMs: 25 });
    const cs = startCollector(['--db', pg.url, '--target', small.address, '--interval', '300ms', '--timeout', '1s', '--buffer-rows', '40']);
    await waitFor(
      'rows of both in PostgreSQL',
      async () =>
        sum(await storedTotals(pg.url, { service: 'pg-down' })) > 0 && sum(await storedTotals(pg.url, { service: 'pg-small' })) > 0,
    );
    pg.stop();
    try {
      await waitFor(
        'the outage reported',
        () => /(unavailable|failed to write) \(.*\); still polling, holding what is read in memory/.test(c.stderr()),
        20_000,
      );
      const servedBefore = (await a.totals()).servedWindows;
      await sleep(6000);
      const servedDuring = (await a.totals()).servedWindows;
      assert.ok(
        servedDuring > servedBefore + 20,
        `kept polling while the database was down (${servedBefore} → ${servedDuring} windows read)`,
      );
      assert.equal(c.stderr().match(/still polling/g)?.length, 1, `one line for the outage, not one per round:\n${c.stderr()}`);
      assert.match(cs.stderr(), /buffer full \(\d+ rows\): polling paused/);
      const pausedAt = (await small.totals()).servedWindows;
      await sleep(1000);
      assert.equal((await small.totals()).servedWindows, pausedAt, 'a full buffer reads no more windows');
    } finally {
      pg.start();
    }
    await waitFor(
      'the recovery reported',
      () => /is back: wrote the \d+ held rows/.test(c.stderr()) && /is back/.test(cs.stderr()),
      30_000,
    );
    a.freeze();
    small.freeze();
    const t = await a.totals();
    const ts = await small.totals();
    await waitForTotals(pg.url, t.produced, { service: 'pg-down' });
    await waitForTotals(pg.url, ts.produced, { service: 'pg-small' });
    assert.deepEqual(await storedTotals(pg.url, { service: 'pg-down' }), t.produced);
    const { code } = await c.kill();
    assert.equal(code, 0, c.stderr());
    assert.equal((await cs.kill()).code, 0, cs.stderr());
  },
);

test('two collectors with disjoint targets write into one PostgreSQL at once; a query sees both', { skip: missing ?? false }, async () => {
  const agents = await Promise.all(
    [61, 62, 63, 64].map((seed, i) => startAgent({ seed, service: 'fleet', hostname: `node-${i}`, periodMs: 25, pool: 500 })),
  );
  const first = startCollector(['--db', pg.url, '--target', agents[0]!.address, '--target', agents[1]!.address, '--interval', '200ms']);
  const second = startCollector(['--db', pg.url, '--target', agents[2]!.address, '--target', agents[3]!.address, '--interval', '200ms']);
  await waitFor('all four stored', async () => {
    for (let i = 0; i < 4; i++) if (!sum(await storedTotals(pg.url, { host: `node-${i}` }))) return false;
    return true;
  });
  // One of them is killed mid-run and started again: it resumes from its cursors in PostgreSQL.
  await first.kill('SIGKILL');
  await sleep(500);
  const again = startCollector(['--db', pg.url, '--target', agents[0]!.address, '--target', agents[1]!.address, '--interval', '200ms']);
  await sleep(1000);
  for (const a of agents) a.freeze();
  const totals = await Promise.all(agents.map((a) => a.totals()));
  const all = addTotals(...totals.map((t) => t.produced));
  await waitForTotals(pg.url, all, { service: 'fleet' });
  const q = runCli(['query', '--db', pg.url, '--service', 'fleet', '--from', '-1h']);
  assert.equal(q.code, 0, q.stderr);
  assert.equal(sum(Object.fromEntries(parseFolded(q.stdout.toString()))), sum(all));
  for (let i = 0; i < 4; i++) {
    const one = runCli(['query', '--db', pg.url, '--host', `node-${i}`, '--from', '-1h']);
    assert.equal(sum(Object.fromEntries(parseFolded(one.stdout.toString()))), sum(totals[i]!.produced), `node-${i}`);
  }
  // --pid: one agent process (each fake agent is a process of its own, reporting its pid)
  const byPid = runCli(['query', '--db', pg.url, '--pid', String(agents[2]!.child.pid), '--from', '-1h']);
  assert.equal(byPid.code, 0, byPid.stderr);
  assert.equal(sum(Object.fromEntries(parseFolded(byPid.stdout.toString()))), sum(totals[2]!.produced));
  assert.equal(
    (await Promise.all([second.kill(), again.kill()])).every((r) => r.code === 0),
    true,
    second.stderr() + again.stderr(),
  );
});
