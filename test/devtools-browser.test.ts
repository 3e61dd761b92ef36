/**
 * What a user really sees: traces written by the real CLI, loaded into the real Chrome DevTools
 * Performance panel (Debian's chromium, its bundled DevTools frontend, the panel's own "Load
 * profile…" file input), read back from the panel's flame chart. The other tests check traces
 * with @paulirish/trace_engine; this one proves the browser agrees with it, track by track.
 *
 * Skipped when /usr/bin/chromium is missing (CI installs it: apt-get install -y chromium).
 * `STACKSCOPE_UPDATE_SCREENSHOT=1` rewrites docs/devtools-example.png from this run.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import zlib from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import {
  chromiumUnavailable,
  launchChromium,
  openPerformancePanel,
  loadInPanel,
  selectEntry,
  expandAllTracks,
  hideSidebar,
  setIgnoreListing,
  trackLabel,
  type Browser,
  type PanelView,
  type PanelTrack,
} from './helpers/browser.js';
import { parseWithDevTools } from './helpers/devtools.js';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const cli = path.join(root, 'dist/cli/index.js');
const unavailable = chromiumUnavailable();
const updateScreenshot = process.env.STACKSCOPE_UPDATE_SCREENSHOT === '1';

const fn = (name: string, line: number) => `${name} (fixtures/example/app.ts:${line})`;

function panelTrack(view: PanelView, label: string): PanelTrack {
  const t = view.tracks.find((x) => x.nesting > 0 && trackLabel(x) === label);
  assert.ok(t, `the panel shows a track "${label}"; it shows: ${view.tracks.map((x) => x.name).join(', ')}`);
  return t;
}

describe('the real DevTools Performance panel (chromium)', { skip: unavailable ?? false, timeout: 180_000 }, () => {
  let tmp = '';
  let browser: Browser | undefined;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-browser-'));
    browser = await launchChromium({ width: 1280, height: 800 });
  });
  after(async () => {
    await browser?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function open(file: string): Promise<{ page: Page; view: PanelView }> {
    const { page, errors } = await openPerformancePanel(browser!);
    const view = await loadInPanel(page, errors, file);
    // what a user would notice: nothing went wrong, nothing was fetched from outside
    assert.deepEqual(view.errors, [], 'no page or console errors in DevTools');
    assert.deepEqual(view.banners, [], 'no error or warning banner, dialog or console message');
    assert.deepEqual(browser!.blocked, [], 'no request beyond 127.0.0.1');
    return { page, view };
  }

  test('trace of fixtures/example/app.ts: main track, async lanes, flows, exactly what the trace engine predicts', async () => {
    const file = path.join(tmp, 'trace.json');
    execFileSync(process.execPath, [cli, 'trace', '-o', file, 'fixtures/example/app.ts'], { cwd: root, stdio: 'pipe' });
    const started = Date.now();
    const { page, view } = await open(file);
    console.log(
      `# example trace: ${view.totalEntries} boxes, loaded by the panel in ${view.loadMs} ms (page + load ${Date.now() - started} ms)`,
    );

    // The tracks: one process row, then main first. Chromium 156 ignores thread_sort_index in a
    // generic trace and orders a process's tracks by their number of entries (most first, ties
    // in file order), so only main's place is certain here: GC pauses vary from run to run.
    const processes = view.tracks.filter((t) => t.nesting === 0).map(trackLabel);
    assert.deepEqual(processes, ['node fixtures/example/app.ts'], 'one process row');
    const threads = view.tracks.filter((t) => t.nesting > 0).map(trackLabel);
    assert.equal(threads[0], 'main', `main is the first track: ${threads.join(', ')}`);
    assert.deepEqual([...threads].sort(), ['GC', 'async 1', 'async 2', 'async 3', 'main'], 'main, three async lanes and GC');

    // The main thread shows the program's functions, named as stackscope wrote them.
    const main = panelTrack(view, 'main');
    assert.equal(main.titles[fn('aggregate', 32)], 3, 'aggregate once per day');
    assert.equal(main.titles[fn('RouteStats.add', 25)], 6000, 'every RouteStats.add call is a box');
    assert.equal(main.titles[fn('makeLog', 6)], 3);
    assert.equal(main.titles[fn('RouteStats.get p95', 26)], 12, 'getters are named');
    assert.equal(main.titles[`resumed: ${fn('fetchDay', 44)}`], 3, 'async continuations on the main track');
    assert.equal(main.titles[fn('main', 49)], 1);
    assert.ok(main.depth >= 4, `main track is ${main.depth} rows deep`);

    // The async lanes hold each fetchDay's whole lifetime, one call per lane where they overlap.
    const lanes = ['async 1', 'async 2', 'async 3'].map((l) => panelTrack(view, l));
    assert.equal(
      lanes.reduce((n, l) => n + (l.titles[fn('fetchDay', 44)] ?? 0), 0),
      3,
      'three fetchDay lifetimes on the async lanes',
    );
    for (const l of lanes) assert.ok(l.titles[fn('fetchDay', 44)], `${l.name} shows fetchDay`);
    assert.equal(panelTrack(view, 'GC').entries >= 1, true, 'GC pauses have a track');

    // Nothing stackscope wrote is dropped: one box per X slice and per instant (GC pauses Node
    // had not reported at the end are one instant on the GC track).
    const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as { traceEvents: Array<{ ph: string }> };
    assert.equal(view.totalEntries, raw.traceEvents.filter((e) => e.ph === 'X' || e.ph === 'I').length, 'every X slice is drawn');

    // The browser agrees with @paulirish/trace_engine, which the other tests rely on: same
    // entries with the same names on every track.
    const engine = await parseWithDevTools(file);
    for (const t of engine.tracks) {
      const shown = panelTrack(view, t.threadName ?? '');
      const expected: Record<string, number> = {};
      for (const e of t.entries) expected[e.name] = (expected[e.name] ?? 0) + 1;
      assert.deepEqual(shown.titles, expected, `track ${t.threadName}: panel and trace engine agree`);
      assert.equal(shown.depth, t.maxDepth, `track ${t.threadName}: same depth`);
    }

    // The screenshot for the README: the whole run, every track expanded.
    await hideSidebar(page);
    await expandAllTracks(page);
    const shot = updateScreenshot ? path.join(root, 'docs/devtools-example.png') : path.join(tmp, 'devtools-example.png');
    fs.mkdirSync(path.dirname(shot), { recursive: true });
    await page.screenshot({ path: shot });
    assert.ok(fs.statSync(shot).size > 10_000, 'a screenshot of the loaded trace');

    // Selecting a continuation draws the flow arrow from the call that awaited.
    const arrows = await selectEntry(page, `resumed: ${fn('fetchDay', 44)}`);
    assert.deepEqual(arrows, [[fn('fetchDay', 44), `resumed: ${fn('fetchDay', 44)}`]], 'flow arrow from fetchDay to its continuation');
    await page.close();
  });

  test('trace --sample of fixtures/trace-sample/app.cjs: exact slices and the sampled frames under them, on one track', async () => {
    const file = path.join(tmp, 'ts.json');
    execFileSync(process.execPath, [cli, 'trace', '--sample', '--interval', '500us', '-o', file, 'fixtures/trace-sample/app.cjs', '30'], {
      cwd: root,
      stdio: 'pipe',
    });
    const handle = 'handle (fixtures/trace-sample/app.cjs:13)';
    const engine = await parseWithDevTools(file);
    const t = engine.tracks.find((x) => x.threadName === 'main');
    assert.ok(t, 'the trace engine has the main track');
    // Ignore listing off (the panel would fold node_modules frames): every sampled frame is drawn.
    const { page, errors } = await openPerformancePanel(browser!);
    await setIgnoreListing(page, false);
    try {
      const view = await loadInPanel(page, errors, file);
      assert.deepEqual(view.errors, [], 'no page or console errors in DevTools');
      assert.deepEqual(view.banners, []);
      console.log(`# trace --sample: ${view.totalEntries} boxes, loaded by the panel in ${view.loadMs} ms`);
      const main = panelTrack(view, 'main');
      assert.equal(main.titles[handle], 30, 'every handle call is a box');
      for (const f of ['digest', 'crunch'])
        assert.ok(main.titles[f], `the panel draws the sampled ${f} on the main track: ${JSON.stringify(main.titles)}`);
      assert.ok(
        (main.durations.crunch ?? 0) > 0 && main.durations.crunch! < main.durations[handle]!,
        "crunch is drawn within handle's time",
      );
      assert.equal(main.entries, t.entries.length, 'panel and trace engine: same number of boxes');
      assert.equal(main.depth, t.maxDepth, 'and the same depth');
      // handle's callers are not drawn again under it (the samples' stacks are cut below the slice)
      assert.ok(!main.titles.handle, 'no sampled copy of handle');
      await hideSidebar(page);
      await expandAllTracks(page);
      const shot = updateScreenshot ? path.join(root, 'docs/devtools-trace-sample.png') : path.join(tmp, 'devtools-trace-sample.png');
      await page.screenshot({ path: shot });
      assert.ok(fs.statSync(shot).size > 10_000, 'a screenshot of the loaded trace');
    } finally {
      await setIgnoreListing(page, true);
      await page.close();
    }
    // By default DevTools folds frames of node_modules and node: into "On ignore list" boxes.
    const { view } = await open(file);
    const main = panelTrack(view, 'main');
    assert.equal(main.titles[handle], 30);
    assert.ok(
      Object.keys(main.titles).some((x) => x.startsWith('On ignore list')),
      'burnlib is ignore-listed by default',
    );
  });

  test('a trace written as .json.gz opens in the panel (as a user drops it), drawn as the trace engine reads it', async () => {
    const file = path.join(tmp, 'trace.json.gz');
    execFileSync(process.execPath, [cli, 'trace', '-o', file, 'fixtures/example/app.ts'], { cwd: root, stdio: 'pipe' });
    const bytes = fs.readFileSync(file);
    assert.deepEqual([...bytes.subarray(0, 2)], [0x1f, 0x8b], 'gzip-compressed');
    const events = JSON.parse(zlib.gunzipSync(bytes).toString('utf8')) as { traceEvents: Array<{ ph: string }> };
    const { page, view } = await open(file);
    console.log(
      `# example trace as .json.gz (${bytes.length} bytes): ${view.totalEntries} boxes, loaded by the panel in ${view.loadMs} ms`,
    );
    assert.equal(
      view.totalEntries,
      events.traceEvents.filter((e) => e.ph === 'X' || e.ph === 'I').length,
      'every slice and instant is drawn',
    );
    const engine = await parseWithDevTools(events);
    assert.equal(engine.dropped, 0);
    for (const t of engine.tracks) {
      const expected: Record<string, number> = {};
      for (const e of t.entries) expected[e.name] = (expected[e.name] ?? 0) + 1;
      assert.deepEqual(panelTrack(view, t.threadName ?? '').titles, expected, `track ${t.threadName}: panel and trace engine agree`);
    }
    assert.equal(panelTrack(view, 'main').titles[fn('RouteStats.add', 25)], 6000);
    await page.close();
  });

  test('async causality (fixtures/async/server.mjs): the panel draws the arrow from the call that scheduled a callback, and from a request to its work', async () => {
    const file = path.join(tmp, 'async.json');
    const cwd = path.join(root, 'fixtures/async');
    execFileSync(process.execPath, [cli, 'trace', '--async', '-o', file, 'server.mjs', '3'], { cwd, stdio: 'pipe' });
    const { page, view } = await open(file);
    const main = panelTrack(view, 'main');
    const at = (name: string) => Object.keys(main.titles).find((t) => t.startsWith(`${name} (app.mjs:`))!;
    assert.equal(main.titles[at('authorized')], 3, 'one timer callback per request');
    // The timer callback: an arrow from auth, which called setTimeout; the panel follows the chain
    // back through auth's caller (app) to the request that started it.
    const timer = await selectEntry(page, at('authorized'));
    assert.deepEqual(timer, [
      [at('auth'), at('authorized')],
      ['HTTP GET /0', at('app')],
    ]);
    // The database callback: the panel shows one initiator per box, so selecting it follows the
    // whole chain back: db.query (called in the timer callback, scheduled by auth, called by app)
    // and the request that started it.
    assert.deepEqual(await selectEntry(page, at('onRows')), [
      [at('db.query'), at('onRows')],
      [at('auth'), at('authorized')],
      ['HTTP GET /0', at('app')],
    ]);
    // The request: arrows to the first and the last slice of its work.
    const req = await selectEntry(page, 'HTTP GET /0');
    assert.deepEqual(req, [
      ['HTTP GET /0', at('app')],
      ['HTTP GET /0', at('onRows')],
    ]);
    await page.close();
  });

  test('sampled trace of fixtures/sample/agree.js: the sampled functions on the sampled thread', async () => {
    const file = path.join(tmp, 's.json');
    execFileSync(process.execPath, [cli, 'sample', '-o', file, '--', 'fixtures/sample/agree.js', '3', '10'], { cwd: root, stdio: 'pipe' });
    const { page, view } = await open(file);
    console.log(`# sampled trace: ${view.totalEntries} boxes, loaded by the panel in ${view.loadMs} ms`);

    assert.deepEqual(view.tracks.filter((t) => t.nesting === 0).map(trackLabel), ['stackscope sample']);
    const thread = panelTrack(view, 'main thread (sampled)');
    assert.equal(thread.titles['CPU profile'], 1, 'the slice covering the profile');
    for (const f of ['heavy', 'medium', 'light', 'tiny'])
      assert.ok(thread.titles[f], `the panel shows sampled function ${f}: ${JSON.stringify(thread.titles)}`);
    // heavy (planted at ~50 % of the run) is the widest of the four. Only that: on a loaded
    // machine the fixture's wall-clock loops are descheduled and the smaller shares blur.
    const d = thread.durations;
    const widest = ['heavy', 'medium', 'light', 'tiny'].sort((a, b) => (d[b] ?? 0) - (d[a] ?? 0))[0];
    assert.equal(widest, 'heavy', `heavy is drawn widest: ${JSON.stringify(d)}`);

    // By default DevTools merges frames of node: internals into "On ignore list" boxes; with
    // ignore listing off the panel draws every sampled frame, exactly as the trace engine does.
    assert.ok(
      Object.keys(thread.titles).some((x) => x.startsWith('On ignore list')),
      'node: internals are ignore-listed',
    );
    await page.close();
    const engine = await parseWithDevTools(file);
    const t = engine.tracks.find((x) => x.threadName === 'main thread (sampled)');
    assert.ok(t, 'the trace engine has the sampled thread');
    const second = await openPerformancePanel(browser!);
    await setIgnoreListing(second.page, false);
    try {
      const all = panelTrack(await loadInPanel(second.page, second.errors, file), 'main thread (sampled)');
      assert.equal(all.entries, t.entries.length, 'panel (no ignore listing) and trace engine: same number of boxes');
      assert.equal(all.depth, t.maxDepth, 'and the same depth');
      assert.ok(!Object.keys(all.titles).some((x) => x.startsWith('On ignore list')));
    } finally {
      await setIgnoreListing(second.page, true);
      await second.page.close();
    }
  });
});
