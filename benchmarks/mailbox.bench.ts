/**
 * Syncing a fresh mailbox from a mail server on loopback, four ways: one message per request,
 * batches, concurrent requests, and batches with the folder-cache bug fixed. The first three
 * share a planted inefficiency (FolderCache.get reloads the whole folder from the store for
 * every message); trace or sample this bench to find it:
 *
 *   stackscope bench benchmarks/mailbox.bench.ts --mode trace
 *
 * MAILBOX_SIZE (messages, default 400) and MAILBOX_LATENCY_MS (per request, default 1) size it.
 */
import { defineBench } from 'stackscope';
import { startMailServer, syncBatched, syncConcurrent, syncOneAtATime, type SyncResult } from '../fixtures/mailbox/index.js';

const size = Number(process.env.MAILBOX_SIZE ?? 400);
const latencyMs = Number(process.env.MAILBOX_LATENCY_MS ?? 1);

function check(r: SyncResult): void {
  // A strategy that syncs less would look fast for the wrong reason.
  if (r.synced !== size) throw new Error(`synced ${r.synced} of ${size} messages`);
}

export default defineBench({
  name: 'mailbox',
  runs: 5,
  warmup: 1,
  setup: () => startMailServer({ size, latencyMs }),
  teardown: (server) => server.close(),
  strategies: {
    'one-at-a-time': async (server) => check(await syncOneAtATime(server.url)),
    batched: async (server) => check(await syncBatched(server.url, { batchSize: 50 })),
    concurrent: async (server) => check(await syncConcurrent(server.url, { concurrency: 8 })),
    'batched-fixed': async (server) => check(await syncBatched(server.url, { batchSize: 50, fixed: true })),
  },
});
