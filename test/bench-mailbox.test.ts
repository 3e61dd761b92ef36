/**
 * The mailbox fixture under the harness: the planted inefficiency (FolderCache.get reloading the
 * folder from the store on every message, its cost in MessageStore.loadFolder) shows in the
 * combined trace as DevTools reads it, shrinks in the fixed variant, tops `compare`, and shows
 * in the sampled folded stacks and their differential file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseWithDevTools, type DtTrack } from './helpers/devtools.js';
import type { BenchReport } from '../src/bench/index.js';
import type { ProfileDiff } from '../src/compare/index.js';
import { parseFolded } from '../src/formats/folded.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist/cli/index.js');
const env = { ...process.env, MAILBOX_SIZE: '300', MAILBOX_LATENCY_MS: '1' };

function stackscope(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 80_000, env });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

const HOT = /^MessageStore\.loadFolder \(fixtures\/mailbox\/store\.ts:\d+\)$/;

/**
 * Share of a strategy run's JavaScript time (the top-level slices of its main track: calls and
 * the running segments of async functions, network waits excluded) spent in the hot function.
 */
function hotShare(t: DtTrack): number {
  const busy = t.entries.filter((e) => e.depth === 0).reduce((s, e) => s + e.dur, 0);
  const hot = t.entries.filter((e) => HOT.test(e.name) && !e.path.some((p) => HOT.test(p)));
  return hot.reduce((s, e) => s + e.dur, 0) / busy;
}

test('trace mode: the planted reload is a clear share of "batched", drops in "batched-fixed", and tops compare', async (t) => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mailbox-trace-'));
  try {
    const report = JSON.parse(
      stackscope(
        'bench',
        'benchmarks/mailbox.bench.ts',
        '--mode',
        'trace',
        // five runs: with three, a loaded machine (load average 4 on 2 cores) once ranked batched first
        '--runs',
        '5',
        '--warmup',
        '1',
        '--strategy',
        'batched',
        '--strategy',
        'batched-fixed',
        '--out',
        out,
        '--json',
      ),
    ) as BenchReport;
    assert.deepEqual(report.failures, []);
    assert.equal(report.untraced.fastest, 'batched-fixed');

    const dt = await parseWithDevTools(report.outputs.combinedTrace!);
    assert.equal(dt.dropped, 0);
    const main = (name: string) => dt.tracks.find((t) => t.processName === name && t.threadName === 'main')!;
    const buggy = hotShare(main('batched'));
    const fixed = hotShare(main('batched-fixed'));
    assert.ok(buggy > 0.3, `loadFolder takes a clear share of the buggy sync: ${(buggy * 100).toFixed(1)}%`);
    assert.ok(fixed < buggy / 5, `and far less once fixed: ${(fixed * 100).toFixed(1)}% vs ${(buggy * 100).toFixed(1)}%`);
    t.diagnostic(
      `loadFolder share of the traced run's JS time: batched ${(buggy * 100).toFixed(1)}%, batched-fixed ${(fixed * 100).toFixed(1)}%`,
    );
    // The call tree shows where it comes from.
    const hot = main('batched').entries.find((e) => HOT.test(e.name))!;
    assert.ok(
      hot.path.some((p) => p.startsWith('FolderCache.get (fixtures/mailbox/cache.ts:')),
      hot.path.join(' > '),
    );
    assert.ok(
      hot.path.some((p) => p.startsWith('apply (fixtures/mailbox/sync.ts:')),
      hot.path.join(' > '),
    );

    const diff = JSON.parse(
      stackscope('compare', report.outputs.traces!['batched-fixed']!, report.outputs.traces!.batched!, '--json'),
    ) as ProfileDiff;
    assert.match(diff.rows[0]!.label, HOT, `largest change: ${diff.rows[0]!.label}`);
    assert.ok(diff.rows[0]!.selfDelta > 0);
    assert.equal(diff.rows[0]!.b!.calls, 300, 'one reload per message');
    assert.ok(diff.rows[0]!.a!.calls! <= 3, 'one load per folder once fixed');
    const text = stackscope('compare', report.outputs.traces!['batched-fixed']!, report.outputs.traces!.batched!, '--top', '3');
    assert.match(
      text.split('\n').find((l) => l.startsWith('MessageStore'))!,
      /^MessageStore\.loadFolder .* 300 /,
    );
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('sample mode: folded stacks per strategy and a differential folded file show the reload', (t) => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mailbox-sample-'));
  try {
    const report = JSON.parse(
      stackscope(
        'bench',
        'benchmarks/mailbox.bench.ts',
        '--mode',
        'sample',
        '--runs',
        '3',
        '--warmup',
        '1',
        '--strategy',
        'batched',
        '--strategy',
        'batched-fixed',
        '--out',
        out,
        '--json',
      ),
    ) as BenchReport;
    assert.equal(report.observed!.label, 'sampled');
    const folded = (s: string) => parseFolded(fs.readFileSync(report.outputs.folded![s]!, 'utf8'));
    const share = (stacks: Map<string, number>) => {
      let hot = 0,
        all = 0;
      for (const [k, n] of stacks) {
        all += n;
        if (/;(MessageStore\.)?loadFolder \(fixtures\/mailbox\/store\.ts:\d+\)$/.test(k)) hot += n;
      }
      return hot / all;
    };
    const buggy = share(folded('batched'));
    const fixed = share(folded('batched-fixed'));
    assert.ok(buggy > 0.15 && fixed < buggy / 4, `sampled self share of loadFolder: ${buggy.toFixed(2)} vs ${fixed.toFixed(2)}`);
    t.diagnostic(`loadFolder self share of samples: batched ${(buggy * 100).toFixed(1)}%, batched-fixed ${(fixed * 100).toFixed(1)}%`);
    for (const k of folded('batched').keys()) assert.doesNotMatch(k, /bench\/(child|observe)\.js/, 'harness frames are cut');

    const diffFile = report.outputs.diffFolded!.batched!;
    assert.equal(path.basename(diffFile), 'diff.batched-fixed.batched.folded');
    const lines = fs.readFileSync(diffFile, 'utf8').trimEnd().split('\n');
    for (const l of lines) assert.match(l, /^\S.* \d+ \d+$/, 'difffolded.pl format: stack count1 count2');
    const hotLine = lines.find((l) => /loadFolder \(fixtures\/mailbox\/store\.ts:\d+\) \d+ \d+$/.test(l))!;
    const [before, after] = hotLine.split(' ').slice(-2).map(Number);
    assert.ok(after! > before!, hotLine);
    assert.ok(fs.existsSync(report.outputs.cpuprofiles!.batched!));
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
