/**
 * `stackscope trace --sample` with worker threads that do not end by themselves: one busy in a
 * synchronous loop when the main thread calls process.exit() (which kills it), one stopped by
 * worker.terminate(). The first one's samples must reach the trace, marked as ending early; the
 * second one has none, and the trace and the summary say so.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseWithDevTools, track } from './helpers/devtools.js';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const cli = path.join(root, 'dist/cli/index.js');
const WORK = 'work (fixtures/trace-sample/worker-killed.cjs:9)';

interface Gap {
  tid: number;
  thread: string;
  lastSampleTs?: number;
  why: string;
}

describe('trace --sample: workers killed by the process exit', { timeout: 120_000 }, () => {
  let tmp = '';
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-tsample-w-'));
  });
  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test("a busy worker's samples reach the trace, marked as ending early; a terminated one's absence is said", async () => {
    const out = path.join(tmp, 'killed.json');
    const r = spawnSync(process.execPath, [cli, 'trace', '--sample', '-o', out, 'fixtures/trace-sample/worker-killed.cjs'], {
      cwd: root,
      encoding: 'utf8',
    });
    // The program behaves as untraced: its output and exit code.
    assert.equal(r.status, 3, r.stderr);
    assert.equal(r.stdout, 'main: exiting while busy runs\n');

    const t = JSON.parse(fs.readFileSync(out, 'utf8')) as {
      traceEvents: Array<{ ph: string; name: string; ts: number; dur?: number; tid: number }>;
      metadata: { samples: { incomplete: Gap[] } };
    };
    // Which worker is which: the busy one has work slices up to the end; the terminated one's stop earlier.
    const workers = [...new Set(t.traceEvents.filter((e) => e.ph === 'X' && e.name === WORK).map((e) => e.tid))];
    assert.equal(workers.length, 2, 'both workers have exact work slices');
    const lastWork = (tid: number) => Math.max(...t.traceEvents.filter((e) => e.tid === tid && e.name === WORK).map((e) => e.ts));
    const [busyTid, terminatedTid] = workers.sort((a, b) => lastWork(b) - lastWork(a)) as [number, number];

    const gaps = t.metadata.samples.incomplete;
    const busy = gaps.find((g) => g.tid === busyTid);
    assert.ok(busy, `the busy worker's samples are marked as incomplete: ${JSON.stringify(gaps)}`);
    assert.match(busy.why, /stopped at the process's exit/);
    // They reach the moment the main thread exited: after its last own call began.
    const mainStarts = t.traceEvents.filter((e) => e.tid === 0 && e.ph === 'X').map((e) => e.ts);
    assert.ok(mainStarts.length > 0, 'the main thread has slices');
    assert.ok(busy.lastSampleTs! >= Math.max(...mainStarts), 'samples up to the main thread exit');
    const terminated = gaps.find((g) => g.tid === terminatedTid);
    assert.ok(terminated && terminated.lastSampleTs === undefined, `the terminated worker has no samples: ${JSON.stringify(gaps)}`);
    assert.match(terminated.why, /no CPU samples/);
    assert.ok(
      t.traceEvents.some((e) => e.tid === terminatedTid && e.ph === 'I' && e.name.startsWith('CPU samples: none')),
      "the terminated worker's track says it has no samples",
    );
    assert.match(
      r.stderr,
      new RegExp(`stackscope: the CPU samples of ${busy.thread} \\(pid \\d+\\) end early, stopped at the process's exit`),
    );
    assert.match(r.stderr, new RegExp(`stackscope: ${terminated.thread} \\(pid \\d+\\): no CPU samples`));

    // What the panel draws: the busy worker's crunch sampled under its exact work slices.
    const dt = await parseWithDevTools(out);
    const th = track(dt, busy.thread);
    const work = th.entries.filter((e) => e.name === WORK);
    assert.ok(work.length > 0);
    assert.ok(
      th.entries.some((e) => e.sampled?.functionName === 'crunch' && e.path.includes(WORK)),
      `${busy.thread}: crunch sampled under work`,
    );
  });
});

describe('trace --sample: saveTrace()', { timeout: 120_000 }, () => {
  let tmp = '';
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-tsample-save-'));
  });
  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test("saveTrace() writes the calling thread's samples so far, and the final trace keeps every sample", async () => {
    const out = path.join(tmp, 'final.json');
    const saved = path.join(tmp, 'saved.json');
    const r = spawnSync(
      process.execPath,
      [cli, 'trace', '--sample', '--interval', '200us', '-o', out, 'fixtures/trace-sample/save.mjs', saved],
      {
        cwd: root,
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout) as { samples: number; threads: number; samplesIncomplete: Array<{ thread: string; why: string }> };
    assert.equal(res.threads, 2);
    assert.ok(res.samples > 0, `saveTrace reports the samples it wrote: ${r.stdout}`);
    // The worker's samples cannot be taken from the main thread: said, not silently left out.
    assert.deepEqual(
      res.samplesIncomplete.map((g) => g.thread),
      [res.samplesIncomplete[0]?.thread].filter((x) => x?.startsWith('worker ')),
    );
    assert.match(res.samplesIncomplete[0]!.why, /saveTrace\(\) writes the samples of the thread that calls it only/);

    const HANDLE = 'handle (fixtures/trace-sample/save.mjs:9)';
    const savedJson = JSON.parse(fs.readFileSync(saved, 'utf8')) as { metadata: { samples: { samples: number; incomplete: unknown[] } } };
    assert.equal(savedJson.metadata.samples.samples, res.samples);
    assert.equal(savedJson.metadata.samples.incomplete.length, 1);
    const dtSaved = await parseWithDevTools(saved);
    const mainSaved = track(dtSaved, 'main');
    assert.equal(mainSaved.entries.filter((e) => e.name === HANDLE).length, 30, 'the calls until the save');
    // burnlib's frames: digest, and crunch unless V8 inlined it into digest before the profiler
    // (re)started (V8 then books it to its caller).
    const burnlib = (e: { sampled?: { url: string } }) => e.sampled?.url.endsWith('node_modules/burnlib/index.js') === true;
    assert.ok(
      mainSaved.entries.some((e) => burnlib(e) && e.path.includes(HANDLE)),
      'burnlib sampled under handle in the saved trace',
    );

    // The final trace: samples from before and after the save (the profiler went on).
    const dt = await parseWithDevTools(out);
    const main = track(dt, 'main');
    const handles = main.entries.filter((e) => e.name === HANDLE);
    assert.equal(handles.length, 60);
    const under = (from: number, to: number) =>
      main.entries.filter((e) => burnlib(e) && e.path.includes(HANDLE) && e.ts >= from && e.ts < to).length;
    const firstAfter = handles[30]!.ts;
    assert.ok(under(handles[0]!.ts, firstAfter) > 0, 'samples before the save');
    assert.ok(under(firstAfter, Infinity) > 0, 'samples after the save');
  });
});
