// The page's script: draws the charts from the embedded report data (the <script
// type="application/json" id="report-data"> block). Bundled at build time into one classic script
// (scripts/build-report-client.cjs → dist/auditor/report/client.js) that page.ts embeds inline;
// type-checked with the DOM library by tsconfig.client.json. It only ever creates elements and
// sets textContent/attributes: never innerHTML/insertAdjacentHTML/document.write, so no string
// from the data (agent ids, types, evidence, detail, reason) becomes markup.
// After drawing it sets document.body.dataset.rendered = "1" ("error" if a section failed; the
// section then shows the error).
import type { ReportData, ReportEdge, ReportAlert, ReportRejection } from './types.js';

type Attrs = Record<string, string | number | null | undefined> | null;
type Text = string | number | null | undefined;
/** Tick times (ms) and whether their labels need seconds (a step under a minute). */
type Ticks = number[] & { seconds?: boolean };
interface Column<T> {
  title: string;
  num?: boolean;
  get: (row: T) => string | number | Node;
}

const NS = 'http://www.w3.org/2000/svg';
const data = JSON.parse(document.getElementById('report-data')!.textContent!) as ReportData;
const PALETTE = ['#2563eb', '#ea580c', '#16a34a', '#9333ea', '#0891b2', '#db2777', '#ca8a04', '#4f46e5', '#65a30d', '#be123c'];
const SEV: Record<string, string> = { critical: 'sev-critical', high: 'sev-high', medium: 'sev-medium', low: 'sev-low' };
const SEV_COLOR: Record<string, string> = { critical: '#7f1d1d', high: '#dc2626', medium: '#ea580c', low: '#2563eb' };

function attrs<E extends Element>(e: E, a: Attrs): E {
  if (a) {
    for (const k of Object.keys(a)) {
      const v = a[k];
      if (v !== undefined && v !== null) e.setAttribute(k, String(v));
    }
  }
  return e;
}
/** An SVG element. */
function s(tag: string, a: Attrs, parent: Element | null, text?: Text): SVGElement {
  const e = attrs(document.createElementNS(NS, tag) as SVGElement, a);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (parent) parent.appendChild(e);
  return e;
}
/** An HTML element. */
function h(tag: string, a: Attrs, parent: Element | null, text?: Text): HTMLElement {
  const e = attrs(document.createElement(tag), a);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (parent) parent.appendChild(e);
  return e;
}
function svgIn(parent: Element, w: number, ht: number, label: string): SVGElement {
  return s('svg', { viewBox: `0 0 ${w} ${ht}`, width: w, height: ht, role: 'img', 'aria-label': label, preserveAspectRatio: 'xMidYMin meet' }, parent);
}
function r1(x: number): number {
  return Math.round(x * 10) / 10;
}
function fmt(iso: string): string {
  return `${String(iso)
    .replace('T', ' ')
    .replace(/\.\d+Z$/, '')
    .replace(/Z$/, '')} UTC`;
}
function hhmm(ms: number, secs: boolean): string {
  const d = new Date(ms);
  const two = (n: number) => `0${n}`.slice(-2);
  return `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}${secs ? `:${two(d.getUTCSeconds())}` : ''}`;
}
function ymd(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
function clip(t: string, n: number): string {
  return t.length > n ? `${t.slice(0, n - 1)}\u2026` : t;
}
/** A round step (1, 2, 5 × 10^k; at least 1: counts are integers) giving about n ticks up to v. */
function niceStep(v: number, n: number): number {
  const raw = Math.max(1, v / n);
  const p = 10 ** Math.floor(Math.log(raw) / Math.LN10);
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}
const TICK_SECONDS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];
/** Round times (every 1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10, 15, 30 min, 1, 2, 3, 6, 12 h, days) between lo and hi, at most n. */
function timeTicks(lo: number, hi: number, n: number): Ticks {
  let st = TICK_SECONDS[TICK_SECONDS.length - 1]! * 1000;
  for (const step of TICK_SECONDS) {
    if ((hi - lo) / (step * 1000) <= n) {
      st = step * 1000;
      break;
    }
  }
  const out: Ticks = [];
  for (let t = Math.ceil(lo / st) * st; t <= hi; t += st) out.push(t);
  out.seconds = st < 60000;
  return out;
}
function timeAxis(axis: Element, ticks: Ticks, X: (ms: number) => number, y: number, x0: number, x1: number, label?: string): void {
  let lastDay = '';
  const secs = !!ticks.seconds;
  for (const ms of ticks) {
    const x = X(ms);
    const day = ymd(ms);
    const anchor = x - x0 < 40 ? 'start' : x1 - x < 40 ? 'end' : 'middle';
    s('line', { x1: r1(x), x2: r1(x), y1: y, y2: y + 4 }, axis);
    s('text', { x: r1(x), y: y + 16, 'text-anchor': anchor }, axis, hhmm(ms, secs));
    if (day !== lastDay) s('text', { class: 'day', x: r1(x), y: y + 29, 'text-anchor': anchor }, axis, day);
    lastDay = day;
  }
  s('text', { class: 'x-label', x: x1, y: y + 29, 'text-anchor': 'end' }, axis, label || 'UTC');
}
function empty(parent: Element, text: string): void {
  h('p', { class: 'empty' }, parent, text);
}
function note(parent: Element, text: string): void {
  h('p', { class: 'note' }, parent, text);
}
function swatch(parent: Element, color: string, dashed?: boolean): void {
  const sv = s('svg', { viewBox: '0 0 22 10', width: 22, height: 10 }, parent);
  s('line', { x1: 1, y1: 5, x2: 21, y2: 5, stroke: color, 'stroke-width': 3, 'stroke-dasharray': dashed ? '5 3' : null }, sv);
}
function table<T>(parent: Element, cols: Column<T>[], rows: T[], rowClass: string): HTMLElement {
  const t = h('table', null, parent);
  const tr = h('tr', null, h('thead', null, t));
  const body = h('tbody', null, t);
  for (const c of cols) h('th', { class: c.num ? 'num' : null }, tr, c.title);
  for (const r of rows) {
    const row = h('tr', { class: rowClass || null }, body);
    for (const c of cols) {
      const td = h('td', { class: c.num ? 'num' : null }, row);
      const v = c.get(r);
      if (v instanceof Node) td.appendChild(v);
      else td.textContent = v === undefined || v === null ? '' : String(v);
    }
  }
  return t;
}
function sevBadge(sev: string): HTMLElement {
  return h('span', { class: `sev ${SEV[sev] || 'sev-other'}` }, null, sev);
}

// ---- edge labels: each placed where it covers no other label, node or node name ----
/** x, y, width, height */
type Box = [number, number, number, number];
const PAD = 2;
function boxAttr(b: Box): string {
  return b.map(r1).join(' ');
}
function overlaps(a: Box, b: Box): boolean {
  return a[0] < b[0] + b[2] + PAD && b[0] < a[0] + a[2] + PAD && a[1] < b[1] + b[3] + PAD && b[1] < a[1] + a[3] + PAD;
}
/** The axis-aligned box of `b` turned by `angle` (radians) around (ox, oy). */
function turnedBox(b: Box, angle: number, ox: number, oy: number): Box {
  if (!angle) return b;
  const c = Math.cos(angle);
  const sn = Math.sin(angle);
  const xs: number[] = [];
  const ys: number[] = [];
  for (const [x, y] of [
    [b[0], b[1]],
    [b[0] + b[2], b[1]],
    [b[0], b[1] + b[3]],
    [b[0] + b[2], b[1] + b[3]],
  ] as [number, number][]) {
    xs.push(ox + (x - ox) * c - (y - oy) * sn);
    ys.push(oy + (x - ox) * sn + (y - oy) * c);
  }
  const x0 = Math.min(...xs);
  const y0 = Math.min(...ys);
  return [x0, y0, Math.max(...xs) - x0, Math.max(...ys) - y0];
}
/** Along the edge, from its middle outwards; then beside it, further and further off (with a leader line). */
const LABEL_TS = [0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78, 0.15, 0.85];
const LABEL_OFFSETS = [0, 13, -13, 26, -26, 40, -40, 55, -55, 70, -70];
/**
 * The edges' labels (the count, and the rejected count under it), the edges with rejected
 * attempts first, then the busiest: each at the first place along its edge (LABEL_TS, then
 * LABEL_OFFSETS off it) where its box, measured by the browser, touches no label placed before,
 * no node and no node name, inside the drawing. A label with no such place is left out (its
 * counts are in the edge's tooltip and the edges table). Each placed label carries its measured
 * box in data-bbox. Returns how many were left out.
 */
function placeEdgeLabels(
  parent: SVGElement,
  pending: { e: ReportEdge; at: (t: number) => [number, number, number, number] }[],
  obstacles: Box[],
  W: number,
  H: number,
): number {
  const placed: Box[] = [];
  let omitted = 0;
  const leaders = s('g', { class: 'leaders' }, parent.parentNode as Element);
  parent.parentNode!.insertBefore(leaders, parent);
  const order = pending.slice().sort((a, b) => (b.e.rejected > 0 ? 1 : 0) - (a.e.rejected > 0 ? 1 : 0) || b.e.total - a.e.total);
  for (const { e, at } of order) {
    const g = s('g', { class: `elabel${e.rejected > 0 ? ' rejected' : ''}`, 'data-from': e.from, 'data-to': e.to }, parent);
    s('title', null, g, `${e.from} \u2192 ${e.to}: ${e.total} messages (${e.accepted} accepted, ${e.rejected} rejected)`);
    const texts = [s('text', { class: 'edge-label', x: 0, y: 0, 'text-anchor': 'middle', 'dominant-baseline': 'middle' }, g, String(e.total))];
    if (e.rejected > 0) {
      texts[0]!.setAttribute('dy', '-7');
      texts.push(
        s(
          'text',
          { class: 'edge-rejected-label', x: 0, y: 0, dy: 8, 'text-anchor': 'middle', 'dominant-baseline': 'middle' },
          g,
          `\u2715 ${e.rejected} rejected`,
        ),
      );
    }
    const b = (g as unknown as SVGGraphicsElement).getBBox();
    let spot: [number, number, number, number] | undefined;
    search: for (const off of LABEL_OFFSETS) {
      for (const t of LABEL_TS) {
        const [px, py, tx, ty] = at(t);
        const tl = Math.sqrt(tx * tx + ty * ty) || 1;
        const x = px - (ty / tl) * off;
        const y = py + (tx / tl) * off;
        const box: Box = [x + b.x, y + b.y, b.width, b.height];
        if (box[0] < 0 || box[1] < 0 || box[0] + box[2] > W || box[1] + box[3] > H) continue;
        if (placed.some((o) => overlaps(box, o)) || obstacles.some((o) => overlaps(box, o))) continue;
        spot = [x, y, px, py];
        placed.push(box);
        break search;
      }
    }
    if (!spot) {
      parent.removeChild(g);
      omitted++;
      continue;
    }
    for (const t of texts) {
      t.setAttribute('x', String(r1(spot[0])));
      t.setAttribute('y', String(r1(spot[1])));
    }
    const m = (g as unknown as SVGGraphicsElement).getBBox();
    g.setAttribute('data-bbox', boxAttr([m.x, m.y, m.width, m.height]));
    // off its edge: a thin line from the label to the point of the edge it labels (drawn under the labels)
    if (Math.abs(spot[0] - spot[2]) + Math.abs(spot[1] - spot[3]) > 20) {
      s('line', { class: 'leader', x1: r1(spot[2]), y1: r1(spot[3]), x2: r1(spot[0]), y2: r1(spot[1]) }, leaders);
    }
  }
  return omitted;
}

// ---- communication graph: circle layout, nodes sorted by id ----
function graph(root: HTMLElement): void {
  const nodes = data.nodes;
  const edges = data.edges;
  if (!nodes.length) {
    empty(root, 'No messages in this period.');
    return;
  }
  // many nodes: a square canvas, room for radial labels all round
  const many = nodes.length > 24;
  const W = 780;
  const H = many ? 780 : 600;
  const cx = W / 2;
  const cy = H / 2;
  const R = nodes.length === 1 ? 0 : Math.min(230, 60 + nodes.length * 18);
  const svg = svgIn(root, W, H, 'communication graph');
  if (many) root.classList.add('many');
  const defs = s('defs', null, svg);
  for (const [id, fill] of [
    ['arrow', '#94a3b8'],
    ['arrow-rejected', '#dc2626'],
  ]) {
    const mk = s(
      'marker',
      { id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 10, markerHeight: 10, markerUnits: 'userSpaceOnUse', orient: 'auto' },
      defs,
    );
    s('path', { d: 'M0,0 L10,5 L0,10 z', fill }, mk);
  }
  let maxVol = 1;
  let maxTotal = 1;
  const pos: Record<string, { x: number; y: number; a: number; r: number }> = {};
  const rMax = nodes.length === 1 ? 20 : Math.min(20, Math.max(5, (2 * Math.PI * R) / nodes.length / 2.6));
  const rMin = Math.min(8, rMax / 2);
  for (const n of nodes) maxVol = Math.max(maxVol, n.sent + n.received);
  for (const e of edges) maxTotal = Math.max(maxTotal, e.total);
  nodes.forEach((n, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / nodes.length;
    pos[n.id] = { x: cx + R * Math.cos(a), y: cy + R * Math.sin(a), a, r: rMin + (rMax - rMin) * Math.sqrt((n.sent + n.received) / maxVol) };
  });
  const gEdges = s('g', { class: 'edges' }, svg);
  const gNodes = s('g', { class: 'nodes' }, svg);
  const gLabels = s('g', { class: 'elabels' }, svg);
  const labels = edges.length <= 60;
  const pending: { e: ReportEdge; at: (t: number) => [number, number, number, number] }[] = [];
  /** what edge labels must not cover: node shapes and names */
  const obstacles: Box[] = [];
  for (const e of edges) {
    const A = pos[e.from];
    const B = pos[e.to];
    if (!A || !B) continue;
    const cls = `edge${e.rejected > 0 ? ' rejected' : ''}${e.rejected > 0 && e.rejected === e.total ? ' all-rejected' : ''}`;
    const g = s('g', { class: cls, 'data-from': e.from, 'data-to': e.to, 'data-total': e.total, 'data-rejected': e.rejected }, gEdges);
    s(
      'title',
      null,
      g,
      `${e.from} \u2192 ${e.to}: ${e.total} messages (${e.accepted} accepted, ${e.rejected} rejected)\nfirst ${fmt(e.first_seen)}\nlast ${fmt(e.last_seen)}`,
    );
    const width = 1.5 + 8.5 * Math.sqrt(e.total / maxTotal);
    let d: string;
    /** the point of the curve at t ∈ [0, 1] and its tangent there */
    let at: (t: number) => [number, number, number, number];
    if (e.from === e.to) {
      const ox = Math.cos(A.a);
      const oy = Math.sin(A.a);
      const px = A.x + ox * A.r;
      const py = A.y + oy * A.r;
      const c1x = px + ox * 46 - oy * 26;
      const c1y = py + oy * 46 + ox * 26;
      const c2x = px + ox * 46 + oy * 26;
      const c2y = py + oy * 46 - ox * 26;
      d = `M${r1(px)},${r1(py)} C${r1(c1x)},${r1(c1y)} ${r1(c2x)},${r1(c2y)} ${r1(px)},${r1(py)}`;
      at = (t) => {
        const u = 1 - t;
        const [b0, b1, b2, b3] = [u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t];
        const [d0, d1, d2] = [3 * u * u, 6 * u * t, 3 * t * t];
        return [
          (b0 + b3) * px + b1 * c1x + b2 * c2x,
          (b0 + b3) * py + b1 * c1y + b2 * c2y,
          d0 * (c1x - px) + d1 * (c2x - c1x) + d2 * (px - c2x),
          d0 * (c1y - py) + d1 * (c2y - c1y) + d2 * (py - c2y),
        ];
      };
    } else {
      const dx = B.x - A.x;
      const dy = B.y - A.y;
      const len = Math.sqrt(dx * dx + dy * dy) || 1;
      const ux = dx / len;
      const uy = dy / len;
      const bend = Math.min(60, len * 0.15);
      const qx = (A.x + B.x) / 2 - uy * bend;
      const qy = (A.y + B.y) / 2 + ux * bend;
      // trim both ends at the node borders, along the curve's tangents
      const sx = qx - A.x;
      const sy = qy - A.y;
      const sl = Math.sqrt(sx * sx + sy * sy) || 1;
      const tx = B.x - qx;
      const ty = B.y - qy;
      const tl = Math.sqrt(tx * tx + ty * ty) || 1;
      const x0 = A.x + (sx / sl) * (A.r + 2);
      const y0 = A.y + (sy / sl) * (A.r + 2);
      const x1 = B.x - (tx / tl) * (B.r + 4);
      const y1 = B.y - (ty / tl) * (B.r + 4);
      d = `M${r1(x0)},${r1(y0)} Q${r1(qx)},${r1(qy)} ${r1(x1)},${r1(y1)}`;
      at = (t) => {
        const u = 1 - t;
        return [
          u * u * x0 + 2 * u * t * qx + t * t * x1,
          u * u * y0 + 2 * u * t * qy + t * t * y1,
          2 * u * (qx - x0) + 2 * t * (x1 - qx),
          2 * u * (qy - y0) + 2 * t * (y1 - qy),
        ];
      };
    }
    s('path', { class: 'edge-line', d, 'stroke-width': r1(width), 'marker-end': e.rejected === e.total ? 'url(#arrow-rejected)' : 'url(#arrow)' }, g);
    if (e.rejected > 0) s('path', { class: 'edge-rejected-line', d, 'stroke-width': r1(1.5 + 5 * Math.sqrt(e.rejected / maxTotal)) }, g);
    if (labels || e.rejected > 0) pending.push({ e, at });
  }
  for (const n of nodes) {
    const p = pos[n.id]!;
    const g = s(
      'g',
      {
        class: `node ${n.kind}${n.rejected > 0 ? ' has-rejected' : ''}`,
        'data-id': n.id,
        'data-sent': n.sent,
        'data-received': n.received,
        'data-rejected': n.rejected,
      },
      gNodes,
    );
    s('title', null, g, `${n.id}\nsent ${n.sent} (${n.rejected} rejected)\nreceived ${n.received}`);
    const half = n.kind === 'topic' ? p.r * Math.SQRT2 : p.r;
    const shapeBox: Box = [p.x - half, p.y - half, 2 * half, 2 * half];
    obstacles.push(shapeBox);
    if (n.kind === 'topic') {
      s(
        'rect',
        {
          x: r1(p.x - p.r),
          y: r1(p.y - p.r),
          width: r1(2 * p.r),
          height: r1(2 * p.r),
          rx: 4,
          transform: `rotate(45 ${r1(p.x)} ${r1(p.y)})`,
          'data-bbox': boxAttr(shapeBox),
        },
        g,
      );
    } else s('circle', { cx: r1(p.x), cy: r1(p.y), r: r1(p.r), 'data-bbox': boxAttr(shapeBox) }, g);
    const c = Math.cos(p.a);
    const sn = Math.sin(p.a);
    const off = p.r + (many ? 6 : 10);
    const lx = nodes.length === 1 ? p.x : p.x + c * off;
    const ly = nodes.length === 1 ? p.y + off + 4 : p.y + sn * off;
    if (many) {
      // radial labels, so that neighbours do not overlap; never upside down
      const deg = (p.a * 180) / Math.PI;
      const left = c < 0;
      const text = s(
        'text',
        {
          class: 'label',
          x: r1(lx),
          y: r1(ly),
          'text-anchor': left ? 'end' : 'start',
          'dominant-baseline': 'middle',
          transform: `rotate(${r1(left ? deg + 180 : deg)} ${r1(lx)} ${r1(ly)})`,
        },
        g,
        clip(n.id, 20),
      );
      labelBox(text, left ? p.a + Math.PI : p.a, lx, ly);
    } else {
      const anchor = nodes.length === 1 ? 'middle' : c > 0.25 ? 'start' : c < -0.25 ? 'end' : 'middle';
      const baseline = sn > 0.5 ? 'hanging' : sn < -0.5 ? 'auto' : 'middle';
      labelBox(s('text', { class: 'label', x: r1(lx), y: r1(ly), 'text-anchor': anchor, 'dominant-baseline': baseline }, g, clip(n.id, 24)), 0, lx, ly);
    }
  }
  const omitted = placeEdgeLabels(gLabels, pending, obstacles, W, H);
  svg.setAttribute('data-edge-labels', String(gLabels.childNodes.length));
  svg.setAttribute('data-edge-labels-omitted', String(omitted));
  /** A node's name: its box (turned with the name) is an obstacle, and written on it for the tests. */
  function labelBox(text: SVGElement, angle: number, ox: number, oy: number): void {
    const b = (text as SVGGraphicsElement).getBBox();
    const box = turnedBox([b.x, b.y, b.width, b.height], angle, ox, oy);
    obstacles.push(box);
    text.setAttribute('data-bbox', boxAttr(box));
  }
  // the legend: what size, width, colour and marks encode
  const lg = h('div', { class: 'legend graph-legend' }, root);
  const ln = h('span', { class: 'node-size', 'data-legend': 'node-size' }, lg);
  const nsv = s('svg', { viewBox: '0 0 48 22', width: 48, height: 22 }, ln);
  const small = Math.min(rMin, 10);
  const big = Math.min(rMax, 10) * (rMax > rMin ? 1 : 0.999);
  s('circle', { cx: 8, cy: 11, r: r1(Math.max(1.5, small * 0.9)), fill: '#2563eb' }, nsv);
  s('circle', { cx: 34, cy: 11, r: r1(Math.max(small, big)), fill: '#2563eb' }, nsv);
  ln.appendChild(document.createTextNode(`node size = messages sent + received, all verdicts (area grows with the count; smallest 0, largest ${maxVol})`));
  const l1 = h('span', { 'data-legend': 'edge-width' }, lg);
  swatch(l1, '#94a3b8');
  l1.appendChild(document.createTextNode('grey arrow: sender \u2192 destination; width grows with its messages (label: total, all verdicts)'));
  const l2 = h('span', { 'data-legend': 'edge-rejected' }, lg);
  swatch(l2, '#dc2626', true);
  l2.appendChild(document.createTextNode('red dashes: rejected attempts on that edge (\u2715 count)'));
  const l3 = h('span', { 'data-legend': 'edge-all-rejected' }, lg);
  swatch(l3, '#fca5a5');
  l3.appendChild(document.createTextNode('pale red line, red arrow head: every attempt was rejected'));
  h('span', { 'data-legend': 'agent' }, lg, '\u25cf agent (blue circle)');
  h('span', { 'data-legend': 'topic' }, lg, '\u25c6 topic (orange diamond)');
  h('span', { 'data-legend': 'has-rejected' }, lg, 'red ring: the node sent messages that were rejected');
  if (data.truncated.edges) note(root, `Showing the ${edges.length} busiest edges only (--limit).`);
  if (omitted)
    note(
      root,
      `${omitted} edge ${omitted === 1 ? 'label is' : 'labels are'} left out where no free place was found (hover over an edge, or see the edges table).`,
    );
  if (!labels) note(root, 'With more than 60 edges only the edges with rejected attempts are labelled.');
  const det = h('details', null, root);
  h('summary', null, det, `Edges table (${edges.length})`);
  table<ReportEdge>(
    det,
    [
      { title: 'sender', get: (e) => e.from },
      { title: 'destination', get: (e) => e.to },
      { title: 'total', num: true, get: (e) => e.total },
      { title: 'accepted', num: true, get: (e) => e.accepted },
      { title: 'rejected', num: true, get: (e) => e.rejected },
      { title: 'first seen', get: (e) => fmt(e.first_seen) },
      { title: 'last seen', get: (e) => fmt(e.last_seen) },
    ],
    edges,
    'edge-row',
  );
}

// ---- messages per time bucket per sender: one line per sender; the bucket fits the run's span ----
function perBucket(root: HTMLElement): void {
  const pm = data.per_bucket;
  const n = pm.times.length;
  const unit = pm.bucket_label;
  root.querySelector('h2')!.textContent = `Messages per ${unit} per sender`;
  if (!n || !pm.series.length) {
    empty(root, 'No messages in this period.');
    return;
  }
  note(
    root,
    `Each point is one ${unit} bucket (chosen from the run\u2019s span: first message ${fmt(pm.first)}, last ${fmt(pm.last)}; ${n}${n === 1 ? ' bucket' : ' buckets'}).`,
  );
  const W = 1320;
  const H = 324;
  const L = 54;
  const Rm = 16;
  const T = 26;
  const B = 40;
  const pw = W - L - Rm;
  const ph = H - T - B;
  const svg = svgIn(root, W, H, `messages per ${unit} per sender`);
  svg.setAttribute('data-bucket-seconds', String(pm.bucket_seconds));
  let max = 0;
  for (const se of pm.series) for (const v of se.counts) if (v > max) max = v;
  const ystep = niceStep(max, 4);
  const top = Math.max(ystep, Math.ceil(max / ystep) * ystep);
  const t0 = Date.parse(pm.times[0]!);
  const stepMs = pm.bucket_seconds * 1000;
  const tn = t0 + (n - 1) * stepMs;
  const XT = (ms: number) => L + (n === 1 ? pw / 2 : (pw * (ms - t0)) / (tn - t0));
  const X = (i: number) => XT(t0 + i * stepMs);
  const Y = (v: number) => T + ph - (ph * v) / top;
  const grid = s('g', { class: 'grid' }, svg);
  const axis = s('g', { class: 'axis' }, svg);
  for (let v = 0; v <= top + 1e-9; v += ystep) {
    const y = r1(Y(v));
    s('line', { x1: L, x2: W - Rm, y1: y, y2: y }, grid);
    s('text', { x: L - 6, y, 'text-anchor': 'end', 'dominant-baseline': 'middle' }, axis, Math.round(v * 100) / 100);
  }
  s('line', { x1: L, x2: W - Rm, y1: T + ph, y2: T + ph }, axis);
  const ticks: Ticks = n === 1 ? [t0] : timeTicks(t0, tn, 12);
  if (n === 1) ticks.seconds = pm.bucket_seconds < 60;
  timeAxis(axis, ticks, XT, T + ph, L, W - Rm, `time (UTC), one point per ${unit} bucket`);
  s('text', { class: 'y-label', x: 4, y: 4, 'dominant-baseline': 'hanging' }, axis, `msgs / ${unit}`);
  const lg = h('div', { class: 'legend' }, root);
  pm.series.forEach((se, idx) => {
    const color = se.sender === '(other senders)' ? '#9ca3af' : PALETTE[idx % PALETTE.length]!;
    const pts = se.counts.map((c, i) => `${r1(X(i))},${r1(Y(c))}`).join(' ');
    const g = s('g', { class: 'series-group', 'data-sender': se.sender }, svg);
    s('title', null, g, `${se.sender}: ${se.total} messages`);
    s('polyline', { class: 'series', points: pts, stroke: color, 'data-sender': se.sender, 'data-total': se.total }, g);
    if (n <= 90) {
      se.counts.forEach((c, i) => {
        if (c > 0) s('circle', { class: 'point', cx: r1(X(i)), cy: r1(Y(c)), r: 2.5, fill: color }, g);
      });
    }
    const it = h('span', null, lg);
    swatch(it, color);
    it.appendChild(document.createTextNode(`${se.sender} (${se.total})`));
  });
}

// ---- rejections by reason: horizontal bars ----
function rejectionsChart(root: HTMLElement): void {
  const rows = data.rejections;
  if (!rows.length) {
    empty(root, 'No rejections in this period.');
    return;
  }
  const W = 520;
  const rowH = 30;
  const L = 170;
  const Rm = 50;
  const H = rows.length * rowH + 8;
  const svg = svgIn(root, W, H, 'rejections by reason');
  let max = 1;
  for (const r of rows) max = Math.max(max, r.count);
  rows.forEach((r, i) => {
    const y = 4 + i * rowH;
    const bw = Math.max(2, ((W - L - Rm) * r.count) / max);
    const g = s('g', { class: 'bar', 'data-reason': r.reason, 'data-count': r.count }, svg);
    s('title', null, g, `${r.reason}: ${r.count} rejections from ${r.senders} sender(s), most from ${r.top_sender}`);
    s('text', { class: 'reason', x: L - 8, y: y + rowH / 2 - 2, 'text-anchor': 'end', 'dominant-baseline': 'middle' }, g, clip(r.reason, 26));
    s('rect', { x: L, y: y + 3, width: r1(bw), height: rowH - 10, rx: 3 }, g);
    s('text', { class: 'count', x: r1(L + bw + 6), y: y + rowH / 2 - 2, 'dominant-baseline': 'middle' }, g, r.count);
  });
  if (data.truncated.rejections) note(root, `Showing the top ${rows.length} reasons only.`);
  table<ReportRejection>(
    root,
    [
      { title: 'reason', get: (r) => r.reason },
      { title: 'count', num: true, get: (r) => r.count },
      { title: 'senders', num: true, get: (r) => r.senders },
      { title: 'top sender', get: (r) => r.top_sender },
      { title: 'frequent details', get: (r) => h('code', { class: 'detail' }, null, r.details.join('\n')) },
    ],
    rows,
    'rejection-row',
  );
}

// ---- alerts: one lane per rule on a time axis, then a table with the evidence ----
function alertsChart(root: HTMLElement): void {
  const rows = data.alerts;
  if (!rows.length) {
    empty(root, 'No alerts in this period.');
    return;
  }
  const rules: string[] = [];
  for (const a of rows) if (rules.indexOf(a.rule) < 0) rules.push(a.rule);
  rules.sort();
  let lo = Infinity;
  let hi = -Infinity;
  for (const a of rows) {
    lo = Math.min(lo, Date.parse(a.window_start), Date.parse(a.detected_at));
    hi = Math.max(hi, Date.parse(a.window_end), Date.parse(a.detected_at));
  }
  if (!(hi - lo > 60000)) {
    lo -= 300000;
    hi += 300000;
  }
  const pad = (hi - lo) * 0.03;
  lo -= pad;
  hi += pad;
  const W = 1320;
  const L = 150;
  const Rm = 20;
  const laneH = 34;
  const T = 6;
  const H = T + rules.length * laneH + 40;
  const pw = W - L - Rm;
  const X = (ms: number) => L + (pw * (ms - lo)) / (hi - lo);
  const svg = svgIn(root, W, H, 'alerts timeline');
  const axis = s('g', { class: 'axis' }, svg);
  rules.forEach((rule, i) => {
    const y = T + i * laneH;
    const g = s('g', { class: 'lane', 'data-rule': rule }, svg);
    s('line', { x1: L, x2: W - Rm, y1: y + laneH / 2, y2: y + laneH / 2 }, g);
    s('text', { x: L - 8, y: y + laneH / 2, 'text-anchor': 'end', 'dominant-baseline': 'middle' }, g, clip(rule, 22));
  });
  const base = T + rules.length * laneH;
  s('line', { x1: L, x2: W - Rm, y1: base, y2: base }, axis);
  timeAxis(axis, timeTicks(lo, hi, 12), X, base, L, W - Rm);
  for (const a of rows) {
    const y = T + rules.indexOf(a.rule) * laneH + laneH / 2;
    const color = SEV_COLOR[a.severity] || '#6b7280';
    const g = s(
      'g',
      {
        class: `alert ${SEV[a.severity] || 'sev-other'}`,
        'data-rule': a.rule,
        'data-severity': a.severity,
        'data-agents': a.agents.join(','),
        'data-detected-at': a.detected_at,
      },
      svg,
    );
    s(
      'title',
      null,
      g,
      `${a.rule} (${a.severity}) ${a.agents.join(', ')}\ndetected ${fmt(a.detected_at)}\nwindow ${fmt(a.window_start)} \u2013 ${fmt(a.window_end)}`,
    );
    const x0 = X(Date.parse(a.window_start));
    const x1 = X(Date.parse(a.window_end));
    s('rect', { class: 'window', x: r1(x0), y: r1(y - 9), width: r1(Math.max(2, x1 - x0)), height: 18, rx: 3, fill: color }, g);
    s('circle', { class: 'mark', cx: r1(X(Date.parse(a.detected_at))), cy: r1(y), r: 6, fill: color, stroke: '#fff', 'stroke-width': 1.5 }, g);
    s('text', { x: r1(X(Date.parse(a.detected_at)) + 9), y: r1(y - 9), 'dominant-baseline': 'middle' }, g, clip(a.agents.join(', '), 30));
  }
  if (data.truncated.alerts) note(root, `Showing the latest ${rows.length} alerts only.`);
  table<ReportAlert>(
    root,
    [
      { title: 'detected', get: (a) => fmt(a.detected_at) },
      { title: 'rule', get: (a) => a.rule },
      { title: 'severity', get: (a) => sevBadge(a.severity) },
      { title: 'what happened', get: (a) => a.sentence },
      { title: 'agents', get: (a) => a.agents.join(', ') },
      { title: 'window', get: (a) => `${fmt(a.window_start)} \u2013 ${fmt(a.window_end)}` },
      { title: 'evidence', get: (a) => h('pre', { class: 'evidence' }, null, JSON.stringify(a.evidence, null, 1)) },
    ],
    rows.slice().reverse(),
    'alert-row',
  );
}

const SECTIONS: [string, (root: HTMLElement) => void][] = [
  ['graph', graph],
  ['per-bucket', perBucket],
  ['rejections', rejectionsChart],
  ['alerts', alertsChart],
];
let failed = false;
for (const [id, draw] of SECTIONS) {
  const root = document.getElementById(id)!;
  try {
    draw(root);
  } catch (err) {
    failed = true;
    const message = (err as { message?: unknown } | null)?.message;
    h('p', { class: 'error' }, root, `Could not draw this section: ${message ? String(message) : String(err)}`);
  }
}
document.body.dataset.rendered = failed ? 'error' : '1';
