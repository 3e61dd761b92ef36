// The page: state in the URL, data from /api, the timeline (uPlot), the flamegraph, the table of
// functions, the sandwich view, compare, export and dropped files. Text from profiles is only ever
// put into the page with textContent (or drawn with fillText).
/* global uPlot */ // loaded by index.html from the uplot package
import { Flame, pct, amount, hueOf } from './flame.js';

const $ = (id) => document.getElementById(id);
const PRESETS = { '5m': 300, '15m': 900, '1h': 3600, '24h': 86400, '7d': 604800 };

// ---- state, kept whole in the URL --------------------------------------------------------------

const KEYS = [
  'file',
  'service',
  'host',
  'pid',
  'labels',
  'tl',
  'split',
  'from',
  'until',
  'cmp',
  'cfile',
  'cfrom',
  'cuntil',
  'view',
  'fn',
  'q',
  'tq',
  'sort',
  'live',
];
const state = { z: [] };
function readUrl() {
  const u = new URLSearchParams(location.search);
  for (const k of KEYS) state[k] = u.get(k) ?? '';
  state.z = u.getAll('z');
  state.view ||= 'flame';
}
function writeUrl() {
  const u = new URLSearchParams();
  for (const k of KEYS) if (state[k]) u.set(k, state[k]);
  for (const z of state.z) u.append('z', z);
  const next = `${location.pathname}${u.size ? `?${u}` : ''}`;
  if (next !== `${location.pathname}${location.search}`) history.replaceState(null, '', next);
}

let info = null;
const isStore = () => info?.kind === 'store' && !state.file;

function filterParams(u) {
  if (state.file) u.set('file', state.file);
  if (state.service) u.set('service', state.service);
  if (state.host) u.set('host', state.host);
  if (state.pid) u.set('pid', state.pid);
  for (const l of state.labels
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean))
    u.append('label', l);
  return u;
}
function rangeParams(u) {
  if (state.from && state.until) {
    u.set('from', state.from);
    u.set('until', state.until);
  }
  return u;
}
function compareParams(u) {
  if (state.cmp === 'file' && state.cfile) {
    u.set('cfile', state.cfile);
    return u;
  }
  const c = compareRange();
  if (c) {
    u.set('cfrom', c[0]);
    u.set('cuntil', c[1]);
  }
  return u;
}

/** A store time as epoch seconds: now, -15m, epoch seconds, ISO. */
function toSeconds(t) {
  const now = Date.now() / 1000;
  if (t === 'now') return now;
  const m = /^-(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(t);
  if (m) return now - Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2]];
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  return Date.parse(t) / 1000;
}

/** The range compared with, as API values, or null. */
function compareRange() {
  if (state.cmp === 'day' && isStore()) {
    const from = toSeconds(state.from || `-${state.tl || '1h'}`);
    const until = toSeconds(state.until || 'now');
    return [(from - 86400).toFixed(3), (until - 86400).toFixed(3)];
  }
  if (state.cmp === 'range' && state.cfrom && state.cuntil) return [state.cfrom, state.cuntil];
  return null;
}

// ---- fetching -----------------------------------------------------------------------------------

async function api(name, params) {
  const res = await fetch(`/api/${name}?${params}`);
  const text = await res.text();
  if (!res.ok) throw new Error(text.trim());
  return JSON.parse(text);
}

function showError(err) {
  const box = $('error');
  box.textContent = err ? String(err.message ?? err).replace(/^Error: /, '') : '';
  box.hidden = !err;
}

// ---- timeline (uPlot) ---------------------------------------------------------------------------

let plot = null;
let picking = false;
let base = 0;

function drawTimeline(t) {
  const box = $('timeline');
  // a file's own clock starts anywhere: its axis counts from the file's start
  base = t.clock === 'epoch' ? 0 : t.fromMs;
  const xs = t.points.map((p) => (p[0] - base) / 1000);
  const ys = t.points.map((p) => p[1]);
  const split = t.series?.length ? t.series : null;
  const colour = (name) => `hsl(${hueOf(name)} 65% 42%)`;
  $('tl-legend').replaceChildren(
    ...(split ?? []).map((s) => {
      const item = document.createElement('span');
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = colour(s.name);
      item.append(
        swatch,
        document.createTextNode(
          `${s.name}: ${amount(
            s.values.reduce((a, b) => a + b, 0),
            t.unit,
          )}`,
        ),
      );
      return item;
    }),
  );
  box.hidden = t.points.length === 0;
  if (plot) {
    plot.destroy();
    plot = null;
  }
  if (!t.points.length) return;
  const epoch = t.clock === 'epoch';
  const opts = {
    width: Math.max(300, box.clientWidth - 8),
    height: 120,
    legend: { show: false },
    cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
    scales: { x: { time: epoch }, y: { range: (u, lo, hi) => [0, Math.max(1, hi) * 1.1] } },
    axes: [
      epoch ? {} : { values: (u, vals) => vals.map((v) => `${v.toFixed(v < 10 ? 2 : 1)} s`) },
      {
        size: 56,
        values: (u, vals) => vals.map((v) => (v >= 1e6 ? `${(v / 1e6).toFixed(1)}M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)}k` : String(v))),
      },
    ],
    series: split
      ? [{}, ...split.map((s) => ({ label: s.name, stroke: colour(s.name), width: 1.5, paths: uPlot.paths.stepped({ align: 1 }) }))]
      : [{}, { label: t.unit, stroke: '#2b6cb0', fill: 'rgba(43,108,176,.25)', width: 1, paths: uPlot.paths.stepped({ align: 1 }) }],
    hooks: {
      setSelect: [
        (u) => {
          if (u.select.width < 3) return;
          const a = u.posToVal(u.select.left, 'x');
          const b = u.posToVal(u.select.left + u.select.width, 'x');
          u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
          onRangePicked(a, b);
        },
      ],
      draw: [(u) => shadeRanges(u)],
    },
  };
  plot = new uPlot(opts, split ? [xs, ...split.map((s) => s.values)] : [xs, ys], box);
}

/** The selected range (blue) and the compared one (orange) shaded on the timeline. */
function shadeRanges(u) {
  const ctx = u.ctx;
  const band = (a, b, colour) => {
    if (!Number.isFinite(a) || !Number.isFinite(b)) return;
    const x0 = u.valToPos(a, 'x', true);
    const x1 = u.valToPos(b, 'x', true);
    ctx.fillStyle = colour;
    ctx.fillRect(x0, u.bbox.top, Math.max(2, x1 - x0), u.bbox.height);
  };
  const toX = (v) => (isStore() ? toSeconds(v) : (Number(v) - base) / 1000);
  if (state.from && state.until) band(toX(state.from), toX(state.until), 'rgba(43,108,176,.18)');
  const c = compareRange();
  if (c)
    band(
      isStore() ? Number(c[0]) : (Number(c[0]) - base) / 1000,
      isStore() ? Number(c[1]) : (Number(c[1]) - base) / 1000,
      'rgba(230,120,0,.25)',
    );
}

function onRangePicked(a, b) {
  const fmt = (v) => (isStore() ? v.toFixed(3) : String(Math.round(v * 1000 + base)));
  if (picking) {
    picking = false;
    state.cmp = 'range';
    state.cfrom = fmt(a);
    state.cuntil = fmt(b);
  } else {
    state.from = fmt(a);
    state.until = fmt(b);
    if (state.live) setLive(false);
  }
  state.z = [];
  refresh();
}

// ---- the views ----------------------------------------------------------------------------------

const flame = new Flame($('flame'), $('tip'), {
  onZoom: (path) => {
    state.z = path;
    $('zoom-out').hidden = !path.length;
    writeUrl();
  },
});
const callers = new Flame($('callers'), $('tip'), { rootName: 'every stack through it' });
const callees = new Flame($('callees'), $('tip'), { rootName: 'every stack through it' });
let tree = null;
let tableData = null;

function describeRange(from, until) {
  if (!from || !until) return isStore() ? '' : 'the whole profile';
  if (isStore()) {
    const f = (t) => (/^-|^now$/.test(t) ? t : new Date(toSeconds(t) * 1000).toISOString().replace('.000Z', 'Z').replace('T', ' '));
    return `${f(from)} → ${f(until)}`;
  }
  return `${((Number(from) - base) / 1000).toFixed(3)} s → ${((Number(until) - base) / 1000).toFixed(3)} s`;
}

function showNotes(notes) {
  $('notes').replaceChildren(
    ...[...new Set(notes)].map((n) => {
      const d = document.createElement('div');
      d.textContent = n;
      return d;
    }),
  );
}

function renderStatus() {
  if (!tree) return;
  const c = compareRange();
  let text;
  if (tree.kind === 'diff') {
    text = `before: ${amount(tree.sumA, tree.unit)}, after: ${amount(tree.sumB, tree.unit)} · ${tree.frame.length.toLocaleString('en-US')} nodes`;
  } else {
    text = `${amount(tree.sum, tree.unit)} · ${tree.frame.length.toLocaleString('en-US')} nodes`;
  }
  $('status').textContent = text;
  const other = state.cmp === 'file' ? (info?.files.find((x) => x.id === state.cfile)?.name ?? state.cfile) : '';
  $('range').textContent =
    `range: ${describeRange(state.from, state.until) || `last ${state.tl || '1h'}`}${c ? `  ·  compared with: ${describeRange(...c)}` : other ? `  ·  compared with the file ${other}` : ''}`;
  $('legend').textContent =
    tree.kind === 'diff'
      ? 'red: a larger share of the whole than in what it is compared with, blue: smaller (each normalised to its own total); width: mean share'
      : 'colour: package or file · click a frame to zoom, click it again to zoom out';
}

async function loadSearch() {
  const box = $('search-share');
  if (!state.q) {
    box.textContent = '';
    return;
  }
  const s = await api('search', filterParams(rangeParams(new URLSearchParams({ q: state.q }))));
  const of = s.sum ? s.matched / s.sum : 0;
  const whole = (tree?.unit ?? 'samples') === 'samples' ? 'all samples' : 'the whole';
  box.textContent = `“${state.q}”: ${pct(of)} of ${whole} (${s.functions} function${s.functions === 1 ? '' : 's'})`;
}

function tableColumns() {
  if (tableData.kind === 'changes') {
    return [
      ['label', 'function'],
      ['shareA', 'self before'],
      ['shareB', 'self after'],
      ['delta', 'change'],
    ];
  }
  return [
    ['label', 'function'],
    ['self', 'self'],
    ['selfPct', 'self %'],
    ['total', 'total'],
    ['totalPct', 'total %'],
  ];
}

function renderTable() {
  if (!tableData) return;
  const cols = tableColumns();
  const sortKey = cols.some(([k]) => k === state.sort) ? state.sort : tableData.kind === 'changes' ? 'delta' : 'self';
  const head = document.createElement('tr');
  for (const [k, title] of cols) {
    const th = document.createElement('th');
    th.textContent = title;
    th.dataset.key = k;
    if (k === sortKey) th.className = 'sorted';
    th.addEventListener('click', () => {
      state.sort = k;
      writeUrl();
      renderTable();
    });
    head.append(th);
  }
  $('table').tHead.replaceChildren(head);
  const needle = state.tq.toLowerCase();
  let rows = tableData.rows.filter((r) => !needle || r.label.toLowerCase().includes(needle));
  const val = (r, k) => {
    if (k === 'label') return r.label;
    if (k === 'selfPct') return r.self;
    if (k === 'totalPct') return r.total;
    if (k === 'delta') return Math.abs(r.shareB - r.shareA);
    return r[k];
  };
  rows = rows.sort((a, b) => (sortKey === 'label' ? val(a, 'label').localeCompare(val(b, 'label')) : val(b, sortKey) - val(a, sortKey)));
  const shown = rows.slice(0, 300);
  const sum = tableData.sum;
  $('table').tBodies[0].replaceChildren(
    ...shown.map((r) => {
      const tr = document.createElement('tr');
      const cell = (text, cls) => {
        const td = document.createElement('td');
        td.textContent = text;
        if (cls) td.className = cls;
        tr.append(td);
      };
      cell(r.label);
      if (tableData.kind === 'changes') {
        cell(pct(r.shareA));
        cell(pct(r.shareB));
        const d = r.shareB - r.shareA;
        cell(`${d >= 0 ? '+' : '−'}${pct(Math.abs(d))}`, d > 0 ? 'more' : d < 0 ? 'less' : '');
      } else {
        cell(amount(r.self, tableData.unit));
        cell(pct(sum ? r.self / sum : 0));
        cell(amount(r.total, tableData.unit));
        cell(pct(sum ? r.total / sum : 0));
      }
      tr.addEventListener('click', () => openSandwich(r.label));
      return tr;
    }),
  );
  const more = tableData.more ? ` (${tableData.more.toLocaleString('en-US')} lighter functions not listed)` : '';
  $('table-count').textContent = `${shown.length} of ${rows.length} functions shown${more}`;
}

async function loadSandwich() {
  if (!state.fn) return;
  $('sandwich-title').textContent = state.fn;
  const s = await api('sandwich', filterParams(rangeParams(new URLSearchParams({ fn: state.fn }))));
  callers.setTree({ kind: 'flame', ...s.callers });
  callees.setTree({ kind: 'flame', ...s.callees });
  document.body.dataset.sandwich = state.fn;
}

function openSandwich(label) {
  state.fn = label;
  setView('sandwich');
  loadSandwich().catch(showError);
}

function setView(v) {
  state.view = v;
  writeUrl();
  for (const b of document.querySelectorAll('.tab')) b.classList.toggle('on', b.dataset.view === v);
  $('sandwich-tab').hidden = !state.fn;
  for (const name of ['flame', 'table', 'sandwich']) $(`view-${name}`).hidden = name !== v;
  if (v === 'flame') flame.draw();
  if (v === 'sandwich') {
    callers.draw();
    callees.draw();
  }
}

// ---- loading ------------------------------------------------------------------------------------

let generation = 0;

async function refresh() {
  const gen = ++generation;
  document.body.dataset.state = 'loading';
  writeUrl();
  syncControls();
  showError(null);
  try {
    const timelineParams = filterParams(new URLSearchParams());
    if (isStore()) {
      timelineParams.set('from', `-${state.tl || '1h'}`);
      timelineParams.set('until', 'now');
      if (state.split) timelineParams.set('split', 'service');
    }
    const flameParams = compareParams(filterParams(rangeParams(new URLSearchParams())));
    const [t, f, table] = await Promise.all([
      api('timeline', timelineParams),
      api('flame', flameParams),
      api('functions', compareParams(filterParams(rangeParams(new URLSearchParams())))),
    ]);
    if (gen !== generation) return;
    drawTimeline(t);
    tree = f;
    flame.setTree(f);
    if (state.z.length) flame.zoomPath(state.z);
    $('zoom-out').hidden = flame.zoom < 0;
    flame.setSearch(state.q);
    tableData = table;
    renderTable();
    renderStatus();
    showNotes([...(t.notes ?? []), ...(f.notes ?? [])]);
    await loadSearch();
    if (state.view === 'sandwich' && state.fn) await loadSandwich();
    setView(state.view);
    if (gen !== generation) return;
    document.body.dataset.state = 'ready';
    document.body.dataset.loads = String(Number(document.body.dataset.loads ?? 0) + 1);
  } catch (err) {
    if (gen !== generation) return;
    showError(err);
    document.body.dataset.state = 'error';
  }
}

function syncControls() {
  const store = isStore();
  $('filters').hidden = info?.kind !== 'store' || !!state.file;
  $('presets').hidden = !store;
  $('cmp-day').hidden = !store;
  $('all-range').hidden = store || !(state.from && state.until);
  $('cmp-off').hidden = !state.cmp;
  const others = (info?.files ?? []).filter((f) => f.id !== (state.file || (info.kind === 'files' ? info.files[0]?.id : '')));
  $('cmp-file').hidden = !others.length;
  $('cmp-file').replaceChildren(
    ...[{ id: '', name: 'a file…' }, ...others].map((f) => {
      const o = document.createElement('option');
      o.value = f.id;
      o.textContent = f.name;
      return o;
    }),
  );
  $('cmp-file').value = state.cmp === 'file' ? state.cfile : '';
  $('cmp-pick').classList.toggle('on', picking);
  $('cmp-day').classList.toggle('on', state.cmp === 'day');
  for (const b of document.querySelectorAll('[data-preset]'))
    b.classList.toggle('on', store && state.tl === b.dataset.preset && state.from === `-${b.dataset.preset}`);
  $('live').checked = !!state.live;
  $('split').checked = !!state.split;
  $('service').value = state.service;
  $('host').value = state.host;
  fillPids();
  $('labels').value = state.labels;
  $('search').value = state.q;
  $('table-filter').value = state.tq;
  $('file').value = state.file || (info?.kind === 'files' ? (info.files[0]?.id ?? '') : '');
}

function fillPickers() {
  const opt = (value, text) => {
    const o = document.createElement('option');
    o.value = value;
    o.textContent = text;
    return o;
  };
  $('service').replaceChildren(opt('', 'all services'), ...info.services.map((s) => opt(s, s)));
  $('host').replaceChildren(opt('', 'all hosts'), ...info.hosts.map((h) => opt(h, h)));
  fillPids();
  const files = info.files.map((f) => opt(f.id, `${f.name} (${f.format})`));
  if (info.kind === 'store') files.unshift(opt('', `collector store: ${info.where ?? ''}`));
  $('file').replaceChildren(...files);
  $('file').hidden = files.length < 1 || (info.kind === 'store' && info.files.length === 0);
  $('source').textContent =
    info.kind === 'store'
      ? `${info.targets} target run${info.targets === 1 ? '' : 's'}`
      : info.files.length
        ? ''
        : 'drop a profile file on the page';
}

/** The pids of the runs the service and host chosen allow (and the pid chosen, even when it is not stored). */
function fillPids() {
  if (!info) return;
  const plural = (xs, one) => (xs.length === 1 ? xs[0] : `${xs.length} ${one}s`);
  const options = info.pids
    .filter((p) => (!state.service || p.services.includes(state.service)) && (!state.host || p.hosts.includes(state.host)))
    .map((p) => [String(p.pid), `${p.pid} · ${plural(p.services, 'service')} on ${plural(p.hosts, 'host')}`]);
  if (state.pid && !options.some(([v]) => v === state.pid)) options.unshift([state.pid, `${state.pid} · no such run stored`]);
  $('pid').replaceChildren(
    ...[['', 'all pids'], ...options].map(([value, text]) => {
      const o = document.createElement('option');
      o.value = value;
      o.textContent = text;
      return o;
    }),
  );
  $('pid').value = state.pid;
}

async function loadInfo() {
  info = await api('info', new URLSearchParams());
  fillPickers();
}

// ---- live mode ----------------------------------------------------------------------------------

let socket = null;
let lastLiveRefresh = 0;
function setLive(on) {
  state.live = on ? '1' : '';
  if (socket) {
    socket.close();
    socket = null;
  }
  if (on && isStore()) {
    state.from = `-${state.tl || '15m'}`;
    state.until = 'now';
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${proto}://${location.host}/api/live`);
    socket = ws;
    ws.addEventListener('open', () => {
      const labels = {};
      for (const l of state.labels
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        const i = l.indexOf('=');
        if (i > 0) labels[l.slice(0, i)] = l.slice(i + 1);
      }
      ws.send(
        JSON.stringify({
          filters: {
            service: state.service || undefined,
            host: state.host || undefined,
            pid: state.pid ? Number(state.pid) : undefined,
            labels,
          },
          spanMs: (PRESETS[state.tl] ?? 900) * 1000,
          split: state.split ? 'service' : undefined,
        }),
      );
    });
    ws.addEventListener('message', (e) => {
      // (a window still on its way from a socket closed since is not this view's)
      if (ws !== socket) return;
      const m = JSON.parse(e.data);
      if (m.type === 'error') {
        showError(new Error(m.message));
        return;
      }
      if (m.type !== 'timeline') return;
      // with the split asked for, the push carries one series per service
      if (!state.split || m.series) {
        drawTimeline(m);
        document.body.dataset.liveDraws = String(Number(document.body.dataset.liveDraws ?? 0) + 1);
      }
      document.body.dataset.livePushes = String(Number(document.body.dataset.livePushes ?? 0) + 1);
      // the flamegraph follows, at most every few seconds
      if (Date.now() - lastLiveRefresh > 4000 && document.body.dataset.state !== 'loading') {
        lastLiveRefresh = Date.now();
        refresh();
      }
    });
  }
  writeUrl();
}

// ---- wiring -------------------------------------------------------------------------------------

function bind() {
  for (const b of document.querySelectorAll('[data-preset]')) {
    b.addEventListener('click', () => {
      state.tl = b.dataset.preset;
      state.from = `-${state.tl}`;
      state.until = 'now';
      state.z = [];
      if (state.live) setLive(true);
      refresh();
    });
  }
  for (const b of document.querySelectorAll('.tab')) b.addEventListener('click', () => setView(b.dataset.view));
  $('live').addEventListener('change', (e) => {
    setLive(e.target.checked);
    refresh();
  });
  $('split').addEventListener('change', (e) => {
    state.split = e.target.checked ? '1' : '';
    if (state.live) setLive(true);
    refresh();
  });
  const onFilter = () => {
    state.service = $('service').value;
    state.host = $('host').value;
    state.pid = $('pid').value;
    state.labels = $('labels').value.trim();
    state.z = [];
    if (state.live) setLive(true);
    refresh();
  };
  $('service').addEventListener('change', onFilter);
  $('host').addEventListener('change', onFilter);
  $('pid').addEventListener('change', onFilter);
  $('labels').addEventListener('change', onFilter);
  $('file').addEventListener('change', () => {
    state.file = $('file').value;
    state.from = state.until = state.cfrom = state.cuntil = state.cmp = state.cfile = state.fn = '';
    state.z = [];
    refresh();
  });
  let searchTimer = 0;
  $('search').addEventListener('input', () => {
    state.q = $('search').value.trim();
    flame.setSearch(state.q);
    writeUrl();
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => loadSearch().catch(showError), 200);
  });
  $('table-filter').addEventListener('input', () => {
    state.tq = $('table-filter').value;
    writeUrl();
    renderTable();
  });
  $('zoom-out').addEventListener('click', () => flame.zoomTo(-1));
  $('all-range').addEventListener('click', () => {
    state.from = state.until = '';
    state.z = [];
    refresh();
  });
  $('cmp-day').addEventListener('click', () => {
    state.cmp = 'day';
    state.cfrom = state.cuntil = '';
    state.z = [];
    refresh();
  });
  $('cmp-pick').addEventListener('click', () => {
    picking = !picking;
    syncControls();
  });
  $('cmp-file').addEventListener('change', () => {
    state.cfile = $('cmp-file').value;
    state.cmp = state.cfile ? 'file' : '';
    state.cfrom = state.cuntil = '';
    state.z = [];
    refresh();
  });
  $('cmp-off').addEventListener('click', () => {
    state.cmp = state.cfrom = state.cuntil = state.cfile = '';
    picking = false;
    state.z = [];
    if (state.sort === 'delta') state.sort = '';
    refresh();
  });
  $('export').addEventListener('change', () => {
    const format = $('export').value;
    $('export').value = '';
    if (!format) return;
    const a = document.createElement('a');
    a.href = `/api/export?${filterParams(rangeParams(new URLSearchParams({ format })))}`;
    a.download = '';
    document.body.append(a);
    a.click();
    a.remove();
  });
  window.addEventListener('resize', () => {
    if (plot) plot.setSize({ width: Math.max(300, $('timeline').clientWidth - 8), height: 120 });
  });

  // Dropped files are read on the server by the same readers as `stackscope ui FILE`.
  let depth = 0;
  window.addEventListener('dragenter', (e) => {
    e.preventDefault();
    depth++;
    $('drop').hidden = false;
  });
  window.addEventListener('dragleave', () => {
    if (--depth <= 0) {
      depth = 0;
      $('drop').hidden = true;
    }
  });
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => {
    e.preventDefault();
    depth = 0;
    $('drop').hidden = true;
    const file = e.dataTransfer?.files?.[0];
    if (file) upload(file).catch(showError);
  });
}

async function upload(file) {
  document.body.dataset.state = 'loading';
  const res = await fetch(`/api/upload?${new URLSearchParams({ name: file.name })}`, { method: 'POST', body: file });
  const text = await res.text();
  if (!res.ok) {
    document.body.dataset.state = 'error';
    throw new Error(text.trim());
  }
  const { id } = JSON.parse(text);
  $('empty').hidden = true;
  await loadInfo();
  state.file = id;
  state.from = state.until = state.cfrom = state.cuntil = state.cmp = state.fn = state.labels = state.service = state.host = state.pid = '';
  state.z = [];
  if (state.view === 'sandwich') state.view = 'flame';
  await refresh();
}

readUrl();
bind();
window.__stackscope = { flame, callers, callees, state };
loadInfo()
  .then(() => {
    if (info.kind === 'store' && !state.tl) state.tl = '1h';
    if (info.kind === 'files' && !info.files.length) {
      document.body.dataset.state = 'empty';
      $('empty').hidden = false;
      syncControls();
      return;
    }
    if (state.live) setLive(true);
    return refresh();
  })
  .catch(showError);
