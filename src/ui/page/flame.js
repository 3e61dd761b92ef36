// The flamegraph: a call tree drawn on a canvas, root at the top. Names are untrusted data from
// profiled programs: they are only ever drawn with fillText or set as textContent.

const ROW = 18;
const FONT = '12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace';

/** A stable colour per group (package or file): hue from a string hash. */
export function hueOf(text) {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return (h >>> 0) % 360;
}

export function pct(x) {
  if (!Number.isFinite(x)) return '–';
  if (x === 0) return '0 %';
  const p = x * 100;
  return `${p >= 10 ? p.toFixed(1) : p >= 0.1 ? p.toFixed(2) : p.toFixed(3)} %`;
}

export function amount(v, unit) {
  const n = Math.round(v);
  if (unit === 'microseconds') return v >= 1000 ? `${(v / 1000).toFixed(v >= 1e5 ? 0 : 1)} ms` : `${n} µs`;
  if (unit === 'nanoseconds') return `${(v / 1e6).toFixed(1)} ms`;
  return `${n.toLocaleString('en-US')} ${unit === 'samples' ? (n === 1 ? 'sample' : 'samples') : unit}`;
}

export class Flame {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {HTMLElement} tip the hover box
   * @param {{ onZoom?: (path: string[]) => void, rootName?: string }} opts rootName: what the top bar
   *   stands for (default "all")
   */
  constructor(canvas, tip, opts = {}) {
    this.canvas = canvas;
    this.tip = tip;
    this.opts = opts;
    this.tree = null;
    this.search = '';
    this.zoom = -1; // the node zoomed into (-1: the root)
    this.timings = { draw: [], hover: [], zoom: [] }; // the last 200 of each, for the tests' figures
    canvas.addEventListener('mousemove', (e) => this.onMove(e));
    canvas.addEventListener('mouseleave', () => {
      this.tip.hidden = true;
      this.hovered = -2;
      this.draw();
    });
    canvas.addEventListener('click', (e) => this.onClick(e));
    new ResizeObserver(() => {
      if (this.tree) this.draw();
    }).observe(canvas.parentElement);
  }

  /** Lays out a tree from the API (kind 'flame' or 'diff'). */
  setTree(tree) {
    const t0 = performance.now();
    const n = tree.frame.length;
    const diff = tree.kind === 'diff';
    // Width of a node, as a share of the whole (diff: the mean of its shares before and after).
    const w = new Float64Array(n);
    if (diff) {
      for (let i = 0; i < n; i++)
        w[i] =
          ((tree.sumA ? tree.totalA[i] / tree.sumA : 0) + (tree.sumB ? tree.totalB[i] / tree.sumB : 0)) / (tree.sumA && tree.sumB ? 2 : 1);
    } else {
      for (let i = 0; i < n; i++) w[i] = tree.sum ? tree.total[i] / tree.sum : 0;
    }
    // The API sends nodes depth first, siblings in drawing order: one pass places them all, and
    // the nodes of each depth arrive left to right (hit tests search them by x).
    const x0 = new Float64Array(n);
    const depth = new Int32Array(n);
    const next = new Float64Array(n + 1); // per parent (+1): where its next child starts
    const rows = [[]];
    let maxDepth = 0;
    for (let i = 0; i < n; i++) {
      const p = tree.parent[i];
      x0[i] = next[p + 1];
      next[p + 1] += w[i];
      next[i + 1] = x0[i];
      const d = p < 0 ? 1 : depth[p] + 1;
      depth[i] = d;
      if (d > maxDepth) {
        maxDepth = d;
        rows.push([]);
      }
      rows[d].push(i);
    }
    const colour = this.colours(tree, n, diff);
    this.tree = tree;
    this.layout = { n, w, x0, depth, maxDepth, rows, colour, diff };
    this.zoom = -1;
    this.hovered = -2;
    this.matches = null;
    this.setSearch(this.search, false);
    this.layoutMs = performance.now() - t0;
    this.draw();
  }

  colours(tree, n, diff) {
    const out = new Array(n);
    if (!diff) {
      const byGroup = new Map();
      for (let i = 0; i < n; i++) {
        const g = tree.frames.group[tree.frame[i]];
        let c = byGroup.get(g);
        if (!c) {
          const name = tree.frames.name[tree.frame[i]];
          c = name === '(other)' ? '#c8c8c8' : g.startsWith('(') ? '#b9b1a8' : `hsl(${hueOf(g)} 62% 72%)`;
          byGroup.set(g, c);
        }
        out[i] = c;
      }
      return out;
    }
    for (let i = 0; i < n; i++) {
      const a = tree.sumA ? tree.totalA[i] / tree.sumA : 0;
      const b = tree.sumB ? tree.totalB[i] / tree.sumB : 0;
      const rel = (b - a) / Math.max(a, b, 1e-12); // -1 (gone) … +1 (new)
      const k = Math.min(1, Math.abs(rel));
      if (k < 0.05) out[i] = 'hsl(0 0% 86%)';
      else out[i] = rel > 0 ? `hsl(0 80% ${92 - 42 * k}%)` : `hsl(220 80% ${92 - 42 * k}%)`;
    }
    return out;
  }

  /** Highlights the nodes whose function name contains `text` (case-insensitive). */
  setSearch(text, redraw = true) {
    this.search = text;
    this.matches = null;
    if (this.tree && text) {
      const needle = text.toLowerCase();
      const hit = this.tree.frames.name.map((l) => l.toLowerCase().includes(needle));
      this.matches = new Uint8Array(this.layout.n);
      for (let i = 0; i < this.layout.n; i++) this.matches[i] = hit[this.tree.frame[i]] ? 1 : 0;
    }
    if (redraw && this.tree) this.draw();
  }

  /** The labels from the root to a node: what the URL keeps for a zoom. */
  pathOf(i) {
    const out = [];
    for (let x = i; x >= 0; x = this.tree.parent[x]) out.push(this.tree.frames.label[this.tree.frame[x]]);
    return out.reverse();
  }

  /** Zooms to the node at the end of `path` (labels from the root), as far as it exists. */
  zoomPath(path) {
    let node = -1;
    for (const l of path) {
      const next = this.tree.parent.findIndex((p, c) => p === node && this.tree.frames.label[this.tree.frame[c]] === l);
      if (next < 0) break;
      node = next;
    }
    this.zoomTo(node, false);
  }

  zoomTo(node, notify = true) {
    const t0 = performance.now();
    this.zoom = node;
    this.draw();
    this.time('zoom', performance.now() - t0);
    if (notify) this.opts.onZoom?.(node < 0 ? [] : this.pathOf(node));
  }

  /** The drawn window: [zx, zx + zw) of the root's width, from depth zd. */
  view() {
    const L = this.layout;
    if (this.zoom < 0) return { zx: 0, zw: 1 };
    return { zx: L.x0[this.zoom], zw: L.w[this.zoom] || 1 };
  }

  draw() {
    if (!this.tree) return;
    const t0 = performance.now();
    const L = this.layout;
    const cssW = this.canvas.parentElement.clientWidth;
    const cssH = (L.maxDepth + 1) * ROW + 2;
    const dpr = window.devicePixelRatio || 1;
    if (this.canvas.width !== Math.round(cssW * dpr) || this.canvas.height !== Math.round(cssH * dpr)) {
      this.canvas.width = Math.round(cssW * dpr);
      this.canvas.height = Math.round(cssH * dpr);
      this.canvas.style.width = `${cssW}px`;
      this.canvas.style.height = `${cssH}px`;
    }
    const ctx = this.canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    ctx.font = FONT;
    ctx.textBaseline = 'middle';
    this.charW ??= ctx.measureText('m').width;
    const { zx, zw } = this.view();
    const scale = cssW / zw;
    // the root bar: everything
    const sumText = this.rootText();
    this.box(ctx, 0, 0, cssW, this.zoom < 0 ? '#e3ded7' : '#efebe6', sumText, this.hovered === -1);
    const zoomDepth = this.zoom < 0 ? 0 : L.depth[this.zoom];
    const names = this.tree.frames.name;
    const frame = this.tree.frame;
    const m = this.matches;
    let boxes = 1;
    for (let i = 0; i < L.n; i++) {
      const wpx = L.w[i] * scale;
      if (wpx < 0.4) continue;
      const d = L.depth[i];
      let x = (L.x0[i] - zx) * scale;
      let width = wpx;
      if (d <= zoomDepth) {
        // ancestors of the zoomed node (and the node itself) span the width; others are out of view
        if (!this.isAncestorOrSelf(i, this.zoom)) continue;
        x = 0;
        width = cssW;
      } else if (x + width < 0 || x > cssW) continue;
      const ancestor = d < zoomDepth;
      let fill = L.colour[i];
      if (m) fill = m[i] ? '#e75480' : '#dcdcdc';
      if (ancestor) fill = '#efebe6';
      this.box(ctx, x, d * ROW, width, fill, names[frame[i]], this.hovered === i);
      boxes++;
    }
    this.lastBoxes = boxes;
    const ms = performance.now() - t0;
    this.time('draw', ms);
    this.lastDrawMs = ms;
  }

  time(what, ms) {
    const list = this.timings[what];
    list.push(ms);
    if (list.length > 200) list.shift();
  }

  rootText() {
    const t = this.tree;
    if (this.opts.rootName) return `${this.opts.rootName}: ${amount(t.sum, t.unit)}`;
    if (t.kind === 'diff') return `all: before ${amount(t.sumA, t.unit)}, after ${amount(t.sumB, t.unit)}`;
    return `all: ${amount(t.sum, t.unit)}`;
  }

  isAncestorOrSelf(i, node) {
    for (let x = node; x >= 0; x = this.tree.parent[x]) if (x === i) return true;
    return false;
  }

  box(ctx, x, y, w, fill, text, hovered) {
    ctx.fillStyle = fill;
    ctx.fillRect(x, y + 0.5, Math.max(0.5, w - 0.5), ROW - 1);
    if (hovered) {
      ctx.strokeStyle = '#222';
      ctx.strokeRect(x + 0.5, y + 1, Math.max(0.5, w - 1.5), ROW - 2);
    }
    if (w < this.charW * 3 + 6) return;
    const fit = Math.floor((w - 6) / this.charW);
    ctx.fillStyle = '#1d1d1d';
    ctx.fillText(text.length > fit ? `${text.slice(0, fit - 1)}…` : text, x + 3, y + ROW / 2 + 0.5);
  }

  /** The node under a point: -1 for the root bar, -2 for nothing. */
  hit(px, py) {
    const L = this.layout;
    const d = Math.floor(py / ROW);
    if (d === 0) return -1;
    if (d > L.maxDepth) return -2;
    const cssW = this.canvas.parentElement.clientWidth;
    const zoomDepth = this.zoom < 0 ? 0 : L.depth[this.zoom];
    if (d <= zoomDepth) {
      let x = this.zoom;
      while (x >= 0 && L.depth[x] > d) x = this.tree.parent[x];
      return x;
    }
    const { zx, zw } = this.view();
    const v = zx + (px / cssW) * zw;
    const row = L.rows[d];
    let lo = 0;
    let hi = row.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const i = row[mid];
      if (v < L.x0[i]) hi = mid - 1;
      else if (v >= L.x0[i] + L.w[i]) lo = mid + 1;
      else return i;
    }
    return -2;
  }

  onMove(e) {
    if (!this.tree) return;
    const t0 = performance.now();
    const r = this.canvas.getBoundingClientRect();
    const i = this.hit(e.clientX - r.left, e.clientY - r.top);
    if (i !== this.hovered) {
      this.hovered = i;
      this.draw();
    }
    this.showTip(i, e.clientX, e.clientY);
    this.time('hover', performance.now() - t0);
  }

  showTip(i, cx, cy) {
    const tip = this.tip;
    if (i === -2) {
      tip.hidden = true;
      return;
    }
    const t = this.tree;
    const lines = [];
    if (i === -1) {
      lines.push(['strong', this.opts.rootName ?? 'all'], ['', this.rootText().replace(/^[^:]*: /, '')]);
    } else {
      const f = t.frame[i];
      lines.push(['strong', t.frames.name[f]], ['file', t.frames.label[f]]);
      if (t.kind === 'diff') {
        const a = t.sumA ? t.totalA[i] / t.sumA : 0;
        const b = t.sumB ? t.totalB[i] / t.sumB : 0;
        lines.push(['', `total before: ${amount(t.totalA[i], t.unit)} (${pct(a)})`]);
        lines.push(['', `total after: ${amount(t.totalB[i], t.unit)} (${pct(b)})`]);
        lines.push([b > a ? 'more' : b < a ? 'less' : '', `change: ${b >= a ? '+' : '−'}${pct(Math.abs(b - a))} of the whole`]);
        lines.push(['', `self before ${pct(t.sumA ? t.selfA[i] / t.sumA : 0)}, after ${pct(t.sumB ? t.selfB[i] / t.sumB : 0)}`]);
      } else {
        lines.push(['', `total: ${amount(t.total[i], t.unit)} (${pct(t.total[i] / t.sum)})`]);
        lines.push(['', `self: ${amount(t.self[i], t.unit)} (${pct(t.self[i] / t.sum)})`]);
      }
    }
    tip.replaceChildren(
      ...lines.map(([cls, text]) => {
        const div = document.createElement('div');
        if (cls) div.className = cls;
        div.textContent = text;
        return div;
      }),
    );
    tip.hidden = false;
    const pad = 14;
    const x = Math.min(cx + pad, window.innerWidth - tip.offsetWidth - 4);
    const y = cy + pad + tip.offsetHeight > window.innerHeight ? cy - tip.offsetHeight - 6 : cy + pad;
    tip.style.left = `${Math.max(0, x)}px`;
    tip.style.top = `${Math.max(0, y)}px`;
  }

  onClick(e) {
    if (!this.tree) return;
    const r = this.canvas.getBoundingClientRect();
    const i = this.hit(e.clientX - r.left, e.clientY - r.top);
    if (i === -2) return;
    // a click on the zoomed node or the root bar zooms out one step / to the top
    if (i === this.zoom) this.zoomTo(this.tree.parent[i] ?? -1);
    else this.zoomTo(i);
  }
}
