/**
 * The real Chrome DevTools Performance panel, in the real browser: Debian's chromium (no browser
 * download) driven by playwright-core. Chromium started with `--remote-debugging-port` serves its
 * own bundled DevTools frontend over HTTP at `http://127.0.0.1:<port>/devtools/devtools_app.html`;
 * we open it against a blank page of the same browser (so the frontend is connected and shows no
 * "connection closed" dialog), switch to the Performance panel, and hand the trace to the panel's
 * own "Load profile…" file input, exactly as a user picking the file does.
 *
 * What the panel shows is then read from the frontend's own modules in that page: the
 * TimelinePanel instance, its main flame chart's data provider and `timelineData()` (the groups
 * = tracks in the panel's order, one entry per drawn box, with its level and its title as drawn).
 * No network beyond 127.0.0.1: every other request is aborted and recorded.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.STACKSCOPE_CHROMIUM ?? '/usr/bin/chromium';

/** Why browser tests cannot run here, or null when they can. */
export function chromiumUnavailable(): string | null {
  try {
    fs.accessSync(CHROMIUM, fs.constants.X_OK);
    return null;
  } catch {
    return `${CHROMIUM} not found (apt-get install -y chromium): real DevTools checks skipped`;
  }
}

export interface Browser {
  context: BrowserContext;
  /** the DevTools HTTP port (frontend and /json endpoints) */
  port: number;
  /** requests to anything but 127.0.0.1, aborted */
  blocked: string[];
  close(): Promise<void>;
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--remote-debugging-port=0',
  // The DevTools frontend, served by this browser from its own random port, connects back to it over
  // a WebSocket; some Chromium builds (Debian's 150) refuse that handshake (403) unless the origin is
  // allowed. The port is not known before the start, and the browser listens on loopback only.
  '--remote-allow-origins=*',
];

/** Starts chromium with a fresh profile; the DevTools port is read from DevToolsActivePort. */
export async function launchChromium(viewport = { width: 1280, height: 800 }): Promise<Browser> {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
    timeout: 30_000,
  });
  const blocked: string[] = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1') return route.continue();
    blocked.push(url.href);
    return route.abort();
  });
  const portFile = path.join(userDataDir, 'DevToolsActivePort');
  let port = 0;
  for (let i = 0; i < 100 && !port; i++) {
    if (fs.existsSync(portFile)) port = Number(fs.readFileSync(portFile, 'utf8').split('\n')[0]);
    if (!port) await new Promise((r) => setTimeout(r, 50));
  }
  if (!port) throw new Error(`chromium wrote no ${portFile}`);
  return {
    context,
    port,
    blocked,
    async close() {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** One track of the flame chart, as the panel lists it (group name includes ` (tid)`). */
export interface PanelTrack {
  name: string;
  /** 0 = process header, 1 = thread track under it */
  nesting: number;
  /** boxes drawn on this track */
  entries: number;
  /** rows (levels) the track occupies */
  depth: number;
  /** title of each box as the panel draws it → how many boxes carry it */
  titles: Record<string, number>;
  /** title → summed width (duration) of its boxes, ms */
  durations: Record<string, number>;
}

export interface PanelView {
  tracks: PanelTrack[];
  totalEntries: number;
  /** page errors and console errors of the frontend while loading */
  errors: string[];
  /** visible text of error/warning UI (status dialog, infobars, toasts) after loading */
  banners: string[];
  /** from choosing the file to the flame chart being built */
  loadMs: number;
}

/** Opens the DevTools frontend on the Performance panel in a new tab. */
export async function openPerformancePanel(b: Browser): Promise<{ page: Page; errors: string[] }> {
  const list = (await (await fetch(`http://127.0.0.1:${b.port}/json/list`)).json()) as Array<{ id: string; type: string; url: string }>;
  let target = list.find((t) => t.type === 'page' && t.url === 'about:blank');
  if (!target) {
    const blank = await b.context.newPage();
    await blank.goto('about:blank');
    const again = (await (await fetch(`http://127.0.0.1:${b.port}/json/list`)).json()) as typeof list;
    target = again.find((t) => t.type === 'page' && t.url === 'about:blank');
  }
  if (!target) throw new Error('no about:blank target to attach the DevTools frontend to');
  const page = await b.context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
  });
  // DevTools opens a keyboard-shortcuts popover over the flame chart on a first load unless this
  // key (its own switch for tests) is set; it would hide part of the chart in screenshots.
  await page.addInitScript(`try { localStorage.setItem('hide-shortcuts-dialog-for-test', 'true'); } catch {}`);
  await page.goto(`http://127.0.0.1:${b.port}/devtools/devtools_app.html?ws=127.0.0.1:${b.port}/devtools/page/${target.id}&panel=timeline`);
  // the frontend's own timeline module (same URL as the app's import, so the same instance)
  await page.evaluate(`import('/devtools/panels/timeline/timeline.js').then((m) => { globalThis.__stackscopeTimeline = m; })`);
  return { page, errors };
}

// In-page code is passed as strings: tsx compiles this file with keepNames, and a compiled
// function would carry `__name(...)` calls that do not exist in the page.
const PANEL = `const panel = globalThis.__stackscopeTimeline.TimelinePanel.TimelinePanel.instance();`;

// Error and warning UI a user would see: the panel's status dialog, infobars, toasts, and error or
// warning rows in DevTools' own console drawer (where "Malformed timeline data: …" goes).
const SCAN_BANNERS = `(() => {
  const banners = [];
  const seen = new Set();
  const visit = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) visit(el.shadowRoot);
      const cls = typeof el.className === 'string' ? el.className : '';
      const tag = el.tagName.toLowerCase();
      if (/(^|\\s)(timeline-status-dialog|status-dialog|infobar|infobar-warning|infobar-error|toast|console-error-level|console-warning-level)(\\s|$)/.test(cls)
          || tag === 'devtools-infobar' || tag === 'devtools-toast') {
        const r = el.getBoundingClientRect();
        const text = (el.innerText ?? el.textContent ?? '').trim();
        if (r.width > 0 && r.height > 0 && text && !seen.has(text)) { seen.add(text); banners.push(tag + '.' + cls + ': ' + text.slice(0, 300)); }
      }
    }
  };
  visit(document);
  return banners;
})()`;

const READ_VIEW = `(async () => { ${PANEL}
  const dp = panel.flameChart.getMainDataProvider();
  const td = dp.timelineData();
  const tracks = td.groups.map((g) => ({ name: g.name, nesting: g.style?.nestingLevel ?? 0, startLevel: g.startLevel, entries: 0, depth: 0, titles: {}, durations: {} }));
  const n = td.entryLevels.length;
  for (let i = 0; i < n; i++) {
    const level = td.entryLevels[i];
    // groups are in level order; an entry belongs to the last (innermost) group starting at or above it
    let g = null;
    for (const t of tracks) if (t.startLevel <= level && (g === null || t.startLevel >= g.startLevel)) g = t;
    if (!g) continue;
    g.entries++;
    g.depth = Math.max(g.depth, level - g.startLevel + 1);
    const title = dp.entryTitle(i) ?? '';
    g.titles[title] = (g.titles[title] ?? 0) + 1;
    g.durations[title] = (g.durations[title] ?? 0) + td.entryTotalTimes[i];
  }
  const banners = ${SCAN_BANNERS};
  return { tracks: tracks.map(({ startLevel, ...t }) => t), totalEntries: n, banners };
})()`;

/**
 * Loads a trace file through the panel's "Load profile…" file input, waits until the panel has
 * finished (an active trace, no status dialog, the flame chart built) and reads what it shows.
 */
export async function loadInPanel(page: Page, errors: string[], file: string, timeoutMs = 40_000): Promise<PanelView> {
  const input = page.locator('input[type=file]').first();
  await input.waitFor({ state: 'attached', timeout: timeoutMs });
  const t0 = Date.now();
  await input.setInputFiles(file);
  // loaded = panel idle with a trace and a non-empty flame chart
  // polled from here: waitForFunction evals in the page, which DevTools' CSP forbids
  const poll = `(() => { ${PANEL}
    const banners = ${SCAN_BANNERS};
    if (!panel.hasActiveTrace() || panel.statusDialog) return { done: false, banners };
    const td = panel.flameChart.getMainDataProvider().timelineData();
    return { done: td.groups.length > 0 && td.entryLevels.length > 0, banners }; })()`;
  for (;;) {
    const { done, banners } = (await page.evaluate(poll)) as { done: boolean; banners: string[] };
    if (done) break;
    // a failed load leaves the landing page up with an error in the console drawer: fail now
    const problems = [...errors, ...banners.filter((b) => !/Processing trace|Loading/.test(b))];
    if (problems.length) throw new Error(`the panel failed to load ${file}: ${problems.join(' | ')}`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`the panel did not finish loading ${file} in ${timeoutMs} ms`);
    await page.waitForTimeout(100);
  }
  const loadMs = Date.now() - t0;
  const view = (await page.evaluate(READ_VIEW)) as Omit<PanelView, 'errors' | 'loadMs'>;
  return { ...view, errors: [...errors], loadMs };
}

/**
 * Selects the first box titled `title`, as a click on it does, and returns the flow (initiator)
 * arrows the panel then draws: pairs of [from title, to title].
 */
export async function selectEntry(page: Page, title: string): Promise<Array<[string, string]>> {
  const found = await page.evaluate(`(() => { ${PANEL}
    const dp = panel.flameChart.getMainDataProvider();
    const td = dp.timelineData();
    for (let i = 0; i < td.entryLevels.length; i++) {
      if (dp.entryTitle(i) === ${JSON.stringify(title)}) { panel.select(dp.createSelection(i)); return true; }
    }
    return false; })()`);
  if (!found) throw new Error(`no box titled ${title}`);
  await page.waitForTimeout(300);
  return (await page.evaluate(`(() => { ${PANEL}
    const dp = panel.flameChart.getMainDataProvider();
    return dp.timelineData().initiatorsData.map((d) => [dp.entryTitle(d.initiatorIndex), dp.entryTitle(d.eventIndex)]); })()`)) as Array<
    [string, string]
  >;
}

/**
 * DevTools' "Enable ignore listing" setting (on by default: frames of `node:` and node_modules
 * scripts in CPU samples are merged into "On ignore list" boxes). Persisted for the origin, so it
 * applies to panels opened afterwards in the same browser; set it before loading.
 */
export async function setIgnoreListing(page: Page, enabled: boolean): Promise<void> {
  await page.evaluate(
    `import('/devtools/core/common/common.js').then((C) => C.Settings.Settings.instance().moduleSetting('enable-ignore-listing').set(${enabled}))`,
  );
}

/** Expands every track group (as a user clicking the process header does), for a screenshot. */
export async function expandAllTracks(page: Page): Promise<void> {
  await page.evaluate(`(async () => { ${PANEL}
    const chart = panel.flameChart.getMainFlameChart();
    const td = panel.flameChart.getMainDataProvider().timelineData();
    td.groups.forEach((g, i) => { if (!g.expanded) chart.toggleGroupExpand(i); });
  })()`);
  await page.waitForTimeout(300);
}

/** Hides the Insights/Annotations sidebar (as the toolbar button does), for a screenshot. */
export async function hideSidebar(page: Page): Promise<void> {
  const button = page.locator('devtools-button[aria-label="Hide sidebar"]');
  if (await button.count()) await button.first().click();
  await page.waitForTimeout(200);
}

/** Track names without the ` (tid)` suffix the panel appends. */
export function trackLabel(t: PanelTrack): string {
  return t.name.replace(/ \(\d+\)$/, '');
}
