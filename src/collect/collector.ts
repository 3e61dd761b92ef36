/**
 * The collector: polls every target's `/stacks?since=CURSOR` each interval (bounded concurrency, a
 * timeout per request), and writes what it read with the new cursors in one transaction, so a
 * collector killed at any moment resumes from the stored cursors without losing or doubling a window.
 *
 * While the store is down it keeps polling and holds the responses in a bounded buffer; when the
 * buffer is full it stops advancing (the agents keep their windows) until the store is back.
 */
import type { StacksResponse } from '../agent/protocol.js';
import { IdResolver, applyRetention, StoreUnavailableError, type IngestBatch, type Retention, type Store } from '../store/index.js';
import type { Logger } from './log.js';
import { pollStacks, type ProblemKind } from './poll.js';
import type { Target } from './targets.js';

export interface CollectorOptions {
  intervalMs: number;
  timeoutMs: number;
  concurrency: number;
  /** count rows held at most while the store cannot be written */
  bufferRows: number;
  token?: string;
  retention?: Retention;
  /** the targets now (re-read from a targets file each round) */
  targets: () => Target[];
  log: Logger;
  /** ms between summary lines (at most one per this) */
  summaryEveryMs?: number;
  /** at most this many /stacks requests per target per round while catching up */
  maxPagesPerRound?: number;
}

interface TargetState {
  /** the next cursor to ask with (ahead of the stored one while responses wait in the buffer) */
  cursor?: string;
  instance?: string;
  problem?: ProblemKind;
  problemMessage?: string;
  failedPolls: number;
}

interface Pending {
  address: string;
  labels: Record<string, string>;
  response: StacksResponse;
  readMs: number;
  rows: number;
}

export interface CollectorStats {
  rounds: number;
  polls: number;
  windows: number;
  samples: number;
  rowsWritten: number;
  missedWindows: number;
  restarts: number;
  bufferedRows: number;
  problems: Record<string, string>;
}

export class Collector {
  private readonly state = new Map<string, TargetState>();
  private readonly resolver: IdResolver;
  private buffer: Pending[] = [];
  private bufferedRows = 0;
  private storeDown: string | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  private lastSummary = Date.now();
  private lastRetention = 0;
  private readonly stats: CollectorStats = {
    rounds: 0,
    polls: 0,
    windows: 0,
    samples: 0,
    rowsWritten: 0,
    missedWindows: 0,
    restarts: 0,
    bufferedRows: 0,
    problems: {},
  };
  private sinceSummary = { samples: 0, windows: 0, missed: 0, polls: 0 };

  constructor(
    private readonly store: Store,
    private readonly opts: CollectorOptions,
  ) {
    this.resolver = new IdResolver(store);
  }

  snapshot(): CollectorStats {
    const problems: Record<string, string> = {};
    for (const [a, s] of this.state) if (s.problem) problems[a] = `${s.problem}: ${s.problemMessage}`;
    return { ...this.stats, bufferedRows: this.bufferedRows, problems };
  }

  /** Polls until stop(); each round starts an interval after the previous one started. */
  async run(): Promise<void> {
    while (!this.stopped) {
      const started = Date.now();
      await this.round();
      const wait = this.opts.intervalMs - (Date.now() - started);
      if (wait > 0 && !this.stopped)
        await new Promise<void>((r) => {
          this.wake = r;
          setTimeout(r, wait);
        });
      this.wake = undefined;
    }
  }

  /** Ends the loop after the current round. */
  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  /** One round: poll every target (unless the buffer is full), then write what is held. */
  async round(): Promise<void> {
    this.stats.rounds++;
    const targets = this.opts.targets();
    // Targets taken out of the list are forgotten (their held rows are still written).
    const now = new Set(targets.map((t) => t.address));
    for (const address of this.state.keys()) if (!now.has(address)) this.state.delete(address);
    if (this.bufferedRows < this.opts.bufferRows) {
      await this.loadCursors(targets);
      await this.pollAll(targets);
    }
    await this.flush();
    await this.retention();
    this.summary();
  }

  private async loadCursors(targets: Target[]): Promise<void> {
    const fresh = targets.filter((t) => !this.state.has(t.address));
    if (!fresh.length) return;
    let stored: Map<string, string>;
    try {
      stored = await this.store.cursors(fresh.map((t) => t.address));
    } catch (err) {
      // Without its stored cursor a target cannot be polled without risking a window twice: wait.
      this.storeProblem(err);
      return;
    }
    for (const t of fresh) {
      // Rows still held for it (it left the list and came back while the store was down) are newer.
      const held = this.buffer.findLast((p) => p.address === t.address);
      this.state.set(t.address, { cursor: held ? held.response.cursor : stored.get(t.address), failedPolls: 0 });
    }
  }

  private async pollAll(targets: Target[]): Promise<void> {
    const queue = targets.filter((t) => this.state.has(t.address));
    const workers = Array.from({ length: Math.min(this.opts.concurrency, queue.length) }, async () => {
      for (let t = queue.shift(); t; t = queue.shift()) {
        if (this.bufferedRows >= this.opts.bufferRows) return;
        await this.pollTarget(t);
      }
    });
    await Promise.all(workers);
  }

  private async pollTarget(t: Target): Promise<void> {
    const s = this.state.get(t.address)!;
    const maxPages = this.opts.maxPagesPerRound ?? 20;
    for (let page = 0; page < maxPages; page++) {
      this.stats.polls++;
      this.sinceSummary.polls++;
      const r = await pollStacks(t.address, s.cursor, { timeoutMs: this.opts.timeoutMs, token: this.opts.token });
      if (!r.ok) {
        s.failedPolls++;
        if (s.problem !== r.kind) {
          this.opts.log('problem', `${t.address}: ${r.kind} (${r.message})`, { target: t.address, kind: r.kind, reason: r.message });
        }
        s.problem = r.kind;
        s.problemMessage = r.message;
        return;
      }
      if (s.problem) {
        this.opts.log(
          'recovered',
          `${t.address}: answering again (was ${s.problem} for ${s.failedPolls} poll${s.failedPolls === 1 ? '' : 's'})`,
          { target: t.address, was: s.problem, failedPolls: s.failedPolls },
        );
        s.problem = undefined;
        s.problemMessage = undefined;
      }
      s.failedPolls = 0;
      const resp = r.response;
      if (resp.restarted) {
        this.stats.restarts++;
        this.opts.log(
          'restart',
          `${t.address}: the agent restarted (now pid ${resp.agent.pid}, instance ${resp.agent.instance}): reading from its first kept window`,
          { target: t.address, instance: resp.agent.instance, previous: s.instance, pid: resp.agent.pid },
        );
      }
      if (resp.missedWindows > 0) {
        this.stats.missedWindows += resp.missedWindows;
        this.sinceSummary.missed += resp.missedWindows;
        this.opts.log(
          'missed',
          `${t.address}: ${resp.missedWindows} window${resp.missedWindows === 1 ? '' : 's'} missed (the agent no longer held them; its history is bounded)`,
          { target: t.address, missedWindows: resp.missedWindows },
        );
      }
      s.instance = resp.agent.instance;
      if (resp.windows.length) {
        let rows = 0;
        let samples = 0;
        for (const w of resp.windows) {
          rows += w.counts.length;
          samples += w.samples;
        }
        this.buffer.push({ address: t.address, labels: t.labels, response: resp, readMs: Date.now(), rows });
        this.bufferedRows += rows;
        this.stats.windows += resp.windows.length;
        this.stats.samples += samples;
        this.sinceSummary.windows += resp.windows.length;
        this.sinceSummary.samples += samples;
      } else if (resp.restarted || resp.cursor !== s.cursor) {
        // No window, but a new cursor (a restarted agent with nothing yet): store it with no rows.
        this.buffer.push({ address: t.address, labels: t.labels, response: resp, readMs: Date.now(), rows: 0 });
      }
      s.cursor = resp.cursor;
      if (resp.cursor === resp.lastCursor || !resp.windows.length) return;
      if (this.bufferedRows >= this.opts.bufferRows) return;
    }
  }

  /** Writes everything held, in one transaction; on failure keeps it (and says so once). */
  async flush(): Promise<boolean> {
    if (!this.buffer.length) return true;
    const held = this.buffer;
    try {
      const batches: IngestBatch[] = [];
      for (const p of held) {
        const { stackIds, newFrames, newStacks } = await this.resolver.resolve(p.response.frames, p.response.stacks);
        const rows: number[] = [];
        for (const w of p.response.windows) {
          for (const [bucket, stack, count] of w.counts) if (count > 0) rows.push(bucket, stackIds[stack]!, count);
        }
        batches.push({
          address: p.address,
          agent: p.response.agent,
          labels: p.labels,
          cursor: p.response.cursor,
          readMs: p.readMs,
          newFrames,
          newStacks,
          rows,
        });
      }
      await this.store.write(batches);
      this.resolver.commit();
    } catch (err) {
      this.resolver.rollback();
      this.storeProblem(err);
      return false;
    }
    this.buffer = [];
    this.stats.rowsWritten += this.bufferedRows;
    if (this.storeDown) {
      this.opts.log('store', `database ${this.store.where} is back: wrote the ${this.bufferedRows} held rows`, {
        store: 'up',
        rows: this.bufferedRows,
      });
      this.storeDown = undefined;
    }
    this.bufferedRows = 0;
    return true;
  }

  private storeProblem(err: unknown): void {
    // Any failure is handled alike (hold and retry); the reason says whether the database is down.
    const reason = (err instanceof Error ? err.message.split('\n')[0] : String(err)) || 'unknown error';
    const message = `database ${this.store.where} ${err instanceof StoreUnavailableError ? 'unavailable' : 'failed to write'} (${reason})`;
    const full = this.bufferedRows >= this.opts.bufferRows;
    // One line per outage: its first reason (a stopping server says several things in a row).
    if (this.storeDown === undefined) {
      this.opts.log(
        'store',
        `${message}; still polling, holding what is read in memory (up to ${this.opts.bufferRows} rows; ${this.bufferedRows} held now), written when it is back`,
        { store: 'down', reason: message, bufferedRows: this.bufferedRows, bufferRows: this.opts.bufferRows },
      );
      this.storeDown = message;
    }
    if (full && !this.reportedFull) {
      this.opts.log(
        'buffer',
        `buffer full (${this.bufferedRows} rows): polling paused; the agents keep their windows until their history runs out`,
        { bufferedRows: this.bufferedRows },
      );
      this.reportedFull = true;
    }
    if (!full) this.reportedFull = false;
  }

  private reportedFull = false;

  private async retention(): Promise<void> {
    const r = this.opts.retention;
    if (!r || this.storeDown || Date.now() - this.lastRetention < 60_000) return;
    this.lastRetention = Date.now();
    try {
      const deleted = await applyRetention(this.store, r, Date.now(), 5000, () => new Promise((res) => setImmediate(res)));
      const total = Object.values(deleted).reduce((a, b) => a + (b ?? 0), 0);
      if (total)
        this.opts.log(
          'retention',
          `deleted ${total} rows past the retention (${Object.entries(deleted)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')})`,
          { deleted },
        );
    } catch (err) {
      this.storeProblem(err);
    }
  }

  private summary(): void {
    const every = this.opts.summaryEveryMs ?? 60_000;
    if (Date.now() - this.lastSummary < every) return;
    const secs = Math.round((Date.now() - this.lastSummary) / 1000);
    this.lastSummary = Date.now();
    const s = this.sinceSummary;
    const down = [...this.state.values()].filter((t) => t.problem).length;
    const held = this.bufferedRows ? `; ${this.bufferedRows} rows held for the database` : '';
    this.opts.log(
      'summary',
      `last ${secs} s: ${s.samples} samples in ${s.windows} windows from ${this.state.size - down}/${this.state.size} targets` +
        `${s.missed ? `; ${s.missed} windows missed` : ''}${held}`,
      {
        seconds: secs,
        samples: s.samples,
        windows: s.windows,
        missedWindows: s.missed,
        targets: this.state.size,
        failing: down,
        bufferedRows: this.bufferedRows,
      },
    );
    this.sinceSummary = { samples: 0, windows: 0, missed: 0, polls: 0 };
  }
}
