// `agentbus audit report --html FILE`: one self-contained HTML page for analysts (inline CSS,
// inline JS, SVG drawn in the page; no external URL anywhere, and a CSP that forbids loading
// anything). The data is computed here from the store (the ready reports plus a per-minute
// series, all with query parameters), embedded as JSON in a <script type="application/json">
// block (every '<', '>' and '&' escaped, so no data string can close the block), and drawn by a
// small script that only ever creates elements and sets textContent/attributes: no innerHTML, so
// no string from the data (evidence, detail, reason, agent id) becomes markup.
//
// Sections and their stable selectors (used by the tests):
//   #graph svg .node (.agent | .topic), .edge, .edge.rejected  communication graph, circle layout
//   #per-minute svg .series                                    messages per minute per sender
//   #rejections .bar                                           rejections by reason
//   #alerts .alert (timeline marks), #alerts .alert-row        alerts timeline and table
// After drawing, the page sets document.body.dataset.rendered = "1" ("error" if a section failed;
// the section then shows the error).
import { createHash } from 'node:crypto';
import { renameSync, writeFileSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { AuditStore } from './store.js';
import { messageCounts } from './schema.js';
import { alerts, edges, rejections, topTalkers } from './reports.js';
import type { EdgeRow, RejectionRow, TalkerRow } from './reports.js';

export interface ReportOptions {
  /** ms since the epoch (inclusive); default: 24 h before `until` */
  since?: number;
  /** ms since the epoch (exclusive); default: now */
  until?: number;
  /** at most this many edges, senders, reasons and alerts (default 500) */
  limit?: number;
  /** per-minute chart: this many senders get their own series, the rest are summed (default 10) */
  maxSeries?: number;
  /** per-minute chart: at most this many points; longer periods use coarser buckets (default 1440) */
  maxPoints?: number;
}

export interface ReportNode {
  id: string;
  kind: 'agent' | 'topic';
  /** messages sent (all verdicts) */
  sent: number;
  /** of which rejected */
  rejected: number;
  /** messages addressed to it (all verdicts) */
  received: number;
}

export interface ReportEdge { from: string; to: string; total: number; accepted: number; rejected: number; first_seen: string; last_seen: string }

export interface ReportSeries { sender: string; total: number; counts: number[] }

export interface ReportRejection extends RejectionRow {
  /** the most frequent verifier details for this reason (verbatim: may contain anything) */
  details: string[];
}

export interface ReportAlert {
  alert_id: string;
  rule: string;
  severity: string;
  agents: string[];
  detected_at: string;
  window_start: string;
  window_end: string;
  evidence: unknown;
}

export interface ReportData {
  version: 1;
  /** ISO 8601 UTC */
  generated_at: string;
  since: string;
  until: string;
  database: string;
  totals: { messages: number; accepted: number; rejected: number; duplicate: number; senders: number; edges: number; alerts: number };
  /** a list hit the limit: the page says it shows the top N only */
  truncated: { talkers: boolean; edges: boolean; rejections: boolean; alerts: boolean };
  talkers: TalkerRow[];
  nodes: ReportNode[];
  edges: ReportEdge[];
  per_minute: {
    /** bucket width in minutes (1 unless the period needed more than maxPoints buckets) */
    step_minutes: number;
    /** bucket starts, ISO 8601 UTC, consecutive */
    times: string[];
    series: ReportSeries[];
  };
  rejections: ReportRejection[];
  /** oldest first */
  alerts: ReportAlert[];
}

const MINUTES = `minute >= toStartOfMinute(toDateTime({since:UInt32}, 'UTC')) AND minute < toDateTime({until:UInt32}, 'UTC')`;
const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 240, 360, 720, 1440];
const OTHER = '(other senders)';

/** ClickHouse DateTime64 text ('2025-01-01 12:00:00.000', UTC) → ISO 8601. */
function chToIso(s: string): string {
  return /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/.test(s) ? `${s.replace(' ', 'T')}${s.includes('.') ? '' : '.000'}Z` : s;
}

/** Everything the page shows, computed from the store for one period. */
export async function buildReportData(store: AuditStore, opts: ReportOptions = {}): Promise<ReportData> {
  const until = opts.until ?? Date.now();
  const since = opts.since ?? until - 24 * 3600_000;
  if (!(since < until)) throw new RangeError('report: --since must be before --until');
  const limit = opts.limit ?? 500;
  const maxSeries = opts.maxSeries ?? 10;
  const maxPoints = opts.maxPoints ?? 1440;
  const r = { since, until, limit };
  const p = { since: Math.floor(since / 1000), until: Math.ceil(until / 1000) };

  const [talkers, edgeRows, rejRows, alertRows] = await Promise.all([topTalkers(store, r), edges(store, r), rejections(store, r), alerts(store, r)]);

  // Per-minute series: the bucket width keeps the number of points ≤ maxPoints.
  const [bounds] = await store.query<{ lo: number; hi: number; n: number }>(
    `SELECT toUnixTimestamp(min(minute)) AS lo, toUnixTimestamp(max(minute)) AS hi, count() AS n FROM ${store.table('agg_minute')} WHERE ${MINUTES}`,
    p,
  );
  let step = 1;
  const times: string[] = [];
  const series: ReportSeries[] = [];
  if (bounds && Number(bounds.n) > 0) {
    const span = (Number(bounds.hi) - Number(bounds.lo)) / 60 + 1;
    step = STEPS.find((s) => Math.ceil(span / s) + 1 <= maxPoints) ?? 1440;
    const rows = await store.query<{ t: number; sender: string; n: number }>(
      `SELECT toUnixTimestamp(toStartOfInterval(minute, toIntervalMinute({step:UInt32}))) AS t, sender, sum(n) AS n
       FROM ${messageCounts(store.table, ['minute', 'sender'], MINUTES)} GROUP BY t, sender ORDER BY t, sender`,
      { ...p, step },
    );
    const t0 = Math.min(...rows.map((x) => Number(x.t)));
    const t1 = Math.max(...rows.map((x) => Number(x.t)));
    const points = Math.round((t1 - t0) / (step * 60)) + 1;
    for (let i = 0; i < points; i++) times.push(new Date((t0 + i * step * 60) * 1000).toISOString());
    const per = new Map<string, number[]>();
    for (const x of rows) {
      let c = per.get(x.sender);
      if (!c) per.set(x.sender, (c = new Array<number>(points).fill(0)));
      c[Math.round((Number(x.t) - t0) / (step * 60))]! += Number(x.n);
    }
    const ranked = [...per.entries()]
      .map(([sender, counts]) => ({ sender, total: counts.reduce((a, b) => a + b, 0), counts }))
      .sort((a, b) => b.total - a.total || (a.sender < b.sender ? -1 : 1));
    series.push(...ranked.slice(0, maxSeries));
    const rest = ranked.slice(maxSeries);
    if (rest.length) {
      series.push({
        sender: OTHER,
        total: rest.reduce((a, s) => a + s.total, 0),
        counts: times.map((_, i) => rest.reduce((a, s) => a + s.counts[i]!, 0)),
      });
    }
  }

  // The most frequent verifier details per rejection reason (raw rows, FINAL: no double count).
  const details = new Map<string, string[]>();
  if (rejRows.length) {
    const rows = await store.query<{ reason: string; details: string[] }>(
      `SELECT reason, topK(3)(detail) AS details FROM ${store.table('audit_events')} FINAL
       WHERE time >= toDateTime64({since:UInt32}, 3, 'UTC') AND time < toDateTime64({until:UInt32}, 3, 'UTC')
         AND verdict = 'rejected' AND detail != '' GROUP BY reason`,
      p,
    );
    for (const x of rows) details.set(x.reason, x.details);
  }

  const nodes = new Map<string, ReportNode>();
  const node = (id: string): ReportNode => {
    let n = nodes.get(id);
    if (!n) nodes.set(id, (n = { id, kind: id.startsWith('topic:') ? 'topic' : 'agent', sent: 0, rejected: 0, received: 0 }));
    return n;
  };
  for (const t of talkers) Object.assign(node(t.sender), { sent: t.total, rejected: t.rejected });
  for (const e of edgeRows) {
    node(e.sender);
    node(e.destination).received += e.total;
  }
  const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

  const sum = (k: 'total' | 'accepted' | 'rejected' | 'duplicate') => talkers.reduce((a, t) => a + t[k], 0);
  return {
    version: 1,
    generated_at: new Date().toISOString(),
    since: new Date(since).toISOString(),
    until: new Date(until).toISOString(),
    database: store.database,
    totals: {
      messages: sum('total'),
      accepted: sum('accepted'),
      rejected: sum('rejected'),
      duplicate: sum('duplicate'),
      senders: talkers.length,
      edges: edgeRows.length,
      alerts: alertRows.length,
    },
    truncated: { talkers: talkers.length >= limit, edges: edgeRows.length >= limit, rejections: rejRows.length >= limit, alerts: alertRows.length >= limit },
    talkers,
    nodes: [...nodes.values()].sort(byId),
    edges: edgeRows.map((e: EdgeRow) => ({
      from: e.sender,
      to: e.destination,
      total: e.total,
      accepted: e.accepted,
      rejected: e.rejected,
      first_seen: chToIso(e.first_seen),
      last_seen: chToIso(e.last_seen),
    })),
    per_minute: { step_minutes: step, times, series },
    rejections: rejRows.map((x) => ({ ...x, details: details.get(x.reason) ?? [] })),
    alerts: alertRows
      .map((a) => ({
        alert_id: a.alert_id,
        rule: a.rule,
        severity: a.severity,
        agents: a.agents,
        detected_at: chToIso(a.detected_at),
        window_start: chToIso(a.window_start),
        window_end: chToIso(a.window_end),
        evidence: a.evidence,
      }))
      .reverse(),
  };
}

/** Text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON that is safe inside a <script> block: nothing in it can close the block or open a comment. */
export function jsonForScript(v: unknown): string {
  return JSON.stringify(v)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

const CSS = `
:root { --fg: #1f2933; --muted: #616e7c; --line: #d9dee4; --bg: #f5f7fa; --card: #fff; --accent: #2563eb; --bad: #dc2626; --topic: #d97706; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 18px 28px 10px; background: var(--card); border-bottom: 1px solid var(--line); }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 0 0 8px; }
.meta { color: var(--muted); font-size: 13px; }
.totals { display: flex; flex-wrap: wrap; gap: 10px; margin-top: 10px; }
.totals div { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 4px 12px; }
.totals b { font-size: 17px; display: block; }
main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 16px; padding: 16px 28px 28px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; min-width: 0; }
section.wide { grid-column: 1 / -1; }
svg { display: block; width: 100%; height: auto; font-family: inherit; }
.note { color: var(--muted); font-size: 12px; margin: 6px 0 0; }
.empty { color: var(--muted); font-style: italic; padding: 20px 0; }
.error { color: var(--bad); font-weight: 600; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; color: var(--muted); margin-top: 6px; }
.legend span { display: inline-flex; align-items: center; gap: 5px; }
.legend svg { display: inline-block; width: 22px; height: 10px; }
table { border-collapse: collapse; width: 100%; font-size: 12px; margin-top: 8px; }
th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font: 11px/1.35 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { margin: 0; white-space: pre-wrap; word-break: break-word; max-height: 12em; overflow: auto; }
code.detail { white-space: pre-wrap; word-break: break-all; }
details { margin-top: 8px; }
summary { cursor: pointer; color: var(--accent); font-size: 13px; }
.sev { display: inline-block; border-radius: 4px; padding: 0 6px; color: #fff; font-size: 11px; font-weight: 600; }
.sev-critical { background: #7f1d1d; } .sev-high { background: #dc2626; } .sev-medium { background: #ea580c; } .sev-low { background: #2563eb; } .sev-other { background: #6b7280; }
#graph .node circle, #graph .node rect { stroke: #fff; stroke-width: 2; }
#graph .node.agent circle { fill: var(--accent); }
#graph .node.topic rect { fill: var(--topic); }
#graph .node.has-rejected circle, #graph .node.has-rejected rect { stroke: var(--bad); stroke-width: 3; }
#graph .node text { font-size: 12px; fill: var(--fg); }
#graph.many .node text { font-size: 10px; }
#graph .edge path.edge-line { fill: none; stroke: #94a3b8; stroke-opacity: 0.8; }
#graph .edge.all-rejected path.edge-line { stroke: #fca5a5; }
#graph .edge path.edge-rejected-line { fill: none; stroke: var(--bad); stroke-dasharray: 6 4; }
#graph .edge text { font-size: 11px; fill: var(--muted); paint-order: stroke; stroke: #fff; stroke-width: 3px; }
#graph .edge.rejected text.edge-rejected-label { fill: var(--bad); font-weight: 600; }
.axis line, .axis path { stroke: #cbd2d9; }
.axis text { font-size: 11px; fill: var(--muted); }
.grid line { stroke: #eef1f4; }
#per-minute .series { fill: none; stroke-width: 2; stroke-linejoin: round; }
#rejections .bar rect { fill: var(--bad); fill-opacity: 0.85; }
#rejections .bar text { font-size: 12px; fill: var(--fg); }
#rejections .bar text.count { font-weight: 600; }
#alerts .lane text { font-size: 12px; fill: var(--fg); }
#alerts .lane line { stroke: #eef1f4; }
#alerts .alert .window { fill-opacity: 0.18; }
#alerts .alert text { font-size: 10px; fill: var(--muted); }
@media (max-width: 1000px) { main { grid-template-columns: minmax(0, 1fr); } }
`;

// The page script: plain ES5-ish JS, no template literals (it lives in one). It never uses
// innerHTML/insertAdjacentHTML/document.write: every string from the data goes in through
// textContent or setAttribute.
const SCRIPT = String.raw`
(function () {
  'use strict';
  var NS = 'http://www.w3.org/2000/svg';
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var PALETTE = ['#2563eb', '#ea580c', '#16a34a', '#9333ea', '#0891b2', '#db2777', '#ca8a04', '#4f46e5', '#65a30d', '#be123c'];
  var SEV = { critical: 'sev-critical', high: 'sev-high', medium: 'sev-medium', low: 'sev-low' };
  var SEV_COLOR = { critical: '#7f1d1d', high: '#dc2626', medium: '#ea580c', low: '#2563eb' };

  function attrs(e, a) { if (a) for (var k in a) if (Object.prototype.hasOwnProperty.call(a, k) && a[k] !== undefined && a[k] !== null) e.setAttribute(k, String(a[k])); return e; }
  function s(tag, a, parent, text) {
    var e = attrs(document.createElementNS(NS, tag), a);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (parent) parent.appendChild(e);
    return e;
  }
  function h(tag, a, parent, text) {
    var e = attrs(document.createElement(tag), a);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (parent) parent.appendChild(e);
    return e;
  }
  function svgIn(parent, w, ht, label) {
    return s('svg', { viewBox: '0 0 ' + w + ' ' + ht, width: w, height: ht, role: 'img', 'aria-label': label, preserveAspectRatio: 'xMidYMin meet' }, parent);
  }
  function r1(x) { return Math.round(x * 10) / 10; }
  function fmt(iso) { return String(iso).replace('T', ' ').replace(/\.\d+Z$/, '').replace(/Z$/, '') + ' UTC'; }
  function hhmm(ms) { var d = new Date(ms); return ('0' + d.getUTCHours()).slice(-2) + ':' + ('0' + d.getUTCMinutes()).slice(-2); }
  function ymd(ms) { return new Date(ms).toISOString().slice(0, 10); }
  function clip(t, n) { t = String(t); return t.length > n ? t.slice(0, n - 1) + '\u2026' : t; }
  // a round step (1, 2, 5 × 10^k; at least 1: counts are integers) giving about n ticks up to v
  function niceStep(v, n) {
    var raw = Math.max(1, v / n), p = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10)), m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }
  // round times (every 1, 2, 5, 10, 15, 30 min, 1, 2, 3, 6, 12 h, days) between lo and hi, at most n
  function timeTicks(lo, hi, n) {
    var steps = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080], st = steps[steps.length - 1] * 60000;
    for (var i = 0; i < steps.length; i++) if ((hi - lo) / (steps[i] * 60000) <= n) { st = steps[i] * 60000; break; }
    var out = [];
    for (var t = Math.ceil(lo / st) * st; t <= hi; t += st) out.push(t);
    return out;
  }
  function timeAxis(axis, ticks, X, y, x0, x1) {
    var lastDay = '';
    ticks.forEach(function (ms) {
      var x = X(ms), day = ymd(ms), anchor = x - x0 < 40 ? 'start' : x1 - x < 40 ? 'end' : 'middle';
      s('line', { x1: r1(x), x2: r1(x), y1: y, y2: y + 4 }, axis);
      s('text', { x: r1(x), y: y + 16, 'text-anchor': anchor }, axis, hhmm(ms));
      if (day !== lastDay) s('text', { class: 'day', x: r1(x), y: y + 29, 'text-anchor': anchor }, axis, day);
      lastDay = day;
    });
    s('text', { x: x1, y: y + 29, 'text-anchor': 'end' }, axis, 'UTC');
  }
  function empty(parent, text) { h('p', { class: 'empty' }, parent, text); }
  function note(parent, text) { h('p', { class: 'note' }, parent, text); }
  function swatch(parent, color, dashed) {
    var sv = s('svg', { viewBox: '0 0 22 10', width: 22, height: 10 }, parent);
    s('line', { x1: 1, y1: 5, x2: 21, y2: 5, stroke: color, 'stroke-width': 3, 'stroke-dasharray': dashed ? '5 3' : null }, sv);
  }
  function table(parent, cols, rows, rowClass) {
    var t = h('table', null, parent), tr = h('tr', null, h('thead', null, t)), body = h('tbody', null, t);
    cols.forEach(function (c) { h('th', { class: c.num ? 'num' : null }, tr, c.title); });
    rows.forEach(function (r) {
      var row = h('tr', { class: rowClass || null }, body);
      cols.forEach(function (c) {
        var td = h('td', { class: c.num ? 'num' : null }, row);
        var v = c.get(r);
        if (v instanceof Node) td.appendChild(v); else td.textContent = v === undefined || v === null ? '' : String(v);
      });
    });
    return t;
  }
  function sevBadge(sev) { return h('span', { class: 'sev ' + (SEV[sev] || 'sev-other') }, null, sev); }

  // ---- communication graph: circle layout, nodes sorted by id ----
  function graph(root) {
    var nodes = data.nodes, edges = data.edges;
    if (!nodes.length) { empty(root, 'No messages in this period.'); return; }
    // many nodes: a square canvas, room for radial labels all round
    var W = 780, H = nodes.length > 24 ? 780 : 600, cx = W / 2, cy = H / 2, R = nodes.length === 1 ? 0 : Math.min(230, 60 + nodes.length * 18);
    var svg = svgIn(root, W, H, 'communication graph');
    if (nodes.length > 24) root.classList.add('many');
    var defs = s('defs', null, svg);
    [['arrow', '#94a3b8'], ['arrow-rejected', '#dc2626']].forEach(function (m) {
      var mk = s('marker', { id: m[0], viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 10, markerHeight: 10, markerUnits: 'userSpaceOnUse', orient: 'auto' }, defs);
      s('path', { d: 'M0,0 L10,5 L0,10 z', fill: m[1] }, mk);
    });
    var maxVol = 1, maxTotal = 1, pos = {}, many = nodes.length > 24;
    var rMax = nodes.length === 1 ? 20 : Math.min(20, Math.max(5, (2 * Math.PI * R) / nodes.length / 2.6)), rMin = Math.min(8, rMax / 2);
    nodes.forEach(function (n) { maxVol = Math.max(maxVol, n.sent + n.received); });
    edges.forEach(function (e) { maxTotal = Math.max(maxTotal, e.total); });
    nodes.forEach(function (n, i) {
      var a = -Math.PI / 2 + (2 * Math.PI * i) / nodes.length;
      pos[n.id] = { x: cx + R * Math.cos(a), y: cy + R * Math.sin(a), a: a, r: rMin + (rMax - rMin) * Math.sqrt((n.sent + n.received) / maxVol) };
    });
    var gEdges = s('g', { class: 'edges' }, svg), gNodes = s('g', { class: 'nodes' }, svg);
    var labels = edges.length <= 60;
    edges.forEach(function (e) {
      var A = pos[e.from], B = pos[e.to];
      if (!A || !B) return;
      var cls = 'edge' + (e.rejected > 0 ? ' rejected' : '') + (e.rejected > 0 && e.rejected === e.total ? ' all-rejected' : '');
      var g = s('g', { class: cls, 'data-from': e.from, 'data-to': e.to, 'data-total': e.total, 'data-rejected': e.rejected }, gEdges);
      s('title', null, g, e.from + ' \u2192 ' + e.to + ': ' + e.total + ' messages (' + e.accepted + ' accepted, ' + e.rejected + ' rejected)\nfirst ' + fmt(e.first_seen) + '\nlast ' + fmt(e.last_seen));
      var width = 1.5 + 8.5 * Math.sqrt(e.total / maxTotal), d, mx, my;
      if (e.from === e.to) {
        var ox = Math.cos(A.a), oy = Math.sin(A.a), px = A.x + ox * A.r, py = A.y + oy * A.r;
        var c1x = px + ox * 46 - oy * 26, c1y = py + oy * 46 + ox * 26, c2x = px + ox * 46 + oy * 26, c2y = py + oy * 46 - ox * 26;
        d = 'M' + r1(px) + ',' + r1(py) + ' C' + r1(c1x) + ',' + r1(c1y) + ' ' + r1(c2x) + ',' + r1(c2y) + ' ' + r1(px) + ',' + r1(py);
        mx = px + ox * 36; my = py + oy * 36;
      } else {
        var dx = B.x - A.x, dy = B.y - A.y, len = Math.sqrt(dx * dx + dy * dy) || 1, ux = dx / len, uy = dy / len;
        var bend = Math.min(60, len * 0.15), qx = (A.x + B.x) / 2 - uy * bend, qy = (A.y + B.y) / 2 + ux * bend;
        // trim both ends at the node borders, along the curve's tangents
        var sx = qx - A.x, sy = qy - A.y, sl = Math.sqrt(sx * sx + sy * sy) || 1;
        var tx = B.x - qx, ty = B.y - qy, tl = Math.sqrt(tx * tx + ty * ty) || 1;
        var x0 = A.x + (sx / sl) * (A.r + 2), y0 = A.y + (sy / sl) * (A.r + 2);
        var x1 = B.x - (tx / tl) * (B.r + 4), y1 = B.y - (ty / tl) * (B.r + 4);
        d = 'M' + r1(x0) + ',' + r1(y0) + ' Q' + r1(qx) + ',' + r1(qy) + ' ' + r1(x1) + ',' + r1(y1);
        mx = 0.25 * x0 + 0.5 * qx + 0.25 * x1; my = 0.25 * y0 + 0.5 * qy + 0.25 * y1;
      }
      s('path', { class: 'edge-line', d: d, 'stroke-width': r1(width), 'marker-end': e.rejected === e.total ? 'url(#arrow-rejected)' : 'url(#arrow)' }, g);
      if (e.rejected > 0) s('path', { class: 'edge-rejected-line', d: d, 'stroke-width': r1(1.5 + 5 * Math.sqrt(e.rejected / maxTotal)) }, g);
      if (labels || e.rejected > 0) {
        var t = s('text', { class: 'edge-label', x: r1(mx), y: r1(my), 'text-anchor': 'middle', 'dominant-baseline': 'middle' }, g, String(e.total));
        if (e.rejected > 0) {
          t.setAttribute('dy', '-7');
          s('text', { class: 'edge-rejected-label', x: r1(mx), y: r1(my), dy: 8, 'text-anchor': 'middle', 'dominant-baseline': 'middle' }, g, '\u2715 ' + e.rejected + ' rejected');
        }
      }
    });
    nodes.forEach(function (n) {
      var p = pos[n.id];
      var g = s('g', { class: 'node ' + n.kind + (n.rejected > 0 ? ' has-rejected' : ''), 'data-id': n.id, 'data-sent': n.sent, 'data-received': n.received, 'data-rejected': n.rejected }, gNodes);
      s('title', null, g, n.id + '\nsent ' + n.sent + ' (' + n.rejected + ' rejected)\nreceived ' + n.received);
      if (n.kind === 'topic') s('rect', { x: r1(p.x - p.r), y: r1(p.y - p.r), width: r1(2 * p.r), height: r1(2 * p.r), rx: 4, transform: 'rotate(45 ' + r1(p.x) + ' ' + r1(p.y) + ')' }, g);
      else s('circle', { cx: r1(p.x), cy: r1(p.y), r: r1(p.r) }, g);
      var c = Math.cos(p.a), sn = Math.sin(p.a), off = p.r + (many ? 6 : 10);
      var lx = nodes.length === 1 ? p.x : p.x + c * off, ly = nodes.length === 1 ? p.y + off + 4 : p.y + sn * off;
      if (many) {
        // radial labels, so that neighbours do not overlap; never upside down
        var deg = (p.a * 180) / Math.PI, left = c < 0;
        s('text', { class: 'label', x: r1(lx), y: r1(ly), 'text-anchor': left ? 'end' : 'start', 'dominant-baseline': 'middle', transform: 'rotate(' + r1(left ? deg + 180 : deg) + ' ' + r1(lx) + ' ' + r1(ly) + ')' }, g, clip(n.id, 20));
      } else {
        s('text', { class: 'label', x: r1(lx), y: r1(ly), 'text-anchor': nodes.length === 1 ? 'middle' : c > 0.25 ? 'start' : c < -0.25 ? 'end' : 'middle', 'dominant-baseline': sn > 0.5 ? 'hanging' : sn < -0.5 ? 'auto' : 'middle' }, g, clip(n.id, 24));
      }
    });
    var lg = h('div', { class: 'legend' }, root);
    var l1 = h('span', null, lg); swatch(l1, '#94a3b8'); l1.appendChild(document.createTextNode('line width = messages (label: total)'));
    var l2 = h('span', null, lg); swatch(l2, '#dc2626', true); l2.appendChild(document.createTextNode('rejected attempts (\u2715 count)'));
    h('span', null, lg, '\u25cf agent');
    h('span', null, lg, '\u25c6 topic');
    h('span', null, lg, 'red ring = sent rejected messages');
    if (data.truncated.edges) note(root, 'Showing the ' + edges.length + ' busiest edges only (--limit).');
    var det = h('details', null, root);
    h('summary', null, det, 'Edges table (' + edges.length + ')');
    table(det, [
      { title: 'sender', get: function (e) { return e.from; } },
      { title: 'destination', get: function (e) { return e.to; } },
      { title: 'total', num: true, get: function (e) { return e.total; } },
      { title: 'accepted', num: true, get: function (e) { return e.accepted; } },
      { title: 'rejected', num: true, get: function (e) { return e.rejected; } },
      { title: 'first seen', get: function (e) { return fmt(e.first_seen); } },
      { title: 'last seen', get: function (e) { return fmt(e.last_seen); } }
    ], edges, 'edge-row');
  }

  // ---- messages per minute per sender: one line per sender ----
  function perMinute(root) {
    var pm = data.per_minute, n = pm.times.length;
    var unit = pm.step_minutes === 1 ? 'minute' : pm.step_minutes + ' minutes';
    root.querySelector('h2').textContent = 'Messages per ' + unit + ' per sender';
    if (!n || !pm.series.length) { empty(root, 'No messages in this period.'); return; }
    var W = 1320, H = 310, L = 54, Rm = 16, T = 12, B = 40, pw = W - L - Rm, ph = H - T - B;
    var svg = svgIn(root, W, H, 'messages per ' + unit + ' per sender');
    var max = 0;
    pm.series.forEach(function (se) { se.counts.forEach(function (v) { if (v > max) max = v; }); });
    var ystep = niceStep(max, 4), top = Math.max(ystep, Math.ceil(max / ystep) * ystep);
    var t0 = Date.parse(pm.times[0]), stepMs = pm.step_minutes * 60000, tn = t0 + (n - 1) * stepMs;
    function XT(ms) { return L + (n === 1 ? pw / 2 : (pw * (ms - t0)) / (tn - t0)); }
    function X(i) { return XT(t0 + i * stepMs); }
    function Y(v) { return T + ph - (ph * v) / top; }
    var grid = s('g', { class: 'grid' }, svg), axis = s('g', { class: 'axis' }, svg);
    for (var v = 0; v <= top + 1e-9; v += ystep) {
      var y = r1(Y(v));
      s('line', { x1: L, x2: W - Rm, y1: y, y2: y }, grid);
      s('text', { x: L - 6, y: y, 'text-anchor': 'end', 'dominant-baseline': 'middle' }, axis, Math.round(v * 100) / 100);
    }
    s('line', { x1: L, x2: W - Rm, y1: T + ph, y2: T + ph }, axis);
    timeAxis(axis, n === 1 ? [t0] : timeTicks(t0, tn, 12), XT, T + ph, L, W - Rm);
    s('text', { x: 4, y: T + 4, 'dominant-baseline': 'hanging' }, axis, 'msgs');
    var lg = h('div', { class: 'legend' }, root);
    pm.series.forEach(function (se, idx) {
      var color = se.sender === '(other senders)' ? '#9ca3af' : PALETTE[idx % PALETTE.length];
      var pts = se.counts.map(function (c, i) { return r1(X(i)) + ',' + r1(Y(c)); }).join(' ');
      var g = s('g', { class: 'series-group', 'data-sender': se.sender }, svg);
      s('title', null, g, se.sender + ': ' + se.total + ' messages');
      s('polyline', { class: 'series', points: pts, stroke: color, 'data-sender': se.sender, 'data-total': se.total }, g);
      if (n <= 90) se.counts.forEach(function (c, i) {
        if (c > 0) s('circle', { class: 'point', cx: r1(X(i)), cy: r1(Y(c)), r: 2.5, fill: color }, g);
      });
      var it = h('span', null, lg); swatch(it, color); it.appendChild(document.createTextNode(se.sender + ' (' + se.total + ')'));
    });
  }

  // ---- rejections by reason: horizontal bars ----
  function rejectionsChart(root) {
    var rows = data.rejections;
    if (!rows.length) { empty(root, 'No rejections in this period.'); return; }
    var W = 520, rowH = 30, L = 170, Rm = 50, H = rows.length * rowH + 8;
    var svg = svgIn(root, W, H, 'rejections by reason'), max = 1;
    rows.forEach(function (r) { max = Math.max(max, r.count); });
    rows.forEach(function (r, i) {
      var y = 4 + i * rowH, bw = Math.max(2, ((W - L - Rm) * r.count) / max);
      var g = s('g', { class: 'bar', 'data-reason': r.reason, 'data-count': r.count }, svg);
      s('title', null, g, r.reason + ': ' + r.count + ' rejections from ' + r.senders + ' sender(s), most from ' + r.top_sender);
      s('text', { class: 'reason', x: L - 8, y: y + rowH / 2 - 2, 'text-anchor': 'end', 'dominant-baseline': 'middle' }, g, clip(r.reason, 26));
      s('rect', { x: L, y: y + 3, width: r1(bw), height: rowH - 10, rx: 3 }, g);
      s('text', { class: 'count', x: r1(L + bw + 6), y: y + rowH / 2 - 2, 'dominant-baseline': 'middle' }, g, r.count);
    });
    if (data.truncated.rejections) note(root, 'Showing the top ' + rows.length + ' reasons only.');
    table(root, [
      { title: 'reason', get: function (r) { return r.reason; } },
      { title: 'count', num: true, get: function (r) { return r.count; } },
      { title: 'senders', num: true, get: function (r) { return r.senders; } },
      { title: 'top sender', get: function (r) { return r.top_sender; } },
      { title: 'frequent details', get: function (r) { return h('code', { class: 'detail' }, null, r.details.join('\n')); } }
    ], rows, 'rejection-row');
  }

  // ---- alerts: one lane per rule on a time axis, then a table with the evidence ----
  function alertsChart(root) {
    var rows = data.alerts;
    if (!rows.length) { empty(root, 'No alerts in this period.'); return; }
    var rules = [];
    rows.forEach(function (a) { if (rules.indexOf(a.rule) < 0) rules.push(a.rule); });
    rules.sort();
    var lo = Infinity, hi = -Infinity;
    rows.forEach(function (a) {
      lo = Math.min(lo, Date.parse(a.window_start), Date.parse(a.detected_at));
      hi = Math.max(hi, Date.parse(a.window_end), Date.parse(a.detected_at));
    });
    if (!(hi - lo > 60000)) { lo -= 300000; hi += 300000; }
    var pad = (hi - lo) * 0.03; lo -= pad; hi += pad;
    var W = 1320, L = 150, Rm = 20, laneH = 34, T = 6, H = T + rules.length * laneH + 40, pw = W - L - Rm;
    function X(ms) { return L + (pw * (ms - lo)) / (hi - lo); }
    var svg = svgIn(root, W, H, 'alerts timeline'), axis = s('g', { class: 'axis' }, svg);
    rules.forEach(function (rule, i) {
      var y = T + i * laneH, g = s('g', { class: 'lane', 'data-rule': rule }, svg);
      s('line', { x1: L, x2: W - Rm, y1: y + laneH / 2, y2: y + laneH / 2 }, g);
      s('text', { x: L - 8, y: y + laneH / 2, 'text-anchor': 'end', 'dominant-baseline': 'middle' }, g, clip(rule, 22));
    });
    var base = T + rules.length * laneH;
    s('line', { x1: L, x2: W - Rm, y1: base, y2: base }, axis);
    timeAxis(axis, timeTicks(lo, hi, 12), X, base, L, W - Rm);
    rows.forEach(function (a) {
      var y = T + rules.indexOf(a.rule) * laneH + laneH / 2, color = SEV_COLOR[a.severity] || '#6b7280';
      var g = s('g', { class: 'alert ' + (SEV[a.severity] || 'sev-other'), 'data-rule': a.rule, 'data-severity': a.severity, 'data-agents': a.agents.join(','), 'data-detected-at': a.detected_at }, svg);
      s('title', null, g, a.rule + ' (' + a.severity + ') ' + a.agents.join(', ') + '\ndetected ' + fmt(a.detected_at) + '\nwindow ' + fmt(a.window_start) + ' \u2013 ' + fmt(a.window_end));
      var x0 = X(Date.parse(a.window_start)), x1 = X(Date.parse(a.window_end));
      s('rect', { class: 'window', x: r1(x0), y: r1(y - 9), width: r1(Math.max(2, x1 - x0)), height: 18, rx: 3, fill: color }, g);
      s('circle', { class: 'mark', cx: r1(X(Date.parse(a.detected_at))), cy: r1(y), r: 6, fill: color, stroke: '#fff', 'stroke-width': 1.5 }, g);
      s('text', { x: r1(X(Date.parse(a.detected_at)) + 9), y: r1(y - 9), 'dominant-baseline': 'middle' }, g, clip(a.agents.join(', '), 30));
    });
    if (data.truncated.alerts) note(root, 'Showing the latest ' + rows.length + ' alerts only.');
    table(root, [
      { title: 'detected', get: function (a) { return fmt(a.detected_at); } },
      { title: 'rule', get: function (a) { return a.rule; } },
      { title: 'severity', get: function (a) { return sevBadge(a.severity); } },
      { title: 'agents', get: function (a) { return a.agents.join(', '); } },
      { title: 'window', get: function (a) { return fmt(a.window_start) + ' \u2013 ' + fmt(a.window_end); } },
      { title: 'evidence', get: function (a) { return h('pre', { class: 'evidence' }, null, JSON.stringify(a.evidence, null, 1)); } }
    ], rows.slice().reverse(), 'alert-row');
  }

  var failed = false;
  [['graph', graph], ['per-minute', perMinute], ['rejections', rejectionsChart], ['alerts', alertsChart]].forEach(function (p) {
    var root = document.getElementById(p[0]);
    try { p[1](root); } catch (err) {
      failed = true;
      h('p', { class: 'error' }, root, 'Could not draw this section: ' + (err && err.message ? err.message : String(err)));
    }
  });
  document.body.dataset.rendered = failed ? 'error' : '1';
})();
`;

const sha256b64 = (s: string) => createHash('sha256').update(s, 'utf8').digest('base64');

/** The page for `data`: a pure function of it (same data, same bytes). */
export function renderHtmlReport(data: ReportData): string {
  const t = data.totals;
  const csp = [
    "default-src 'none'",
    `script-src 'sha256-${sha256b64(SCRIPT)}'`,
    `style-src 'sha256-${sha256b64(CSS)}'`,
    "img-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
  const fig = (n: number, label: string) => `<div><b>${n}</b>${escapeHtml(label)}</div>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>agentbus audit report ${escapeHtml(data.since)} – ${escapeHtml(data.until)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>agentbus audit report</h1>
<div class="meta">${escapeHtml(fmtIso(data.since))} – ${escapeHtml(fmtIso(data.until))} · database <code>${escapeHtml(data.database)}</code> · generated ${escapeHtml(fmtIso(data.generated_at))}</div>
<div class="totals">${fig(t.messages, 'messages')}${fig(t.accepted, 'accepted')}${fig(t.rejected, 'rejected')}${fig(t.duplicate, 'duplicates')}${fig(t.senders, 'senders')}${fig(t.edges, 'edges')}${fig(t.alerts, 'alerts')}</div>
</header>
<main>
<section id="graph"><h2>Communication graph</h2></section>
<section id="rejections"><h2>Rejections by reason</h2></section>
<section id="per-minute" class="wide"><h2>Messages per minute per sender</h2></section>
<section id="alerts" class="wide"><h2>Alerts timeline</h2></section>
</main>
<noscript><p class="error">This report draws its charts with JavaScript; the data is in the report-data block of the page source.</p></noscript>
<script type="application/json" id="report-data">${jsonForScript(data)}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

function fmtIso(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, '').replace(/Z$/, '') + ' UTC';
}

export interface ReportSummary { file: string; bytes: number; nodes: number; edges: number; rejected_edges: number; series: number; reasons: number; alerts: number }

/** Build the data, render, and write the page (atomically: a temp file renamed into place). */
export async function writeHtmlReport(store: AuditStore, file: string, opts: ReportOptions = {}): Promise<ReportSummary> {
  const data = await buildReportData(store, opts);
  const html = renderHtmlReport(data);
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, html, { encoding: 'utf8', mode: 0o644 });
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    const err = e as NodeJS.ErrnoException;
    throw new Error(`cannot write ${file}: ${err.code ?? err.message}${err.code === 'ENOENT' ? ' (does the directory exist?)' : ''}`);
  }
  return {
    file,
    bytes: Buffer.byteLength(html),
    nodes: data.nodes.length,
    edges: data.edges.length,
    rejected_edges: data.edges.filter((e) => e.rejected > 0).length,
    series: data.per_minute.series.length,
    reasons: data.rejections.length,
    alerts: data.alerts.length,
  };
}
