// The HTML report: the data built from a known store, a page that is self-contained and pure,
// and the page rendered in a REAL headless Chromium (its own CLI: --dump-dom and --screenshot):
// the graph, the per-minute series, the rejection bars and the alerts are drawn, and strings
// from the data (verifier details, alert evidence) are text, never markup.
// Chromium is required (CI installs the Debian package `chromium`): without it this test fails.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { auditEvent, malformedEvent, Reason, Verdict } from './helpers/audit-fixtures.js';
import type { EventSpec } from './helpers/audit-fixtures.js';
import { openStore } from '../packages/server/src/auditor/store.js';
import type { AlertRow, AuditStore } from '../packages/server/src/auditor/store.js';
import { storeConfigSchema } from '../packages/server/src/auditor/config.js';
import { eventToRow } from '../packages/server/src/auditor/rows.js';
import { buildReportData, jsonForScript, renderHtmlReport, writeHtmlReport } from '../packages/server/src/auditor/report-html.js';
import type { ReportData } from '../packages/server/src/auditor/report-html.js';

const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';
const MIN = 60_000;
const T = Math.floor((Date.now() - 2 * 3600_000) / MIN) * MIN;
const RANGE = { since: T - MIN, until: T + 30 * MIN };
const XSS_DETAIL = `<img src=x onerror="document.body.dataset.pwned='detail'"><script>alert(1)</script>`;
const XSS_EVIDENCE = `</script><script>document.body.dataset.pwned='evidence'</script><script>alert(1)</script>`;
let dir: string;
let store: AuditStore;
let data: ReportData;

const R = Verdict.VERDICT_REJECTED;
/** 10 minutes of traffic; the same edges as the reports test. */
function dataset(): EventSpec[] {
  const s: EventSpec[] = [];
  let i = 0;
  const at = () => T + 23_000 * i++; // spreads ~26 events over 10 minutes
  for (let k = 0; k < 5; k++) s.push({ from: 'alice', to: 'bob', at: at() });
  s.push({ from: 'alice', to: 'bob', at: at(), verdict: Verdict.VERDICT_DUPLICATE });
  for (let k = 0; k < 2; k++) s.push({ from: 'alice', to: 'carol', at: at() });
  s.push({ from: 'alice', to: 'carol', at: at(), verdict: R, reason: Reason.REASON_TYPE_NOT_ALLOWED, type: 'admin.reset', detail: XSS_DETAIL });
  for (let k = 0; k < 3; k++) s.push({ from: 'bob', to: 'alice', at: at() });
  for (let k = 0; k < 4; k++) s.push({ from: 'mallory', to: 'vault', at: at(), verdict: R, reason: Reason.REASON_DESTINATION_NOT_ALLOWED, detail: 'vault not in send rules' });
  for (let k = 0; k < 2; k++) s.push({ from: 'mallory', to: 'bob', at: at(), verdict: R, reason: Reason.REASON_BAD_SIGNATURE, forged: true });
  for (let k = 0; k < 8; k++) s.push({ from: 'dave', topic: 'news', at: at() });
  return s;
}

function alert(rule: string, severity: string, agents: string[], atMs: number, evidence: Record<string, unknown>): AlertRow {
  return {
    alert_id: randomBytes(16).toString('hex'),
    rule,
    severity,
    agents,
    dedup_key: `${rule}:${agents.join(',')}`,
    window_start: atMs - 5 * MIN,
    window_end: atMs,
    detected_at: atMs,
    evidence: JSON.stringify(evidence),
  };
}

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agentbus-report-html-'));
  store = await openStore(storeConfigSchema.parse({ url: join(dir, 'db') }));
  await store.migrate();
  const rows = [...dataset().map(auditEvent), malformedEvent('eve', T + 4 * MIN)].map(eventToRow);
  await store.insertRows(rows);
  await store.insertRows(rows); // a redelivery: nothing may double count
  await store.insertAlerts([
    alert('rejection_burst', 'high', ['mallory'], T + 6 * MIN, { rejected: 6, total: 6, by_reason: { destination_not_allowed: 4, bad_signature: 2 } }),
    alert('signature_failure', 'critical', ['mallory'], T + 7 * MIN, { rejections: 2, note: XSS_EVIDENCE }),
    alert('new_edge', 'low', ['alice', 'carol'], T + 3 * MIN, { destination: 'carol', rejected: 1 }),
  ]);
  data = await buildReportData(store, RANGE);
});
test.after(async () => {
  await store?.close().catch(() => {});
  if (!process.env['REPORT_HTML_KEEP']) rmSync(dir, { recursive: true, force: true });
});

test('data - nodes, edges, per-minute series, rejections and alerts from the store', () => {
  assert.equal(data.nodes.map((n) => [n.id, n.kind, n.sent, n.rejected, n.received]), [
    ['alice', 'agent', 9, 1, 3],
    ['bob', 'agent', 3, 0, 8],
    ['carol', 'agent', 0, 0, 3],
    ['dave', 'agent', 8, 0, 0],
    ['eve', 'agent', 1, 1, 0],
    ['mallory', 'agent', 6, 6, 0],
    ['topic:news', 'topic', 0, 0, 8],
    ['vault', 'agent', 0, 0, 4],
  ]);
  assert.equal(data.edges.map((e) => [e.from, e.to, e.total, e.rejected]), [
    ['dave', 'topic:news', 8, 0],
    ['alice', 'bob', 6, 0],
    ['mallory', 'vault', 4, 4],
    ['alice', 'carol', 3, 1],
    ['bob', 'alice', 3, 0],
    ['mallory', 'bob', 2, 2],
  ]);
  assert.match(data.edges[0]!.first_seen, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(data.totals, { messages: 27, accepted: 18, rejected: 8, duplicate: 1, senders: 5, edges: 6, alerts: 3 });
  const pm = data.per_minute;
  assert.is(pm.step_minutes, 1);
  assert.is(pm.times[0], new Date(T).toISOString());
  assert.is(pm.times.length, 10);
  assert.equal(pm.series.map((s) => [s.sender, s.total]), [['alice', 9], ['dave', 8], ['mallory', 6], ['bob', 3], ['eve', 1]]);
  for (const s of pm.series) assert.is(s.counts.reduce((a, b) => a + b, 0), s.total, s.sender);
  assert.equal(data.rejections.map((r) => [r.reason, r.count]), [['destination_not_allowed', 4], ['bad_signature', 2], ['malformed', 1], ['type_not_allowed', 1]]);
  assert.equal(data.rejections.find((r) => r.reason === 'type_not_allowed')!.details, [XSS_DETAIL]);
  assert.equal(data.alerts.map((a) => [a.rule, a.severity, a.agents]), [
    ['new_edge', 'low', ['alice', 'carol']],
    ['rejection_burst', 'high', ['mallory']],
    ['signature_failure', 'critical', ['mallory']],
  ]);
  assert.is(data.alerts[0]!.detected_at, new Date(T + 3 * MIN).toISOString());
});

test('data - long periods use coarser buckets; small limits fold senders into one series', async () => {
  const d = await buildReportData(store, { ...RANGE, maxPoints: 3, maxSeries: 2 });
  assert.is(d.per_minute.step_minutes, 5);
  const m0 = Math.floor(T / MIN); // 5-minute buckets start on multiples of 5 minutes
  assert.is(d.per_minute.times.length, Math.floor((m0 + 9) / 5) - Math.floor(m0 / 5) + 1);
  assert.is(d.per_minute.times[0], new Date(Math.floor(m0 / 5) * 5 * MIN).toISOString());
  assert.equal(d.per_minute.series.map((s) => [s.sender, s.total]), [['alice', 9], ['dave', 8], ['(other senders)', 10]]);
  assert.is(d.per_minute.series.flatMap((s) => s.counts).reduce((a, b) => a + b, 0), 27);
  const empty = await buildReportData(store, { since: T + 60 * MIN, until: T + 90 * MIN });
  assert.equal([empty.nodes, empty.edges, empty.per_minute.series, empty.rejections, empty.alerts], [[], [], [], [], []]);
  assert.ok(renderHtmlReport(empty).includes('id="report-data"'));
});

test('page - pure, self-contained, the data cannot break out of its block', () => {
  const html = renderHtmlReport(data);
  assert.is(renderHtmlReport(data), html, 'same data, same page');
  // the template (everything but the data block) loads nothing
  const page = html.replace(/(<script type="application\/json" id="report-data">)[\s\S]*?(<\/script>)/, '$1$2');
  assert.ok(page.length < html.length);
  assert.not.match(page, /<(link|img|iframe|object|embed)\b/i);
  assert.not.match(page, /\s(src|href)\s*=/i);
  assert.not.match(page, /@import|url\((?!#)/i);
  const urls = html.match(/https?:\/\/[^\s"'<>)]+/g) ?? [];
  assert.equal([...new Set(urls)], ['http://www.w3.org/2000/svg'], 'the only URL is the SVG namespace name (never fetched)');
  assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;; script-src &#39;sha256-/);
  // exactly the two script blocks of the template; the data strings are not markup
  assert.is(html.match(/<script\b/gi)!.length, 2);
  assert.is(html.match(/<\/script/gi)!.length, 2);
  assert.not.ok(html.includes('<img src=x'));
  assert.not.ok(html.includes('<script>alert(1)'));
  const block = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html)![1]!;
  assert.equal(JSON.parse(block), data, 'the embedded JSON round-trips');
  assert.is(jsonForScript({ s: '</script><!--\u2028&' }), '{"s":"\\u003c/script\\u003e\\u003c!--\\u2028\\u0026"}');
});

function chromium(args: string[], profile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      CHROMIUM,
      [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--no-default-browser-check',
        '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-extensions',
        '--disable-dev-shm-usage', '--hide-scrollbars', `--user-data-dir=${profile}`, '--virtual-time-budget=5000', ...args,
      ],
      { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => (err ? reject(new Error(`chromium failed: ${err.message}\n${stderr}`)) : resolve(stdout)),
    );
  });
}

const count = (html: string, re: RegExp) => (html.match(re) ?? []).length;

test('browser - the page draws in headless Chromium: graph, per-minute series, rejection bars, alerts; data is text', async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: this test renders the report in a real browser; install it (Debian: apt-get install -y chromium) or set CHROMIUM=/path/to/chromium`);
  const file = join(dir, 'report.html');
  const summary = await writeHtmlReport(store, file, RANGE);
  assert.equal({ ...summary, bytes: 0 }, { file, bytes: 0, nodes: 8, edges: 6, rejected_edges: 3, series: 5, reasons: 4, alerts: 3 });
  assert.is(statSync(file).size, summary.bytes);
  const url = pathToFileURL(file).href;
  const dom = await chromium(['--dump-dom', url], join(dir, 'profile-dom'));

  assert.match(dom, /<body[^>]*data-rendered="1"/, 'the script ran to the end without a section failing');
  // graph: 8 nodes (7 agents, 1 topic), 6 edges, 3 of them with rejected attempts
  assert.is(count(dom, /<g class="node\b/g), 8);
  assert.is(count(dom, /<g class="node agent\b/g), 7);
  assert.is(count(dom, /<g class="node topic\b/g), 1);
  assert.is(count(dom, /<g class="edge\b/g), 6);
  assert.is(count(dom, /<g class="edge rejected\b/g), 3);
  assert.match(dom, /<g class="edge rejected all-rejected" data-from="mallory" data-to="vault" data-total="4" data-rejected="4">/);
  assert.match(dom, /<g class="edge rejected" data-from="alice" data-to="carol" data-total="3" data-rejected="1">/);
  assert.match(dom, /<g class="edge" data-from="alice" data-to="bob" data-total="6" data-rejected="0">/);
  assert.ok(dom.includes('✕ 4 rejected'));
  // stroke width grows with the message count
  const width = (from: string, to: string) => Number(new RegExp(`data-from="${from}" data-to="${to}"[^>]*>(?:<title>[^<]*</title>)?<path class="edge-line" d="[^"]*" stroke-width="([\\d.]+)"`).exec(dom)?.[1]);
  assert.ok(width('dave', 'topic:news') > width('alice', 'bob') && width('alice', 'bob') > width('mallory', 'bob'), `${width('dave', 'topic:news')} ${width('alice', 'bob')} ${width('mallory', 'bob')}`);
  // per-minute chart: one series per sender, 10 points each
  const series = [...dom.matchAll(/<polyline class="series" points="([^"]*)"[^>]*data-sender="([^"]*)"/g)];
  assert.equal(series.map((m) => m[2]), ['alice', 'dave', 'mallory', 'bob', 'eve']);
  for (const m of series) assert.is(m[1]!.split(' ').length, 10);
  // rejections: 4 bars, the longest first
  assert.equal([...dom.matchAll(/<g class="bar" data-reason="([^"]*)" data-count="(\d+)"/g)].map((m) => [m[1], Number(m[2])]), [
    ['destination_not_allowed', 4], ['bad_signature', 2], ['malformed', 1], ['type_not_allowed', 1],
  ]);
  // alerts: 3 marks on the timeline (one lane per rule) and 3 table rows
  assert.is(count(dom, /<g class="alert\b/g), 3);
  assert.is(count(dom, /<g class="lane\b/g), 3);
  assert.is(count(dom, /<tr class="alert-row"/g), 3);
  assert.match(dom, /<g class="alert sev-critical" data-rule="signature_failure" data-severity="critical" data-agents="mallory"/);

  // XSS: the strings are in the DOM as text; no element came from them and nothing ran
  assert.is(count(dom, /<script\b/gi), 2, 'only the page’s own two script elements');
  assert.not.match(dom, /<img\b/i);
  assert.not.match(dom, /data-pwned/);
  assert.ok(dom.includes('&lt;img src=x onerror="document.body.dataset.pwned=\'detail\'"&gt;&lt;script&gt;alert(1)&lt;/script&gt;'), 'the detail is shown as text');
  assert.ok(dom.includes('&lt;/script&gt;&lt;script&gt;document.body.dataset.pwned=\'evidence\'&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;'), 'the evidence is shown as text');

  // a screenshot of the whole page (look at it: REPORT_HTML_SCREENSHOT=/path.png keeps a copy)
  const png = join(dir, 'report.png');
  await chromium([`--screenshot=${png}`, '--window-size=1400,1800', url], join(dir, 'profile-shot'));
  assert.ok(existsSync(png) && statSync(png).size > 20_000, 'a screenshot with content');
  assert.equal([...readFileSync(png).subarray(1, 4)], [0x50, 0x4e, 0x47]);
  if (process.env['REPORT_HTML_SCREENSHOT']) copyFileSync(png, process.env['REPORT_HTML_SCREENSHOT']);
});

test('cli - audit report --html FILE writes the page; bad arguments exit 2', async () => {
  await store.close(); // one process at a time on a chDB data directory
  const out = join(dir, 'cli-report.html');
  const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'packages/server/src/bus/cli.ts', 'audit', 'report', '--store', join(dir, 'db'), ...args], { encoding: 'utf8', timeout: 120_000 });
  const r = cli('--html', out, '--since', new Date(RANGE.since).toISOString(), '--until', new Date(RANGE.until).toISOString(), '--json');
  assert.is(r.status, 0, r.stderr);
  assert.equal({ ...JSON.parse(r.stdout), bytes: 0 }, { file: out, bytes: 0, nodes: 8, edges: 6, rejected_edges: 3, series: 5, reasons: 4, alerts: 3 });
  assert.match(readFileSync(out, 'utf8'), /^<!DOCTYPE html>/);
  assert.is(cli().status, 2, 'no --html');
  assert.is(cli('--html', out, '--since', 'yesterday-ish').status, 2);
  assert.is(cli('--html', out, '--since', '1h', '--until', '2h').status, 2);
});

test.run();
