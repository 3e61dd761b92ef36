/**
 * `stackscope ui` in a real browser (Debian's chromium through playwright-core) against a real
 * server: a collector store planted with a known hour of 100 targets (a change planted in its second
 * half, the same hour a day earlier), a 30,000-stack folded file, and a .cpuprofile recorded by V8
 * dropped on the page. Every assertion reads what a person sees: the hover box, the table, the
 * status line, the colours drawn on the canvas, the URL.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { WebSocket } from 'ws';
import type { Page } from 'playwright-core';
import { chromiumUnavailable, launchChromium, type Browser } from './helpers/browser.js';
import {
  API_TARGETS,
  dragTimeline,
  dropFile,
  expectedSelf,
  frameColour,
  framePoint,
  hoverFrame,
  loads,
  plantStore,
  root,
  settled,
  share,
  startUiCli,
  tableRows,
  TARGETS,
  XSS,
  type Planted,
  type UiProcess,
} from './helpers/ui.js';
import { cleanup as stopCollectors, runCli, startCollector, storedTotals, waitFor } from './helpers/collect.js';
import { startApp } from './helpers/agent-app.js';
import { parseFolded } from '../src/formats/folded.js';
import { decodePprof } from '../src/formats/pprof.js';

const skip = chromiumUnavailable() ?? false;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-ui-'));
// The README's screenshots are rewritten only on request (STACKSCOPE_UPDATE_SCREENSHOT=1), so a test
// run leaves the working tree as it was; otherwise they go to a temporary folder.
const docs =
  process.env.STACKSCOPE_UPDATE_SCREENSHOT === '1' ? path.join(root, 'docs') : fs.mkdtempSync(path.join(os.tmpdir(), 'ss-ui-shots-'));
let planted: Planted;
let ui: UiProcess;
let browser: Browser;
const problems: string[] = [];
const dialogs: string[] = [];
const BIG_STACKS = 30_000;
let cpuprofile: string;

async function newPage(): Promise<Page> {
  const page = await browser.context.newPage();
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // (the tests' own reads of the canvas's pixels draw a warning about readback speed)
    if (m.type() === 'error' || (m.type() === 'warning' && !/willReadFrequently/.test(m.text())))
      problems.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  return page;
}

const secs = (ms: number) => (ms / 1000).toFixed(3);
const fmt = (n: number) => `${Math.round(n).toLocaleString('en-US')} samples`;
/** The page's URL for the planted second half hour (the change), in a view. */
const p2 = (extra = '') => `${ui.url}?tl=1h&from=${secs(planted.t1)}&until=${secs(planted.t2)}${extra}`;

before(async () => {
  if (skip) return;
  planted = await plantStore(dir);
  // a folded file with more stacks than the flamegraph's budget
  // a call tree of random depth and branching (a fixed seed), heavy stacks first like real ones
  const lines: string[] = [];
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let i = 0; i < BIG_STACKS; i++) {
    const frames = ['main'];
    const depth = 4 + rand(22);
    for (let d = 1; d < depth; d++) frames.push(`pkg${d % 9}.fn${d}_${rand(2 + Math.floor(d / 2))}`);
    frames.push(`leaf${i}`);
    lines.push(`${frames.join(';')} ${1 + Math.floor(5000 / (1 + (i % 400)))}`);
  }
  fs.writeFileSync(path.join(dir, 'big.folded'), lines.join('\n') + '\n');
  cpuprofile = path.join(dir, 'dropped.cpuprofile');
  const r = spawnSync(process.execPath, [
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
    '--cpu-prof-name=dropped.cpuprofile',
    path.join(root, 'fixtures/ui/dropped.js'),
  ]);
  assert.equal(r.status, 0, r.stderr.toString());
  ui = await startUiCli(['--db', planted.db, path.join(dir, 'big.folded')]);
  browser = await launchChromium({ width: 1400, height: 900 });
  fs.mkdirSync(docs, { recursive: true });
});

after(async () => {
  await stopCollectors();
  await browser?.close();
  await ui?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the hot functions of the selected range: in the hover box and the table, with their figures', { skip }, async () => {
  const page = await newPage();
  await page.goto(p2());
  await settled(page);
  const self = expectedSelf(planted, planted.t1, planted.t2);
  const sum = [...self.values()].reduce((a, b) => a + b, 0);
  const compile = self.get('compileTemplate')!;
  assert.ok(compile > 0);
  assert.match((await page.locator('#status').textContent()) ?? '', new RegExp(`^${fmt(sum)} · `));
  const tip = await hoverFrame(page, 'compileTemplate');
  assert.equal(tip[0], 'compileTemplate');
  assert.equal(tip[1], 'compileTemplate (/srv/app/src/server.ts:80)');
  assert.equal(tip[2], `total: ${fmt(compile)} (${share(compile / sum)})`);
  assert.equal(tip[3], `self: ${fmt(compile)} (${share(compile / sum)})`);
  // handleRequest: total is everything the api did (all 60 api targets), self nothing
  const api = expectedSelf(planted, planted.t1, planted.t2, (i) => i < API_TARGETS);
  const apiSum = [...api.values()].reduce((a, b) => a + b, 0);
  const h = await hoverFrame(page, 'handleRequest');
  assert.equal(h[2], `total: ${fmt(apiSum)} (${share(apiSum / sum)})`);
  assert.equal(h[3], `self: ${fmt(0)} (${share(0)})`);
  await page.screenshot({ path: path.join(docs, 'ui-flamegraph.png') });
  // at 1400 px the header is one line: its last control (export) beside the title, not below it
  const middle = async (sel: string) => {
    const b = (await page.locator(sel).boundingBox())!;
    return b.y + b.height / 2;
  };
  assert.ok(Math.abs((await middle('header h1')) - (await middle('#export'))) < 6, 'export on the header line');
  assert.ok(await page.locator('#pid').isVisible());

  await page.locator('.tab[data-view=table]').click();
  const rows = await tableRows(page);
  assert.deepEqual(rows[0], [
    'compileTemplate (/srv/app/src/server.ts:80)',
    fmt(compile),
    share(compile / sum),
    fmt(compile),
    share(compile / sum),
  ]);
  assert.equal(rows[1]![0], 'parseRequest (/srv/app/src/server.ts:40)');
  assert.equal(rows[1]![1], fmt(self.get('parseRequest')!));
  await page.screenshot({ path: path.join(docs, 'ui-table.png'), clip: { x: 0, y: 0, width: 1400, height: 420 } });
  // sortable: by total, main (everything) comes first
  await page.locator('th', { hasText: /^total$/ }).click();
  assert.equal((await tableRows(page))[0]![0], 'main (/srv/app/src/server.ts:1)');
  assert.equal((await tableRows(page))[0]![3], fmt(sum));
  await page.close();
});

test('dragging a range on the timeline changes the figures to that range', { skip }, async () => {
  const page = await newPage();
  await page.goto(`${ui.url}?tl=1h&from=${secs(planted.t0)}&until=${secs(planted.t2)}`);
  await settled(page);
  await page.locator('.tab[data-view=table]').click();
  const whole = expectedSelf(planted, planted.t0, planted.t2);
  assert.equal((await tableRows(page))[0]![0], 'parseRequest (/srv/app/src/server.ts:40)');
  assert.equal((await tableRows(page))[0]![1], fmt(whole.get('parseRequest')!));
  const statusBefore = await page.locator('#status').textContent();
  const n = await loads(page);
  // the timeline shows the last hour; its last part is the planted change
  await dragTimeline(page, 0.6, 0.93);
  await settled(page, n);
  const u = new URL(page.url());
  const from = Math.round(Number(u.searchParams.get('from')) * 1000);
  const until = Math.round(Number(u.searchParams.get('until')) * 1000);
  assert.ok(from > planted.t1 && until <= planted.t2, `the drag selected ${new Date(from).toISOString()}–${new Date(until).toISOString()}`);
  const part = expectedSelf(planted, from, until);
  const sum = [...part.values()].reduce((a, b) => a + b, 0);
  const status = await page.locator('#status').textContent();
  assert.notEqual(status, statusBefore);
  assert.match(status ?? '', new RegExp(`^${fmt(sum)} · `));
  const rows = await tableRows(page);
  assert.equal(rows[0]![0], 'compileTemplate (/srv/app/src/server.ts:80)');
  assert.equal(rows[0]![1], fmt(part.get('compileTemplate')!));
  await page.close();
});

test('the timeline split by service: one line and one total per service', { skip }, async () => {
  const page = await newPage();
  await page.goto(p2());
  await settled(page);
  const n = await loads(page);
  await page.locator('#split').check();
  await settled(page, n);
  assert.equal(new URL(page.url()).searchParams.get('split'), '1');
  const legend = await page.locator('#tl-legend > span').allTextContents();
  assert.deepEqual(
    legend.map((l) => l.split(':')[0]),
    ['api', 'worker'],
  );
  const totals = legend.map((l) => Number(/: ([\d,]+) samples$/.exec(l)![1]!.replace(/,/g, '')));
  // 40 worker targets, 6 samples each per planted 10 s step; api 60 targets, 10 or 18 each
  assert.ok(totals[1]! > 0 && totals[1]! % 240 === 0, legend.join(' | '));
  assert.ok(totals[0]! > totals[1]!, legend.join(' | '));
  assert.equal(await page.locator('#timeline .u-over').count(), 1);
  await page.close();
});

test('search highlights the matching frames and says their share of the whole', { skip }, async () => {
  const page = await newPage();
  await page.goto(p2());
  await settled(page);
  await page.locator('#search').fill('render');
  // samples with renderPage anywhere in their stack: renderPage itself, compileTemplate and the <img> frame below it
  const self = expectedSelf(planted, planted.t1, planted.t2);
  const sum = [...self.values()].reduce((a, b) => a + b, 0);
  const under = self.get('renderPage')! + self.get('compileTemplate')! + self.get(XSS)!;
  await page.locator('#search-share', { hasText: share(under / sum) }).waitFor();
  assert.equal(await page.locator('#search-share').textContent(), `“render”: ${share(under / sum)} of all samples (1 function)`);
  assert.deepEqual(await frameColour(page, 'renderPage'), [231, 84, 128]);
  assert.deepEqual(await frameColour(page, 'parseRequest'), [220, 220, 220]);
  await page.close();
});

test('compare: a day earlier and a picked range rank the planted change first; the diff draws it red', { skip }, async () => {
  const page = await newPage();
  await page.goto(p2());
  await settled(page);
  let n = await loads(page);
  await page.locator('#cmp-day').click();
  await settled(page, n);
  assert.equal(new URL(page.url()).searchParams.get('cmp'), 'day');
  const [r, g, b] = await frameColour(page, 'compileTemplate');
  assert.ok(r > 200 && g < 200 && b < 200, `compileTemplate drawn red: ${r},${g},${b}`);
  const [r2, , b2] = await frameColour(page, 'parseRequest');
  assert.ok(b2 > r2, `parseRequest (a smaller share than a day earlier) drawn blue: ${r2},${b2}`);
  const tip = await hoverFrame(page, 'compileTemplate');
  const self = expectedSelf(planted, planted.t1, planted.t2);
  const sum = [...self.values()].reduce((a, b) => a + b, 0);
  assert.equal(tip[2], `total before: ${fmt(0)} (${share(0)})`);
  assert.equal(tip[3], `total after: ${fmt(self.get('compileTemplate')!)} (${share(self.get('compileTemplate')! / sum)})`);
  await page.screenshot({ path: path.join(docs, 'ui-compare.png') });
  await page.locator('.tab[data-view=table]').click();
  let rows = await tableRows(page);
  assert.deepEqual(rows[0], [
    'compileTemplate (/srv/app/src/server.ts:80)',
    share(0),
    share(self.get('compileTemplate')! / sum),
    `+${share(self.get('compileTemplate')! / sum)}`,
  ]);

  // the first half hour against the second, picked on the timeline
  n = await loads(page);
  await page.locator('#cmp-off').click();
  await settled(page, n);
  n = await loads(page);
  await page.locator('#cmp-pick').click();
  await dragTimeline(page, 0.1, 0.45);
  await settled(page, n);
  assert.equal(new URL(page.url()).searchParams.get('cmp'), 'range');
  rows = await tableRows(page);
  assert.equal(rows[0]![0], 'compileTemplate (/srv/app/src/server.ts:80)');
  assert.equal(rows[0]![1], share(0));
  await page.close();
});

test('a reloaded or copied URL restores range, zoom, search, view and table filter', { skip }, async () => {
  const page = await newPage();
  await page.goto(p2());
  await settled(page);
  // click handleRequest to zoom into it
  const point = await framePoint(page, 'handleRequest');
  await page.mouse.click(point!.x, point!.y);
  await page.waitForFunction(() => new URL(location.href).searchParams.getAll('z').length === 3);
  await page.locator('#search').fill('parse');
  await page.locator('#search-share', { hasText: '“parse”' }).waitFor();
  await page.locator('.tab[data-view=table]').click();
  await page.locator('#table-filter').fill('request');
  const shown = async (pg: Page) => ({
    status: await pg.locator('#status').textContent(),
    range: await pg.locator('#range').textContent(),
    share: await pg.locator('#search-share').textContent(),
    rows: await tableRows(pg),
    tableVisible: await pg.locator('#view-table').isVisible(),
    zoom: await pg.evaluate(() => {
      const f = (window as unknown as { __stackscope: { flame: { zoom: number; pathOf(i: number): string[] } } }).__stackscope.flame;
      return f.zoom < 0 ? [] : f.pathOf(f.zoom);
    }),
  });
  const want = await shown(page);
  assert.equal(want.rows.length, 2); // handleRequest and parseRequest
  assert.deepEqual(want.zoom.at(-1), 'handleRequest (/srv/app/src/server.ts:20)');
  assert.ok(want.tableVisible);
  const url = page.url();
  await page.reload();
  await settled(page);
  await page.locator('#search-share', { hasText: '“parse”' }).waitFor();
  assert.deepEqual(await shown(page), want);
  const copy = await newPage();
  await copy.goto(url);
  await settled(copy);
  await copy.locator('#search-share', { hasText: '“parse”' }).waitFor();
  assert.deepEqual(await shown(copy), want);
  await copy.close();
  await page.close();
});

test('a dropped .cpuprofile is read on the server and shown in the same views', { skip }, async () => {
  const page = await newPage();
  await page.goto(p2());
  await settled(page);
  const n = await loads(page);
  await dropFile(page, cpuprofile);
  await settled(page, n);
  assert.match(new URL(page.url()).searchParams.get('file') ?? '', /^u\d+$/);
  assert.equal(await page.locator('#file option:checked').textContent(), 'dropped.cpuprofile (cpuprofile)');
  const tip = await hoverFrame(page, 'droppedHotFunction');
  assert.equal(tip[0], 'droppedHotFunction');
  assert.match(tip[1]!, /fixtures\/ui\/dropped\.js:2\)$/);
  await page.locator('.tab[data-view=table]').click();
  const rows = await tableRows(page);
  assert.match(rows[0]![0]!, /^droppedHotFunction \(/, 'the hot function of the recorded program first');
  // its own clock: a timeline of the recording, and a range can be chosen in it
  const m = await loads(page);
  await dragTimeline(page, 0.5, 0.9);
  await settled(page, m);
  assert.match((await page.locator('#range').textContent()) ?? '', /range: \d+\.\d+ s → \d+\.\d+ s/);
  await page.close();
});

test('started with nothing, the page asks for a file and shows the one dropped', { skip }, async () => {
  const bare = await startUiCli([]);
  try {
    const page = await newPage();
    await page.goto(bare.url);
    await page.waitForFunction(() => document.body.dataset.state === 'empty');
    assert.match(
      await page.locator('#empty').innerText(),
      /^No profile yet\. Drop a trace\.json, \.cpuprofile, folded or \.pb\.gz file anywhere on this page/,
    );
    await dropFile(page, cpuprofile);
    await settled(page, 0);
    assert.ok(await page.locator('#empty').isHidden());
    assert.equal((await hoverFrame(page, 'droppedHotFunction'))[0], 'droppedHotFunction');
    await page.close();
  } finally {
    await bare.stop();
  }
});

test('compare two files: the one shown against another picked in the list', { skip }, async () => {
  const before = path.join(dir, 'before.folded');
  const afterFile = path.join(dir, 'after.folded');
  fs.writeFileSync(before, 'main;work;parse 60\nmain;work;render 40\n');
  fs.writeFileSync(afterFile, 'main;work;parse 60\nmain;work;render 40\nmain;work;slowNewThing 100\n');
  const two = await startUiCli([before, afterFile]);
  try {
    const page = await newPage();
    await page.goto(`${two.url}?file=f2&view=table`);
    await settled(page);
    const n = await loads(page);
    await page.locator('#cmp-file').selectOption({ label: 'before.folded' });
    await settled(page, n);
    assert.equal(new URL(page.url()).searchParams.get('cfile'), 'f1');
    assert.match((await page.locator('#range').textContent()) ?? '', /compared with the file before\.folded$/);
    const rows = await tableRows(page);
    assert.deepEqual(rows[0], ['slowNewThing', share(0), share(0.5), `+${share(0.5)}`]);
    // parse: 60 % of the whole before, 30 % after
    assert.deepEqual(
      rows.find((r) => r[0] === 'parse'),
      ['parse', share(0.6), share(0.3), `−${share(0.3)}`],
    );
    await page.close();
  } finally {
    await two.stop();
  }
});

test('a function named like markup is shown as text everywhere, and no dialog opens', { skip }, async () => {
  const page = await newPage();
  await page.goto(p2());
  await settled(page);
  const tip = await hoverFrame(page, XSS);
  assert.equal(tip[0], XSS);
  await page.locator('.tab[data-view=table]').click();
  await page.locator('#table-filter').fill('onerror');
  const rows = await tableRows(page);
  assert.equal(rows.length, 1);
  assert.equal(rows[0]![0], `${XSS} (/srv/app/src/server.ts:99)`);
  // its sandwich: the title and both graphs
  await page.locator('#table tbody tr').first().click();
  await page.locator('#view-sandwich').waitFor({ state: 'visible' });
  await page.waitForFunction((fn) => document.body.dataset.sandwich === fn, `${XSS} (/srv/app/src/server.ts:99)`);
  assert.equal(await page.locator('#sandwich-title').textContent(), `${XSS} (/srv/app/src/server.ts:99)`);
  const callers = await hoverFrame(page, 'renderPage', 'callers');
  assert.equal(callers[0], 'renderPage');
  await page.locator('#search').fill('<img');
  await page.locator('#search-share', { hasText: '“<img”' }).waitFor();
  await page.waitForTimeout(300);
  assert.equal(await page.locator('img').count(), 0);
  assert.deepEqual(dialogs, []);
  await page.close();
});

test('sandwich: who calls a function and what it calls', { skip }, async () => {
  const page = await newPage();
  await page.goto(p2('&view=table'));
  await settled(page);
  await page.locator('#table tbody tr', { hasText: 'renderPage' }).first().click();
  await page.waitForFunction(() => document.body.dataset.sandwich === 'renderPage (/srv/app/src/server.ts:60)');
  const self = expectedSelf(planted, planted.t1, planted.t2);
  const under = self.get('renderPage')! + self.get('compileTemplate')! + self.get(XSS)!;
  const callee = await hoverFrame(page, 'compileTemplate', 'callees');
  assert.match(
    callee[2]!,
    new RegExp(`^total: ${fmt(self.get('compileTemplate')!)} \\(${share(self.get('compileTemplate')! / under).replace(/\./g, '\\.')}\\)$`),
  );
  const caller = await hoverFrame(page, 'Layer.handle', 'callers');
  assert.equal(caller[2], `total: ${fmt(under)} (100 %)`.replace('100 %', share(1)));
  await page.mouse.move(0, 0);
  await page.screenshot({ path: path.join(docs, 'ui-sandwich.png') });
  await page.close();
});

test('export what is shown: folded, pprof, speedscope JSON and a Chrome trace of the range', { skip }, async () => {
  const page = await newPage();
  await page.goto(p2('&service=api'));
  await settled(page);
  const api = expectedSelf(planted, planted.t1, planted.t2, (i) => i < API_TARGETS);
  const got: Record<string, Buffer> = {};
  for (const format of ['folded', 'pprof', 'speedscope', 'trace']) {
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#export').selectOption(format)]);
    got[format] = fs.readFileSync((await download.path())!);
  }
  const folded = parseFolded(got.folded!.toString());
  const compile = [...folded].filter(([k]) => k.endsWith('compileTemplate (/srv/app/src/server.ts:80)')).reduce((a, [, v]) => a + v, 0);
  assert.equal(compile, api.get('compileTemplate'));
  assert.ok(![...folded.keys()].some((k) => k.includes('crunchNumbers')), 'the service filter applies to the export');
  const pprof = decodePprof(zlib.gunzipSync(got.pprof!));
  assert.ok(pprof.sample.length > 0);
  const speedscope = JSON.parse(got.speedscope!.toString()) as { $schema: string; shared: { frames: Array<{ name: string }> } };
  assert.match(speedscope.$schema, /speedscope/);
  assert.ok(speedscope.shared.frames.some((f) => f.name === 'compileTemplate'));
  const trace = JSON.parse(got.trace!.toString()) as { traceEvents: Array<{ name: string }> };
  assert.ok(trace.traceEvents.some((e) => e.name === 'ProfileChunk'));
  await page.close();
});

test('a 20,000-node flamegraph: drawing, hovering and zooming, measured in the browser', { skip }, async () => {
  const page = await newPage();
  await page.goto(`${ui.url}?file=f1`);
  await settled(page);
  // the 20,000 heaviest nodes and the "(other)" nodes that hold the rest
  const nodes = Number(/ ([\d,]+) nodes$/.exec((await page.locator('#status').textContent()) ?? '')?.[1]?.replace(/,/g, ''));
  assert.ok(nodes > 20_000 && nodes < 21_000, `${nodes} nodes`);
  assert.match((await page.locator('#notes').textContent()) ?? '', /folded into "\(other\)" \(kept the 20000 heaviest\)/);
  const figures = await page.evaluate(async () => {
    const f = (window as unknown as { __stackscope: { flame: any } }).__stackscope.flame;
    f.timings.draw.length = 0;
    for (let i = 0; i < 15; i++) f.draw();
    const draw = [...f.timings.draw];
    const boxes = f.lastBoxes;
    // layout + first draw, as when a new tree arrives
    const t0 = performance.now();
    f.setTree(f.tree);
    const setTree = performance.now() - t0;
    return { draw, setTree, nodes: f.layout.n, boxes };
  });
  assert.equal(figures.nodes, nodes);
  await page.screenshot({ path: path.join(docs, 'ui-20k-nodes.png') });
  const box = (await page.locator('#flame').boundingBox())!;
  await page.evaluate(() => {
    (window as any).__stackscope.flame.timings.hover.length = 0;
  });
  for (let i = 0; i < 60; i++) await page.mouse.move(box.x + 5 + ((i * 37) % (box.width - 10)), box.y + 20 + (i % 4) * 18);
  const hover = await page.evaluate(() => [...(window as any).__stackscope.flame.timings.hover] as number[]);
  await page.evaluate(() => {
    (window as any).__stackscope.flame.timings.zoom.length = 0;
  });
  for (let i = 0; i < 6; i++) await page.mouse.click(box.x + box.width * (0.1 + i * 0.13), box.y + 18 * 2 + 9);
  const zoom = await page.evaluate(() => [...(window as any).__stackscope.flame.timings.zoom] as number[]);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const max = (xs: number[]) => Math.max(...xs);
  const report = {
    boxesDrawn: figures.boxes,
    drawMedianMs: +median(figures.draw).toFixed(2),
    drawMaxMs: +max(figures.draw).toFixed(2),
    layoutAndDrawMs: +figures.setTree.toFixed(2),
    hoverMedianMs: +median(hover).toFixed(2),
    hoverMaxMs: +max(hover).toFixed(2),
    zoomMedianMs: +median(zoom).toFixed(2),
    zoomMaxMs: +max(zoom).toFixed(2),
  };
  process.stdout.write(`# ui figures (${nodes} nodes): ${JSON.stringify(report)}\n`);
  // Goals: draw < 100 ms, hover and zoom < 16 ms; asserted with room for a busy shared machine.
  assert.ok(report.drawMedianMs < 200, `draw ${report.drawMedianMs} ms`);
  assert.ok(report.hoverMedianMs < 32 && report.zoomMedianMs < 100, JSON.stringify(report));
  await page.close();
});

test('the API: a 15-minute range over 100 targets, timed; bad parameters get a 4xx and one line', { skip }, async () => {
  const base = ui.url;
  // the same 15 minutes of all 100 targets, each time a new query (the end moved by 1 ms: nothing
  // cached on the server; the planted rows are 10 s apart, so the figures are the same)
  const times: number[] = [];
  const sums: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const res = await fetch(`${base}api/flame?from=${secs(planted.t2 - 15 * 60_000)}&until=${secs(planted.t2 + 1 + i)}`);
    const body = (await res.json()) as { sum: number };
    times.push(performance.now() - t0);
    assert.equal(res.status, 200);
    sums.push(body.sum);
  }
  const expected = [...expectedSelf(planted, planted.t2 - 15 * 60_000, planted.t2).values()].reduce((a, b) => a + b, 0);
  assert.deepEqual(
    sums,
    sums.map(() => expected),
  );
  const info = (await (await fetch(`${base}api/info`)).json()) as { targets: number };
  assert.equal(info.targets, TARGETS);
  const median = [...times].sort((a, b) => a - b)[2]!;
  process.stdout.write(
    `# ui API: flamegraph of 15 minutes over ${TARGETS} targets: median ${median.toFixed(0)} ms (${times.map((t) => t.toFixed(0)).join(', ')})\n`,
  );
  assert.ok(median < 1000, `API took ${median} ms`);

  for (const [url, status, line] of [
    ['api/flame?from=yesterday&until=now', 400, /^stackscope: bad from "yesterday": /],
    ['api/flame?from=-15m', 400, /^stackscope: give both from and until$/],
    ['api/flame?from=now&until=-1h', 400, /^stackscope: bad range: /],
    ['api/flame?max=0', 400, /^stackscope: bad max: /],
    ['api/flame?colour=red', 400, /^stackscope: unknown parameter "colour"/],
    ['api/flame?label=region', 400, /^stackscope: bad label "region": give key=value$/],
    ['api/flame?pid=12x', 400, /^stackscope: bad pid "12x": give a process id, a positive whole number$/],
    ['api/functions?pid=0', 400, /^stackscope: bad pid "0": /],
    ['api/flame?file=f1&pid=7', 400, /^stackscope: service, host, pid and label filters are for a collector's store/],
    ['api/flame?file=u999', 400, /^stackscope: no file u999 /],
    ['api/timeline?split=host', 400, /^stackscope: bad split: only split=service$/],
    ['api/timeline?split=service&file=f1', 400, /^stackscope: split=service is for a collector's store$/],
    ['api/export?format=exe', 400, /^stackscope: bad format: one of folded, pprof, speedscope, trace$/],
    ['api/sandwich?fn=nothing%20(x:1)', 404, /^stackscope: no such function in this range$/],
    ['api/nothing', 404, /^stackscope: no API endpoint \/api\/nothing$/],
    ['nothing.html', 404, /^stackscope: nothing at \/nothing.html$/],
  ] as const) {
    const res = await fetch(base + url);
    const text = await res.text();
    assert.equal(res.status, status, `${url}: ${text}`);
    assert.equal(text.trimEnd().split('\n').length, 1, url);
    assert.match(text.trimEnd(), line, url);
  }
  const bad = await fetch(`${base}api/upload?name=x.json`, { method: 'POST', body: '{"neither": 1}' });
  assert.equal(bad.status, 400);
  assert.equal(await bad.text(), 'stackscope: x.json: JSON but neither a trace (traceEvents) nor a .cpuprofile (nodes)\n');
});

test('the pid filter: two processes of one service on one host; the page, the live push and query --pid show one', { skip }, async () => {
  // fixtures/ui/pid-app.js twice under the production agent: alphaWork in one process, betaWork in the other
  const env = { STACKSCOPE_SERVICE: 'pids', STACKSCOPE_WINDOW: '1' };
  const app = path.join(root, 'fixtures/ui/pid-app.js');
  const [alpha, beta] = await Promise.all([startApp(env, { app, args: ['alpha'] }), startApp(env, { app, args: ['beta'] })]);
  const pidDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-ui-pid-'));
  const db = path.join(pidDir, 'pids.db');
  let pidUi: UiProcess | undefined;
  try {
    const collector = startCollector([
      '--db',
      db,
      '--target',
      `127.0.0.1:${alpha.port}`,
      '--target',
      `127.0.0.1:${beta.port}`,
      '--interval',
      '300ms',
    ]);
    const folded = (args: string[]) => {
      const r = runCli(['query', '--db', db, '--from', '-1h', ...args]);
      assert.equal(r.code, 0, r.stderr);
      return parseFolded(r.stdout.toString());
    };
    const has = (f: Map<string, number>, fn: string) => [...f.keys()].some((k) => k.includes(`${fn} (fixtures/ui/pid-app.js:`));
    await waitFor(
      'both processes stored',
      async () => {
        const stored = Object.keys(await storedTotals(db));
        return ['alphaWork', 'betaWork'].every((fn) => stored.some((k) => k.includes(`"name":"${fn}"`)));
      },
      40_000,
      300,
    );
    // the data stays as it is from here on: the processes and the collector stop
    await Promise.all([alpha.stop(), beta.stop()]);
    assert.equal((await collector.kill()).code, 0, collector.stderr());
    const pidA = alpha.child.pid!;
    const pidB = beta.child.pid!;

    // query --pid on the command line: only that process's functions, and the two add up to the whole
    const total = (f: Map<string, number>) => [...f.values()].reduce((a, b) => a + b, 0);
    const [onlyA, onlyB] = [folded(['--pid', String(pidA)]), folded(['--pid', ` ${pidB}`])];
    const all = Object.values(await storedTotals(db)).reduce((a, b) => a + b, 0);
    assert.ok(has(onlyA, 'alphaWork') && !has(onlyA, 'betaWork'), [...onlyA.keys()].join('\n'));
    assert.ok(has(onlyB, 'betaWork') && !has(onlyB, 'alphaWork'), [...onlyB.keys()].join('\n'));
    assert.equal(total(onlyA) + total(onlyB), all);
    const bad = runCli(['query', '--db', db, '--pid', 'web-1']);
    assert.notEqual(bad.code, 0);
    assert.equal(bad.stderr, 'stackscope: bad --pid "web-1": give a process id, a positive whole number\n');

    pidUi = await startUiCli(['--db', db]);
    const page = await newPage();
    await page.goto(`${pidUi.url}?tl=1h&from=-1h&until=now&view=table`);
    await settled(page);
    const names = async () => (await tableRows(page)).map((r) => r[0]!);
    assert.ok((await names()).some((n) => n.startsWith('alphaWork (')) && (await names()).some((n) => n.startsWith('betaWork (')));
    // the pid picker names each process by its service and host
    const host = os.hostname();
    assert.equal(await page.locator(`#pid option[value="${pidA}"]`).textContent(), `${pidA} · pids on ${host}`);
    const n = await loads(page);
    await page.locator('#pid').selectOption(String(pidA));
    await settled(page, n);
    assert.equal(new URL(page.url()).searchParams.get('pid'), String(pidA));
    assert.ok(
      (await names()).some((x) => x.startsWith('alphaWork (')),
      (await names()).join(' | '),
    );
    assert.ok(!(await names()).some((x) => x.startsWith('betaWork (')), (await names()).join(' | '));
    assert.match((await page.locator('#status').textContent()) ?? '', new RegExp(`^${fmt(total(onlyA))} · `));
    await page.locator('.tab[data-view=flame]').click();
    assert.equal((await hoverFrame(page, 'alphaWork'))[0], 'alphaWork');
    assert.equal(await framePoint(page, 'betaWork'), null);
    // a reloaded link keeps the pid
    await page.reload();
    await settled(page);
    assert.equal(await page.locator('#pid').inputValue(), String(pidA));
    assert.match((await page.locator('#status').textContent()) ?? '', new RegExp(`^${fmt(total(onlyA))} · `));
    await page.close();

    // live mode: the window pushed over the WebSocket counts that process only, split by service too
    const pushed = async (pid: number) => {
      const ws = new WebSocket(`${pidUi!.url.replace(/^http/, 'ws')}api/live`);
      try {
        await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
        const first = new Promise<{ type: string; points: Array<[number, number]>; series?: Array<{ name: string; values: number[] }> }>(
          (resolve) => ws.once('message', (d) => resolve(JSON.parse(String(d)))),
        );
        ws.send(JSON.stringify({ filters: { pid, labels: {} }, spanMs: 3_600_000, split: 'service' }));
        return await first;
      } finally {
        ws.close();
      }
    };
    for (const [pid, want] of [
      [pidA, total(onlyA)],
      [pidB, total(onlyB)],
    ] as const) {
      const m = await pushed(pid);
      assert.equal(m.type, 'timeline');
      assert.equal(
        m.points.reduce((a, p) => a + p[1], 0),
        want,
      );
      assert.deepEqual(
        m.series?.map((x) => [x.name, x.values.reduce((a, b) => a + b, 0)]),
        [['pids', want]],
      );
    }
  } finally {
    await pidUi?.stop();
    await Promise.all([alpha.stop(), beta.stop()]);
    fs.rmSync(pidDir, { recursive: true, force: true });
  }
});

test('live: a real agent polled by a real collector; new windows appear on the page without a reload', { skip }, async () => {
  // fixtures/sample/agent-app.js under the production agent: crunchNumbers and hashStrings on timers
  const app = await startApp({ STACKSCOPE_SERVICE: 'live', STACKSCOPE_WINDOW: '1' });
  const liveDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-ui-live-'));
  const db = path.join(liveDir, 'live.db');
  const collector = startCollector(['--db', db, '--target', `127.0.0.1:${app.port}`, '--interval', '500ms']);
  let liveUi: UiProcess | undefined;
  try {
    await waitFor('the collector to start', () => /collecting from 1 target/.test(collector.stderr()));
    liveUi = await startUiCli(['--db', db]);
    const page = await newPage();
    await page.goto(`${liveUi.url}?tl=5m&from=-5m&until=now&live=1&view=table&service=live`);
    await settled(page);
    await page.evaluate(() => {
      (window as unknown as { marker: number }).marker = 42;
    });
    const pushes = () => page.evaluate(() => Number(document.body.dataset.livePushes ?? 0));
    const samplesShown = async () =>
      Number(/^([\d,]+) samples/.exec((await page.locator('#status').textContent()) ?? '')?.[1]?.replace(/,/g, '') ?? 0);
    // the fixture's hot function shows up as the collector stores the agent's windows
    await page.locator('#table tbody tr', { hasText: 'crunchNumbers' }).first().waitFor({ timeout: 40_000 });
    const before = { pushes: await pushes(), samples: await samplesShown() };
    await waitFor(
      'another window pushed and shown',
      async () => (await pushes()) > before.pushes && (await samplesShown()) > before.samples,
      30_000,
      300,
    );
    assert.equal(await page.evaluate(() => (window as unknown as { marker: number }).marker), 42, 'no reload');
    const top = (await tableRows(page)).slice(0, 3).map((r) => r[0]);
    assert.ok(
      top.some((l) => /^(crunchNumbers|hashStrings) \(fixtures\/sample\/agent-app\.js:\d+\)$/.test(l!)),
      top.join(' | '),
    );

    // split by service: every push carries the series and redraws the split timeline (not only the
    // reloads that follow at most every 4 s)
    await page.locator('#split').check();
    await page.locator('#tl-legend > span', { hasText: /^live: / }).waitFor();
    const counts = () =>
      page.evaluate(() => ({ pushes: Number(document.body.dataset.livePushes ?? 0), draws: Number(document.body.dataset.liveDraws ?? 0) }));
    const legendTotal = async () =>
      Number(
        /^live: ([\d,]+) samples$/.exec((await page.locator('#tl-legend > span').first().textContent()) ?? '')?.[1]?.replace(/,/g, ''),
      );
    const c0 = await counts();
    const t0 = await legendTotal();
    await waitFor(
      'the split timeline redrawn by two more pushes, with more samples',
      async () => (await counts()).draws >= c0.draws + 2 && (await legendTotal()) > t0,
      30_000,
      300,
    );
    const c1 = await counts();
    assert.equal(c1.draws - c0.draws, c1.pushes - c0.pushes, 'every push redrew the timeline');
    assert.deepEqual(
      (await page.locator('#tl-legend > span').allTextContents()).map((l) => l.split(':')[0]),
      ['live'],
    );
    await page.close();
  } finally {
    await liveUi?.stop();
    await collector.kill();
    await app.stop();
    fs.rmSync(liveDir, { recursive: true, force: true });
  }
});

test('the page is served from the package alone, with a policy that runs no inline script', { skip }, async () => {
  const res = await fetch(ui.url);
  assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'; /);
  const html = await res.text();
  for (const m of html.matchAll(/(?:src|href)="([^"]+)"/g))
    assert.ok(m[1]!.startsWith('/') || m[1]!.startsWith('data:'), `${m[1]} is served by the page itself`);
  // its icon is inline: a browser asks for no /favicon.ico (a 404 in the console)
  assert.match(html, /<link\s+rel="icon"\s+href="data:image\/svg\+xml,/);
  assert.deepEqual(browser.blocked, []);
  // every page above loaded without a console error, a warning or an uncaught exception
  assert.deepEqual(problems, []);
});
