/**
 * The page's tests: a collector store planted with a known workload (written through the store's
 * own write path, as the collector writes), `stackscope ui` as a child process, and what a person
 * does in the browser (hover a frame, drag on the timeline, drop a file) done with real mouse events.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import type { Page } from 'playwright-core';
import { IdResolver, openStore, type IngestBatch } from '../../src/store/index.js';
import type { Frame } from '../../src/model/index.js';

export const root = path.resolve(import.meta.dirname, '../..');
const cli = path.join(root, 'dist/cli/index.js');

export const XSS = '<img src=x onerror=alert(1)>';
const app = (name: string, line: number): Frame => ({ name, file: '/srv/app/src/server.ts', line, col: 1 });
export const F = {
  main: app('main', 1),
  layer: { name: 'Layer.handle', file: '/srv/app/node_modules/express/lib/router/layer.js', line: 86, col: 1 },
  handle: app('handleRequest', 20),
  parse: app('parseRequest', 40),
  render: app('renderPage', 60),
  compile: app('compileTemplate', 80),
  xss: app(XSS, 99),
  job: { name: 'runJob', file: '/srv/worker/src/jobs.ts', line: 5, col: 1 },
  crunch: { name: 'crunchNumbers', file: '/srv/worker/src/jobs.ts', line: 30, col: 1 },
} satisfies Record<string, Frame>;

/** Stacks (root first) and counts per target per 10 s bucket. */
type Mix = Array<[Frame[], number]>;
const API_BEFORE: Mix = [
  [[F.main, F.layer, F.handle, F.parse], 6],
  [[F.main, F.layer, F.handle, F.render], 3],
  [[F.main, F.layer, F.handle, F.render, F.xss], 1],
];
/** The planted change: compileTemplate appears under renderPage in the second half hour. */
const API_AFTER: Mix = [...API_BEFORE, [[F.main, F.layer, F.handle, F.render, F.compile], 8]];
const WORKER: Mix = [
  [[F.main, F.job, F.crunch], 5],
  [[F.main, F.job], 1],
];

export const TARGETS = 100;
export const API_TARGETS = 60;
export const STEP_MS = 10_000;

export interface Planted {
  db: string;
  /** the planted hour is [t0, t2); the change starts at t1; the same hour a day earlier is planted too */
  t0: number;
  t1: number;
  t2: number;
  /** expected weight of each function (self, root first names) per target kind, range and stack */
  mixOf(target: number, ms: number): Mix;
}

/** 100 targets (60 api on 10 hosts, 40 worker), an hour at 10 s steps, and the same hour a day earlier. */
export async function plantStore(dir: string): Promise<Planted> {
  const db = path.join(dir, 'planted.db');
  const t2 = Math.floor(Date.now() / 60_000) * 60_000;
  const t1 = t2 - 30 * 60_000;
  const t0 = t2 - 60 * 60_000;
  const mixOf = (target: number, ms: number): Mix => (target >= API_TARGETS ? WORKER : ms >= t1 ? API_AFTER : API_BEFORE);
  const store = await openStore(db, { create: true });
  try {
    const ids = new IdResolver(store);
    const batches: IngestBatch[] = [];
    for (let i = 0; i < TARGETS; i++) {
      const api = i < API_TARGETS;
      const rows: number[] = [];
      const stacksSeen = new Map<string, number>();
      const frames: Frame[] = [];
      const stacks: number[][] = [];
      const stackIndex = (fs: Frame[]) => {
        const key = JSON.stringify(fs);
        let s = stacksSeen.get(key);
        if (s === undefined) {
          s = stacks.length;
          stacks.push(
            fs.map((f) => {
              let k = frames.indexOf(f);
              if (k < 0) {
                k = frames.length;
                frames.push(f);
              }
              return k;
            }),
          );
          stacksSeen.set(key, s);
        }
        return s;
      };
      const planted: Array<[number, number, number]> = [];
      for (const dayBack of [86_400_000, 0]) {
        for (let ms = t0 - dayBack; ms < t2 - dayBack; ms += STEP_MS) {
          // a day earlier: the api as it was before the change
          const mix = dayBack ? mixOf(i, t0) : mixOf(i, ms);
          for (const [fs, n] of mix) planted.push([ms, stackIndex(fs), n]);
        }
      }
      const r = await ids.resolve(frames, stacks);
      for (const [ms, s, n] of planted) rows.push(ms, r.stackIds[s]!, n);
      batches.push({
        address: `10.0.${Math.floor(i / 250)}.${i % 250}:9464`,
        agent: {
          instance: `target-${i}`,
          service: api ? 'api' : 'worker',
          labels: { region: i % 2 ? 'us' : 'eu' },
          hostname: `web-${i % 10}`,
          pid: 1000 + i,
          startedMs: t0 - 86_400_000 - 60_000,
          intervalUs: 10_000,
          version: 'test',
        },
        labels: {},
        cursor: `c${i}`,
        readMs: t2,
        newFrames: r.newFrames,
        newStacks: r.newStacks,
        rows,
      });
    }
    await store.write(batches);
    ids.commit();
  } finally {
    await store.close();
  }
  return { db, t0, t1, t2, mixOf };
}

/** Expected self weight per function name, over [from, until) and the targets `which` accepts. */
export function expectedSelf(
  p: Planted,
  fromMs: number,
  untilMs: number,
  which: (target: number) => boolean = () => true,
): Map<string, number> {
  const out = new Map<string, number>();
  for (let i = 0; i < TARGETS; i++) {
    if (!which(i)) continue;
    for (let ms = p.t0; ms < p.t2; ms += STEP_MS) {
      if (ms < fromMs || ms >= untilMs) continue;
      for (const [fs, n] of p.mixOf(i, ms)) out.set(fs.at(-1)!.name, (out.get(fs.at(-1)!.name) ?? 0) + n);
    }
  }
  return out;
}

export interface UiProcess {
  url: string;
  child: ChildProcess;
  stderr(): string;
  stop(): Promise<void>;
}

/** `stackscope ui ARGS --port 0` as a child process, once it says where the page is. */
export async function startUiCli(args: string[]): Promise<UiProcess> {
  const child = spawn(process.execPath, [cli, 'ui', '--port', '0', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ui did not start: ${err}`)), 20_000);
    child.stderr!.on('data', () => {
      const m = /the page is at (\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`ui exited ${code}: ${err}`));
    });
  });
  return {
    url,
    child,
    stderr: () => err,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Waits until the page has finished loading what its URL asks for. */
export async function settled(page: Page, loadsBefore?: number): Promise<void> {
  await page.waitForFunction(
    (before) => {
      const s = document.body.dataset.state;
      if (s === 'error') return true;
      return s === 'ready' && (before === undefined || Number(document.body.dataset.loads ?? 0) > before);
    },
    loadsBefore,
    { timeout: 20_000 },
  );
  const error = await page.locator('#error').textContent();
  if (await page.locator('#error').isVisible()) throw new Error(`the page shows an error: ${error}`);
}

export const loads = (page: Page) => page.evaluate(() => Number(document.body.dataset.loads ?? 0));

/**
 * Where a function's widest frame is drawn in a flamegraph canvas (page coordinates), read from the
 * flamegraph's layout; null when it is not drawn.
 */
export async function framePoint(page: Page, name: string, which = 'flame'): Promise<{ x: number; y: number } | null> {
  return page.evaluate(
    ({ name, which }) => {
      const f = (window as unknown as { __stackscope: Record<string, any> }).__stackscope[which];
      const L = f.layout;
      const t = f.tree;
      let best = -1;
      for (let i = 0; i < L.n; i++) if (t.frames.name[t.frame[i]] === name && (best < 0 || L.w[i] > L.w[best])) best = i;
      if (best < 0) return null;
      const { zx, zw } = f.view();
      const r = f.canvas.getBoundingClientRect();
      const x = r.left + ((L.x0[best] - zx + L.w[best] / 2) / zw) * r.width;
      return { x, y: r.top + L.depth[best] * 18 + 9 };
    },
    { name, which },
  );
}

/** Hovers a function's frame and returns the hover box's lines as shown. */
export async function hoverFrame(page: Page, name: string, which = 'flame'): Promise<string[]> {
  const pt = await framePoint(page, name, which);
  if (!pt) throw new Error(`no frame named ${name} in the ${which} graph`);
  await page.mouse.move(pt.x, pt.y);
  await page.locator('#tip').waitFor({ state: 'visible' });
  return page.locator('#tip > div').allTextContents();
}

/** The colour drawn at a function's frame (r, g, b). */
export async function frameColour(page: Page, name: string): Promise<[number, number, number]> {
  const pt = await framePoint(page, name);
  if (!pt) throw new Error(`no frame named ${name}`);
  return page.evaluate(({ x, y }) => {
    const c = document.getElementById('flame') as HTMLCanvasElement;
    const r = c.getBoundingClientRect();
    const dpr = c.width / r.width;
    const d = c.getContext('2d')!.getImageData(Math.round((x - r.left) * dpr), Math.round((y - r.top - 6) * dpr), 1, 1).data;
    return [d[0]!, d[1]!, d[2]!] as [number, number, number];
  }, pt);
}

/** Drags across the timeline from one fraction of its width to another. */
export async function dragTimeline(page: Page, fromFrac: number, toFrac: number): Promise<void> {
  const box = (await page.locator('#timeline .u-over').boundingBox())!;
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * fromFrac, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * ((fromFrac + toFrac) / 2), y, { steps: 4 });
  await page.mouse.move(box.x + box.width * toFrac, y, { steps: 4 });
  await page.mouse.up();
}

/** Drops a file on the page, as a person dragging it from their file manager does. */
export async function dropFile(page: Page, file: string): Promise<void> {
  const bytes = [...fs.readFileSync(file)];
  const name = path.basename(file);
  const dt = await page.evaluateHandle(
    ({ bytes, name }) => {
      const d = new DataTransfer();
      d.items.add(new File([new Uint8Array(bytes)], name));
      return d;
    },
    { bytes, name },
  );
  await page.dispatchEvent('body', 'dragenter', { dataTransfer: dt });
  await page.dispatchEvent('body', 'drop', { dataTransfer: dt });
}

/** Table rows as shown: one array of cell texts per row. */
export async function tableRows(page: Page): Promise<string[][]> {
  return page.locator('#table tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent ?? '')));
}

export const share = (x: number) => {
  if (x === 0) return '0 %';
  const p = x * 100;
  return `${p >= 10 ? p.toFixed(1) : p >= 0.1 ? p.toFixed(2) : p.toFixed(3)} %`;
};
