// The report's page: one self-contained HTML file for analysts (inline CSS, inline JS, SVG drawn
// in the page; no external URL anywhere, and a CSP that forbids loading anything). The data is
// embedded as JSON in a <script type="application/json"> block (every '<', '>' and '&' escaped,
// so no data string can close the block). The parts that must work without the script (outcome
// counts, alerts by severity, the evidence trails with their #trail-<msg_id> anchors) are
// rendered here as HTML, every string through escapeHtml; the charts are drawn by the page's
// script (client.ts), which never turns a data string into markup.
//
// Sections and their stable selectors (used by the tests):
//   #outcomes .outcome[data-outcome]                           delivered, undelivered, …, rejected, shed
//   #alert-list .alert-item[data-severity] .sentence, a.trail-link   alerts by severity, evidence links
//   #counts[data-rows][data-shed-rows][data-shed][data-messages] how the audit rows add up to the messages
//   #refusals tr.refusal-row#refusal-<msg_id>, a.trail-link    messages refused by their recipient
//   #trails .trail#trail-<msg_id> tr.trail-row                 the evidence and refused messages' audit trails
//   #graph svg .node (.agent | .topic), .edge, .edge.rejected; .graph-legend [data-legend]
//   #per-bucket svg[data-bucket-seconds] .series               messages per bucket per sender
//   #rejections .bar                                           rejections by reason
//   #alerts .alert (timeline marks), #alerts .alert-row        alerts timeline and table
// After drawing, the page sets document.body.dataset.rendered = "1" ("error" if a section failed;
// the section then shows the error).
import { createHash } from 'node:crypto';
import { DEFAULT_DATABASE } from '../defaults.js';
import { reportCss, reportScript } from './assets.js';
import { bySeverity } from './queries.js';
import type { ReportAlert, ReportData, ReportOutcomes } from './types.js';

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

const sha256b64 = (s: string) => createHash('sha256').update(s, 'utf8').digest('base64');

const SAFE_ARG = /^[A-Za-z0-9_@%+=:,./-]+$/;
/** A shell word (POSIX quoting when it needs any). */
function shellWord(s: string): string {
  return SAFE_ARG.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
/** A store for a command line: a URL without its user and password. */
function storeArg(store: string): string {
  return store.replace(/^(https?:\/\/)[^/@]*@/i, '$1');
}

/**
 * The CLI command that prints the same trail from the store: it names the store the report read
 * (--store, else --state-dir), or none when the report read the store `agentbus audit trail`
 * finds by itself.
 */
export function trailCommand(data: Pick<ReportData, 'store' | 'database'> & { state_dir?: string }, msgId: string): string {
  const where = data.store ? ` --store ${shellWord(storeArg(data.store))}` : data.state_dir ? ` --state-dir ${shellWord(data.state_dir)}` : '';
  const db = data.database !== DEFAULT_DATABASE ? ` --database ${shellWord(data.database)}` : '';
  return `agentbus audit trail --msg-id ${shellWord(msgId)}${where}${db}`;
}

const SEV_CLASS: Record<string, string> = { critical: 'sev-critical', high: 'sev-high', medium: 'sev-medium', low: 'sev-low' };
const sevClass = (sev: string) => SEV_CLASS[sev] ?? 'sev-other';
const e = escapeHtml;

const OUTCOMES: [keyof ReportOutcomes, string, string][] = [
  ['delivered', 'delivered', 'accepted, and the recipient confirmed it'],
  ['undelivered', 'undelivered', 'accepted, but no recipient confirmed it in time (recorded unconfirmed)'],
  ['recipient_refused', 'refused by the recipient', "accepted, but the recipient's client could not verify or decode it (its registry or manifests differ)"],
  ['unrecorded', 'no delivery record', 'accepted direct messages with no delivery outcome stored (in flight, or the verifier stopped first)'],
  ['broadcast', 'broadcast', 'accepted topic publications (at most once: nobody confirms them)'],
  ['rejected', 'rejected', 'rejected by the verifier after its checks'],
  ['shed', 'shed', 'dropped unverified: the sender had spent its rejection budget'],
  ['duplicate', 'duplicates', 'client retries of a message already accepted (answered, not counted again)'],
];

function outcomesHtml(o: ReportOutcomes): string {
  return OUTCOMES.map(
    ([k, label, title]) =>
      `<div class="outcome outcome-${k}" data-outcome="${k}" data-count="${o[k]}" title="${e(title)}"><b>${o[k]}</b>${k === 'recipient_refused' && o[k] > 0 ? `<a href="#refusals">${e(label)}</a>` : e(label)}<small>${e(title)}</small></div>`,
  ).join('');
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** How the period's counts add up: audit rows to messages, messages to outcomes (the same numbers as the tiles). */
function countsHtml(data: ReportData): string {
  const r = data.rows,
    o = data.outcomes,
    t = data.totals;
  const rows =
    r.shed_rows > 0
      ? `${plural(t.messages, 'message')} in ${plural(r.rows, 'audit row')}: a row is one message, but ${plural(r.shed_rows, 'shed row')} ${r.shed_rows === 1 ? 'stands' : 'stand'} for the ${plural(r.shed, 'message')} shed unverified (${r.rows} − ${r.shed_rows} + ${r.shed} = ${r.messages})`
      : `${plural(t.messages, 'message')} in ${plural(r.rows, 'audit row')}, one row each`;
  const acc = (['delivered', 'undelivered', 'recipient_refused', 'unrecorded', 'broadcast'] as const)
    .filter((k) => o[k] > 0)
    .map((k) => `${o[k]} ${OUTCOME_LABEL[k]}`);
  const parts = `${o.accepted} accepted${acc.length > 1 ? ` (${acc.join(' + ')})` : ''} + ${o.rejected} rejected + ${o.shed} shed + ${plural(o.duplicate, 'duplicate')}`;
  return `<p class="note counts" id="counts" data-rows="${r.rows}" data-shed-rows="${r.shed_rows}" data-shed="${r.shed}" data-messages="${t.messages}">${e(`${rows}; ${parts} = ${o.accepted + o.rejected + o.shed + o.duplicate}. Every count on this page is of the period above.`)}</p>`;
}
const OUTCOME_LABEL = Object.fromEntries(OUTCOMES.map(([k, label]) => [k, label])) as Record<keyof ReportOutcomes, string>;

function refusalsHtml(data: ReportData): string {
  const list = data.refusals;
  if (!list.length) return '<p class="empty">No message was refused by its recipient in this period.</p>';
  const out = [
    `<p class="note">Accepted by the verifier, then refused by the recipient's client (it could not verify or decode them: its registry or manifests differ), and never confirmed by another recipient: the ${plural(data.outcomes.recipient_refused, 'message')} of the tile above${data.truncated.refusals ? `, the latest ${list.length} listed` : ''}, the latest first. Each msg_id links to its audit trail.</p>`,
    '<table class="refusal-rows"><thead><tr><th>refused at</th><th>msg_id</th><th>sender → recipient</th><th>type</th><th>the recipient’s reason</th><th>trail from the store</th></tr></thead><tbody>',
  ];
  for (const x of list) {
    const id = x.trail ? `<a class="trail-link" href="#trail-${e(x.msg_id)}"><code>${e(x.msg_id)}</code></a>` : `<code>${e(x.msg_id)}</code>`;
    out.push(
      `<tr class="refusal-row" id="refusal-${e(x.msg_id)}" data-msg-id="${e(x.msg_id)}" data-reason="${e(x.reason)}"><td>${e(fmtIso(x.at))}</td><td>${id}</td><td>${e(`${x.sender} → ${x.recipient}`)}</td><td>${e(x.type)}</td><td><b>${e(x.reason || '(no reason given)')}</b>${x.detail ? `: ${e(x.detail)}` : ''}</td><td><code class="cmd">${e(trailCommand(data, x.msg_id))}</code></td></tr>`,
    );
  }
  out.push('</tbody></table>');
  return out.join('\n');
}

function alertListHtml(data: ReportData): string {
  if (!data.alerts.length) return '<p class="empty">No alerts in this period.</p>';
  const sorted = [...data.alerts].sort(bySeverity);
  const groups: { severity: string; alerts: ReportAlert[] }[] = [];
  for (const a of sorted) {
    const g = groups[groups.length - 1];
    if (g && g.severity === a.severity) g.alerts.push(a);
    else groups.push({ severity: a.severity, alerts: [a] });
  }
  const cmd = data.alerts.some((a) => a.msg_ids.length) ? trailCommand(data, 'MSG_ID') : '';
  const out = [
    `<p class="note">Highest severity first, the latest first within a severity. Each evidence msg_id links to its audit trail on this page${cmd ? `; the same trail from the store: <code class="cmd">${e(cmd)}</code>` : ''}.</p>`,
  ];
  for (const g of groups) {
    out.push(
      `<div class="sev-group" data-severity="${e(g.severity)}"><h3><span class="sev ${sevClass(g.severity)}">${e(g.severity)}</span> ${e(`${g.alerts.length} ${g.alerts.length === 1 ? 'alert' : 'alerts'}`)}</h3>`,
    );
    for (const a of g.alerts) {
      out.push(
        `<article class="alert-item ${sevClass(a.severity)}" id="alert-${e(a.alert_id)}" data-alert-id="${e(a.alert_id)}" data-rule="${e(a.rule)}" data-severity="${e(a.severity)}">`,
      );
      out.push(`<p class="sentence">${e(a.sentence)}</p>`);
      out.push(
        `<p class="meta">rule <code>${e(a.rule)}</code> · detected ${e(fmtIso(a.detected_at))} · window ${e(fmtIso(a.window_start))} – ${e(fmtIso(a.window_end))}${a.agents.length ? ` · agents ${e(a.agents.join(', '))}` : ''}</p>`,
      );
      if (a.msg_ids.length) {
        const more = a.msg_ids_total - a.msg_ids.length;
        out.push(
          `<div class="evidence-ids"><span>Evidence: ${e(a.msg_ids_from)} (${a.msg_ids_total} ${a.msg_ids_total === 1 ? 'message' : 'messages'}${more > 0 ? `, the first ${a.msg_ids.length} listed` : ''})</span><ul>`,
        );
        for (const id of a.msg_ids) {
          out.push(`<li><a class="trail-link" href="#trail-${e(id)}"><code>${e(id)}</code></a> <code class="cmd">${e(trailCommand(data, id))}</code></li>`);
        }
        out.push('</ul></div>');
      } else if (a.msg_ids_from) {
        out.push(
          `<p class="note evidence-none">Evidence: ${e(a.msg_ids_from)}: none with a msg_id (a rejected envelope whose header did not decode has none).</p>`,
        );
      } else {
        out.push('<p class="note evidence-none">This alert names no messages.</p>');
      }
      out.push('</article>');
    }
    out.push('</div>');
  }
  if (data.truncated.trails)
    out.push(
      `<p class="note">The page holds at most ${data.trails.length} trails: some evidence msg_ids of the less severe alerts are not listed (use <code>agentbus audit trail</code>).</p>`,
    );
  return out.join('\n');
}

function trailsHtml(data: ReportData): string {
  if (!data.trails.length) return '<p class="empty">No alert in this period names messages, and no recipient refused one.</p>';
  const rule = new Map(data.alerts.map((a) => [a.alert_id, a]));
  const have = new Set(data.trails.map((t) => t.msg_id));
  const out = [
    '<p class="note">Every audit row of each evidence message and each message refused by its recipient (the attempt, retries, replays) and the messages it caused, oldest first: what <code>agentbus audit trail --msg-id</code> prints.</p>',
  ];
  for (const t of data.trails) {
    const refs = t.alert_ids.map((id) => {
      const a = rule.get(id);
      return `<a href="#alert-${e(id)}">${e(a ? `${a.rule} (${a.severity})` : id)}</a>`;
    });
    const why = [
      ...(refs.length ? [`evidence of ${refs.join(', ')}`] : []),
      ...(t.refused ? [`<a href="#refusal-${e(t.msg_id)}">refused by the recipient</a>`] : []),
    ];
    out.push(`<article class="trail" id="trail-${e(t.msg_id)}" data-msg-id="${e(t.msg_id)}">`);
    out.push(`<h3>msg_id <code>${e(t.msg_id)}</code></h3>`);
    out.push(`<p class="meta">${why.join(' · ')} · <code class="cmd">${e(trailCommand(data, t.msg_id))}</code></p>`);
    if (!t.rows.length) {
      out.push('<p class="empty">No row of this msg_id in the store.</p></article>');
      continue;
    }
    out.push(
      '<table class="trail-rows"><thead><tr><th>time</th><th>row</th><th>verdict</th><th>reason</th><th>sender → recipient</th><th>type</th><th class="num">depth</th><th>causation</th></tr></thead><tbody>',
    );
    for (const r of t.rows) {
      const cause = !r.causation_id
        ? ''
        : have.has(r.causation_id) && r.causation_id !== t.msg_id
          ? `<a href="#trail-${e(r.causation_id)}"><code>${e(r.causation_id)}</code></a>`
          : `<code>${e(r.causation_id)}</code>`;
      out.push(
        `<tr class="trail-row" data-relation="${e(r.relation)}" data-verdict="${e(r.verdict)}" data-msg-id="${e(r.msg_id)}"><td>${e(fmtIso(r.time))}</td><td>${e(r.relation === 'caused' ? `caused: ${r.msg_id}` : r.relation)}</td><td class="v-${e(r.verdict)}">${e(r.verdict)}</td><td>${e(r.reason)}</td><td>${e(`${r.sender} → ${r.destination}`)}</td><td>${e(r.type)}</td><td class="num">${r.depth}</td><td>${cause}</td></tr>`,
      );
    }
    out.push('</tbody></table>');
    if (t.truncated) out.push(`<p class="note">The first ${t.rows.length} rows only: the command above prints them all.</p>`);
    out.push('</article>');
  }
  return out.join('\n');
}

/** Monitor mode (docs/design.md §18): what enforcing would have refused, per agent and reason; nothing when there is none. */
function wouldRefuseHtml(data: ReportData): string {
  const rows = data.would_refuse ?? [];
  if (!rows.length) return '';
  const out = [
    '<section id="would-refuse" class="wide"><h2>Monitor mode: what enforcing would have refused</h2>',
    `<p class="note">Agents in monitor mode (<code>enforce: monitor</code>) had these messages delivered although their policy refuses them. Enforce with <code>enforce: enforce</code> in the manifest; every message: <code>${e(trailCommand(data, 'MSG_ID'))}</code>.</p>`,
    '<table class="would-refuse"><thead><tr><th>agent</th><th>would refuse</th><th class="num">messages</th><th class="num">destinations</th><th>first</th><th>last</th><th>last message</th></tr></thead><tbody>',
  ];
  for (const w of rows)
    out.push(
      `<tr data-agent="${e(w.agent)}" data-reason="${e(w.reason)}"><td>${e(w.agent)}</td><td>${e(w.reason)}</td><td class="num">${w.messages}</td><td class="num">${w.destinations}</td><td>${e(fmtIso(w.first_seen))}</td><td>${e(fmtIso(w.last_seen))}</td><td><code>${e(w.last_msg_id)}</code> ${e(w.last_detail)}</td></tr>`,
    );
  out.push('</tbody></table></section>');
  return out.join('\n');
}

/** The page for `data`: a pure function of it (same data, same bytes). */
export function renderHtmlReport(data: ReportData): string {
  const t = data.totals;
  // each block's text starts on a line of its own; the CSP's hashes are of exactly that text
  const CSS = `\n${reportCss()}`;
  const SCRIPT = `\n${reportScript()}`;
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
<div class="totals" id="outcomes">${outcomesHtml(data.outcomes)}</div>
<div class="totals">${fig(t.messages, 'messages')}${fig(t.accepted, 'accepted')}${fig(t.rejected, 'rejected')}${fig(t.duplicate, 'duplicates')}${fig(t.senders, 'senders')}${fig(t.edges, 'edges')}${fig(t.alerts, 'alerts')}</div>
${countsHtml(data)}
</header>
<main>
<section id="alert-list" class="wide"><h2>Alerts by severity</h2>
${alertListHtml(data)}
</section>
<section id="refusals" class="wide"><h2>Refused by the recipient</h2>
${refusalsHtml(data)}
</section>
${wouldRefuseHtml(data)}<section id="graph"><h2>Communication graph</h2></section>
<section id="rejections"><h2>Rejections by reason</h2></section>
<section id="per-bucket" class="wide"><h2>Messages per ${escapeHtml(data.per_bucket.bucket_label)} per sender</h2></section>
<section id="alerts" class="wide"><h2>Alerts timeline</h2></section>
<section id="trails" class="wide"><h2>Evidence trails</h2>
${trailsHtml(data)}
</section>
</main>
<noscript><p class="error">This report draws its charts with JavaScript; the data is in the report-data block of the page source.</p></noscript>
<script type="application/json" id="report-data">${jsonForScript(data)}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

function fmtIso(iso: string): string {
  return `${iso
    .replace('T', ' ')
    .replace(/\.\d+Z$/, '')
    .replace(/Z$/, '')} UTC`;
}
