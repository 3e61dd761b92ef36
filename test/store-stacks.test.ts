/**
 * A store keeps the stacks and frames its queries read (they never change once stored): a query
 * store open while a collector writes sees every new stack and count in its next query, exactly, and
 * a stack or frame missing from the store is asked for again rather than remembered as missing. In
 * SQLite and in a real PostgreSQL (a throwaway cluster; skipped, saying why, when not installed).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { IdResolver, openStore, queryProfile, type IngestBatch, type Store } from '../src/store/index.js';
import { StackCache, StackTable } from '../src/store/stack-table.js';
import { stackFrames, type Frame, type Profile } from '../src/model/index.js';
import { pgMissing, startPg, tmpDir, type PgCluster } from './helpers/collect.js';

const missing = pgMissing();
let cluster: PgCluster | undefined;
after(() => cluster?.destroy());

const frame = (name: string): Frame => ({ name, file: `/app/${name}.js`, line: 1, col: 1 });
const agent = { instance: 'i1', service: 's', labels: {}, hostname: 'h', pid: 1, startedMs: 0, intervalUs: 1000, version: 't' };

/** samples per stack, keyed by its frame names joined with `;` */
function totals(p: Profile): Record<string, number> {
  const out: Record<string, number> = {};
  p.sampleStack.forEach((s, i) => {
    const k = stackFrames(p, s)
      .map((f) => p.frames[f]!.name)
      .join(';');
    out[k] = (out[k] ?? 0) + p.sampleWeight[i]!;
  });
  return out;
}

function frameIndexes(t: StackTable, id: number): number[] | undefined {
  const slot = t.slot(id);
  return slot < 0 ? undefined : [...t.pool.subarray(t.from(slot), t.to(slot))];
}

async function scenario(db: string): Promise<void> {
  const writer = await openStore(db, { create: true });
  const reader = await openStore(db);
  const resolver = new IdResolver(writer);
  const now = Math.floor(Date.now() / 1000) * 1000;
  const from = now - 5 * 60_000;
  const batch = (rows: number[], r: { newFrames?: IngestBatch['newFrames']; newStacks?: IngestBatch['newStacks'] }): IngestBatch => ({
    address: '127.0.0.1:1',
    agent,
    labels: {},
    cursor: 'c',
    readMs: now,
    newFrames: r.newFrames ?? [],
    newStacks: r.newStacks ?? [],
    rows,
  });
  const query = async (store: Store) => {
    const q = await queryProfile(store, { fromMs: from, untilMs: now });
    return { samples: q.samples, totals: totals(q.profile), notes: q.notes };
  };

  // Two stacks, then a query: the reader has read them.
  const frames = [frame('main'), frame('a'), frame('b'), frame('c')];
  const first = await resolver.resolve(frames, [
    [0, 1],
    [0, 2],
  ]);
  await writer.write([batch([now - 61_000, first.stackIds[0]!, 5, now - 2_000, first.stackIds[1]!, 7], first)]);
  resolver.commit();
  assert.deepEqual(await query(reader), { samples: 12, totals: { 'main;a': 5, 'main;b': 7 }, notes: [] });

  // Written meanwhile: a new stack with a new frame, more of a known one.
  const second = await resolver.resolve(frames, [
    [0, 1],
    [0, 2, 3],
  ]);
  assert.equal(second.newStacks.length, 1);
  await writer.write([batch([now - 3_000, second.stackIds[0]!, 4, now - 1_000, second.stackIds[1]!, 9], second)]);
  resolver.commit();
  const expected = { samples: 25, totals: { 'main;a': 9, 'main;b': 7, 'main;b;c': 9 }, notes: [] };
  assert.deepEqual(await query(reader), expected, 'the open store sees the new stack and counts');
  assert.deepEqual(await query(reader), expected, 'asked again');
  const fresh = await openStore(db);
  assert.deepEqual(await query(fresh), expected, 'a newly opened store answers the same');
  await fresh.close();

  // A stack whose frame is not stored yet, and rows of a stack not stored yet: left out and noted,
  // then counted once they are written.
  const late = frame('late');
  const third = await resolver.resolve(
    [...frames, late],
    [
      [0, 4],
      [0, 3],
    ],
  );
  const [lateFrame] = third.newFrames;
  const [lateStack, unstored] = third.newStacks;
  assert.ok(lateFrame && lateStack && unstored);
  await writer.write([batch([now - 4_000, lateStack.id, 3, now - 4_000, unstored.id, 2], { newStacks: [lateStack] })]);
  for (const store of [reader, await openStore(db)]) {
    const q = await query(store);
    assert.equal(q.samples, 25);
    assert.deepEqual(q.notes, ['5 samples refer to stacks missing from the store and are left out']);
  }
  await writer.write([batch([], { newFrames: [lateFrame], newStacks: [unstored] })]);
  assert.deepEqual(await query(reader), {
    samples: 30,
    totals: { 'main;a': 9, 'main;b': 7, 'main;b;c': 9, 'main;late': 3, 'main;c': 2 },
    notes: [],
  });
  await reader.close();
  await writer.close();
}

test('SQLite: a store open across writes answers every query exactly, new stacks included', async () => {
  await scenario(path.join(tmpDir('ss-stacks-'), 'store.db'));
});

test('PostgreSQL: a store open across writes answers every query exactly, new stacks included', { skip: missing ?? false }, async () => {
  cluster = await startPg();
  await scenario(cluster.url);
});

test('the stack table reads only what it lacks, and starts over past its bound', async () => {
  const stored = new Map<number, number[]>([
    [1, [10, 11]],
    [2, [10, 12, 13]],
    [3, [14]],
  ]);
  const reads: number[][] = [];
  const source = {
    readStacks: async (ids: readonly number[], t: StackTable) => {
      reads.push([...ids]);
      for (const id of ids) if (stored.has(id)) t.add(id, stored.get(id)!);
    },
    readFrames: async (ids: readonly number[], t: StackTable) => {
      for (const id of ids) t.setFrame(id, frame(`f${id}`));
    },
  };
  const names = (t: StackTable, id: number) => [...frameIndexes(t, id)!].map((f) => t.frames[f]!.name);
  const cache = new StackCache(source, 5);
  let t = await cache.stacks([1, 2, 9]);
  assert.deepEqual(names(t, 2), ['f10', 'f12', 'f13']);
  assert.equal(t.slot(9), -1);
  assert.equal(await cache.stacks([1, 2]), t);
  assert.deepEqual(reads, [[1, 2, 9]], 'held stacks are not read again');
  t = await cache.stacks([3, 1]);
  assert.deepEqual(reads.at(-1), [3], 'only the stack it lacks');
  assert.equal(t.refs, 6);
  // 6 references held, more than 5: the next query starts a new table.
  t = await cache.stacks([3, 1]);
  assert.deepEqual(reads.at(-1), [3, 1]);
  assert.equal(t.refs, 3);
  assert.deepEqual(names(t, 3), ['f14']);
  assert.equal(t.slot(2), -1);
  // Frames interned once per table; ids up to 2^52 exactly.
  const table = new StackTable();
  table.add(7, [2 ** 52 - 1, 3, 2 ** 52 - 1]);
  table.add(8, []);
  assert.deepEqual(table.unreadFrames(), [2 ** 52 - 1, 3]);
  assert.deepEqual(frameIndexes(table, 7), [0, 1, 0]);
  assert.deepEqual(frameIndexes(table, 8), []);
});
