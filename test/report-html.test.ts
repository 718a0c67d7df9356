// The HTML report: the data built from a known store, a page that is self-contained and pure,
// and the page rendered in a REAL headless Chromium (its own CLI: --dump-dom and --screenshot):
// the graph (with its legend), the time series (bucket chosen from the run's span), the
// rejection bars and the alerts are drawn, and strings from the data (verifier details, alert
// evidence, agent ids, types) are text, never markup. A second, 30-second run in the same store
// has known delivery outcomes (delivered / undelivered / refused by the recipient / no record / broadcast / rejected / shed),
// alerts of three severities, evidence msg_ids with their trails, and an agent and a type that
// are HTML.
// Chromium is required (CI installs the Debian package `chromium`): without it this test fails.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
import type { AuditRow, DeliveryRow } from '../packages/server/src/auditor/rows.js';
import {
  alertSentence,
  BUCKET_SECONDS,
  bucketLabel,
  buildReportData,
  bySeverity,
  chooseBucketSeconds,
  escapeHtml,
  jsonForScript,
  renderHtmlReport,
  trailCommand,
  writeHtmlReport,
} from '../packages/server/src/auditor/report/index.js';
import type { ReportData } from '../packages/server/src/auditor/report/index.js';
import { AuditEvent } from '../packages/protocol/src/proto.js';
import { toHex } from '../packages/protocol/src/envelope.js';
import { cliArgs } from './helpers/cli-bin.js';

const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';
const MIN = 60_000;
const T = Math.floor((Date.now() - 2 * 3600_000) / MIN) * MIN;
const RANGE = { since: T - MIN, until: T + 30 * MIN };
const XSS_DETAIL = `<img src=x onerror="document.body.dataset.pwned='detail'"><script>alert(1)</script>`;
const XSS_EVIDENCE = `</script><script>document.body.dataset.pwned='evidence'</script><script>alert(1)</script>`;
let dir: string;
let store: AuditStore;
let data: ReportData;
let short: ReportData;

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
  for (let k = 0; k < 4; k++)
    s.push({ from: 'mallory', to: 'vault', at: at(), verdict: R, reason: Reason.REASON_DESTINATION_NOT_ALLOWED, detail: 'vault not in send rules' });
  for (let k = 0; k < 2; k++) s.push({ from: 'mallory', to: 'bob', at: at(), verdict: R, reason: Reason.REASON_BAD_SIGNATURE, forged: true });
  for (let k = 0; k < 8; k++) s.push({ from: 'dave', topic: 'news', at: at() });
  return s;
}

function alert(rule: string, severity: string, agents: string[], atMs: number, evidence: Record<string, unknown>, window?: [number, number]): AlertRow {
  return {
    alert_id: randomBytes(16).toString('hex'),
    rule,
    severity,
    agents,
    dedup_key: `${rule}:${agents.join(',')}`,
    window_start: window?.[0] ?? atMs - 5 * MIN,
    window_end: window?.[1] ?? atMs,
    detected_at: atMs,
    evidence: JSON.stringify(evidence),
  };
}

// ---- the short run: 30 seconds, 40 minutes after T ----
const S = T + 40 * MIN;
const SHORT = { since: S - MIN, until: S + 5 * MIN };
const EVIL = `<script>document.body.dataset.pwned='agent'</script>`;
const EVIL_TYPE = `<img src=x onerror="document.body.dataset.pwned='type'">`;
const id16 = () => new Uint8Array(randomBytes(16));
const P = Array.from({ length: 6 }, id16); // planner → browser
const C1 = id16(); // browser → planner, caused by P[0]
const E1 = id16(); // from the agent whose name is HTML
const hex = (b: Uint8Array) => toHex(b);
/**
 * Known outcomes: accepted 10 = delivered 4 (P0-P2 confirmed; P4 unconfirmed, then confirmed
 * after the retry) + undelivered 1 (P3: unconfirmed only) + refused by the recipient 1 (P5) +
 * no record 2 (C1, E1) + broadcast 2; rejected 7 (5 destination_not_allowed, 2 bad_signature);
 * shed 40; duplicate 1.
 */
function shortRun(): { rows: AuditRow[]; shed: AuditRow; deliveries: DeliveryRow[] } {
  const rows: AuditRow[] = [];
  const ev = (spec: EventSpec) => rows.push(eventToRow(auditEvent(spec)));
  P.forEach((m, k) => ev({ from: 'planner', to: 'browser', type: 'task.assign', at: S + 2000 * k, msgId: m }));
  ev({ from: 'planner', to: 'browser', type: 'task.assign', at: S + 12_000, msgId: P[4]!, verdict: Verdict.VERDICT_DUPLICATE });
  ev({ from: 'planner', topic: 'news', at: S + 13_000 });
  ev({ from: 'planner', topic: 'news', at: S + 14_000 });
  for (let k = 0; k < 5; k++)
    ev({
      from: 'browser',
      to: 'vault',
      at: S + 15_000 + 1000 * k,
      verdict: R,
      reason: Reason.REASON_DESTINATION_NOT_ALLOWED,
      detail: 'vault not in send rules',
    });
  for (let k = 0; k < 2; k++) ev({ from: 'browser', to: 'bob', at: S + 20_000 + 1000 * k, verdict: R, reason: Reason.REASON_BAD_SIGNATURE, forged: true });
  ev({ from: 'browser', to: 'planner', type: 'task.result', at: S + 24_000, msgId: C1, causationId: P[0]! });
  // an agent id and a type that are HTML (a row as a hostile sender could make it)
  const evil = eventToRow(auditEvent({ from: 'mallet', to: 'browser', at: S + 30_000, msgId: E1 }));
  rows.push({ ...evil, sender: EVIL, subject_sender: EVIL, header_sender: EVIL, type: EVIL_TYPE });
  const d = (m: Uint8Array, delivery: string, at: number, pos: number): DeliveryRow => ({
    batch_id: 'fixture:1',
    batch_pos: pos,
    verifier_id: 'v1',
    msg_id: hex(m),
    recipient: 'browser',
    delivery,
    at,
    malformed: '',
    reason: '',
    detail: '',
  });
  const deliveries = [
    d(P[0]!, 'confirmed', S + 100, 0),
    d(P[1]!, 'confirmed', S + 2100, 1),
    d(P[2]!, 'confirmed', S + 4100, 2),
    d(P[3]!, 'unconfirmed', S + 7000, 3),
    d(P[4]!, 'unconfirmed', S + 9000, 4),
    d(P[4]!, 'confirmed', S + 12_100, 5),
    { ...d(P[5]!, 'refused', S + 10_100, 6), reason: 'unknown_type', detail: "task.assign has no contract in browser's registry" },
  ];
  // 40 messages shed unverified, summarized in one row
  const shed = eventToRow(
    AuditEvent.create({
      eventId: randomBytes(16),
      verifierId: 'v1',
      verifiedAtMs: S + 22_000,
      windowStartMs: S + 21_500,
      verdict: R,
      reason: Reason.REASON_REJECTION_BUDGET_EXCEEDED,
      subjectSender: 'browser',
      shedCount: 40,
    }),
  );
  return { rows, shed, deliveries };
}

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agentbus-report-html-'));
  store = await openStore(storeConfigSchema.parse({ url: join(dir, 'db') }));
  await store.migrate();
  const rows = [...dataset().map(auditEvent), malformedEvent('eve', T + 4 * MIN)].map(eventToRow);
  await store.insertRows(rows);
  await store.insertRows(rows); // a redelivery: nothing may double count
  await store.insertAlerts([
    alert('rejection_burst', 'high', ['mallory'], T + 6 * MIN, {
      rejected: 6,
      total: 6,
      ratio: 1,
      by_reason: { destination_not_allowed: 4, bad_signature: 2 },
      by_destination: { vault: 4, bob: 2 },
      threshold: 5,
    }),
    alert('signature_failure', 'critical', ['mallory'], T + 7 * MIN, { failures: 2, by_reason: { bad_signature: 2 }, threshold: 1, note: XSS_EVIDENCE }),
    alert('new_edge', 'low', ['alice', 'carol'], T + 3 * MIN, {
      new_edges: [{ destination: 'carol', first_seen: new Date(T + 138_000).toISOString(), events: 3, rejected: 1 }],
      rejected: 1,
    }),
  ]);
  data = await buildReportData(store, RANGE);

  const run = shortRun();
  await store.insertRows(run.rows);
  await store.insertRows(run.rows);
  await store.insertRows([run.shed]); // once: agg_shed_minute sums, a second copy would count its messages twice
  await store.insertDeliveries(run.deliveries);
  await store.insertDeliveries(run.deliveries); // stored twice: nothing may double count
  // detected: medium first, then critical, then high (neither time order is the severity order)
  await store.insertAlerts([
    alert('custom_probe', 'medium', [EVIL], S + 10_000, { msg_ids: [hex(P[0]!), hex(E1), 'not-a-msg-id'], score: 7 }, [S, S + 30_000]),
    alert('signature_failure', 'critical', ['browser'], S + 25_000, { failures: 2, by_reason: { bad_signature: 2 }, threshold: 1 }, [S, S + MIN]),
    alert(
      'rejection_burst',
      'high',
      ['browser'],
      S + 28_000,
      { rejected: 7, total: 7, ratio: 1, by_reason: { destination_not_allowed: 5, bad_signature: 2 }, threshold: 3 },
      [S, S + MIN],
    ),
  ]);
  short = await buildReportData(store, { ...SHORT, store: join(dir, 'db') });
});
test.after(async () => {
  await store?.close().catch(() => {});
  if (!process.env['REPORT_HTML_KEEP']) rmSync(dir, { recursive: true, force: true });
});

test('data - nodes, edges, time series, outcomes, rejections and alerts from the store', () => {
  assert.equal(
    data.nodes.map((n) => [n.id, n.kind, n.sent, n.rejected, n.received]),
    [
      ['alice', 'agent', 9, 1, 3],
      ['bob', 'agent', 3, 0, 8],
      ['carol', 'agent', 0, 0, 3],
      ['dave', 'agent', 8, 0, 0],
      ['eve', 'agent', 1, 1, 0],
      ['mallory', 'agent', 6, 6, 0],
      ['topic:news', 'topic', 0, 0, 8],
      ['vault', 'agent', 0, 0, 4],
    ],
  );
  assert.equal(
    data.edges.map((e) => [e.from, e.to, e.total, e.rejected]),
    [
      ['dave', 'topic:news', 8, 0],
      ['alice', 'bob', 6, 0],
      ['mallory', 'vault', 4, 4],
      ['alice', 'carol', 3, 1],
      ['bob', 'alice', 3, 0],
      ['mallory', 'bob', 2, 2],
    ],
  );
  assert.match(data.edges[0]!.first_seen, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(data.totals, { messages: 27, accepted: 18, rejected: 8, duplicate: 1, senders: 5, edges: 6, alerts: 3 });
  // no delivery records in this run: every accepted direct message is "no record"
  assert.equal(data.outcomes, {
    accepted: 18,
    delivered: 0,
    undelivered: 0,
    recipient_refused: 0,
    unrecorded: 10,
    broadcast: 8,
    rejected: 8,
    shed: 0,
    duplicate: 1,
  });
  // a 575-second run (T … T + 575 s): 10-second buckets, 58 of them
  const pm = data.per_bucket;
  assert.is(pm.bucket_seconds, 10);
  assert.is(pm.bucket_label, '10 s');
  assert.equal([pm.first, pm.last], [new Date(T).toISOString(), new Date(T + 575_000).toISOString()]);
  assert.is(pm.times[0], new Date(T).toISOString());
  assert.is(pm.times.length, 58);
  assert.is(pm.times[57], new Date(T + 570_000).toISOString());
  assert.equal(
    pm.series.map((s) => [s.sender, s.total]),
    [
      ['alice', 9],
      ['dave', 8],
      ['mallory', 6],
      ['bob', 3],
      ['eve', 1],
    ],
  );
  for (const s of pm.series)
    assert.is(
      s.counts.reduce((a, b) => a + b, 0),
      s.total,
      s.sender,
    );
  assert.equal(
    data.rejections.map((r) => [r.reason, r.count]),
    [
      ['destination_not_allowed', 4],
      ['bad_signature', 2],
      ['malformed', 1],
      ['type_not_allowed', 1],
    ],
  );
  assert.equal(data.rejections.find((r) => r.reason === 'type_not_allowed')!.details, [XSS_DETAIL]);
  assert.equal(
    data.alerts.map((a) => [a.rule, a.severity, a.agents]),
    [
      ['new_edge', 'low', ['alice', 'carol']],
      ['rejection_burst', 'high', ['mallory']],
      ['signature_failure', 'critical', ['mallory']],
    ],
  );
  assert.is(data.alerts[0]!.detected_at, new Date(T + 3 * MIN).toISOString());
  // evidence msg_ids: the rows each rule counted in the alert's window (the store has no msg_ids in evidence)
  const ids = (rule: string) => data.alerts.find((a) => a.rule === rule)!;
  const rowsOf = (pred: (s: EventSpec) => boolean) => dataset().filter(pred).length;
  assert.is(ids('rejection_burst').msg_ids.length, 4, 'mallory → vault (the two to bob are after the window)');
  assert.is(
    rowsOf((x) => x.from === 'mallory' && x.at >= T + MIN && x.at < T + 6 * MIN),
    4,
  );
  assert.is(ids('signature_failure').msg_ids.length, 2);
  assert.is(ids('new_edge').msg_ids.length, 2, 'alice → carol before T + 3 min');
  assert.is(data.trails.length, 8);
  for (const t of data.trails) assert.is(t.rows.length, 1, t.msg_id);
  assert.equal(
    data.trails.map((t) => t.rows[0]!.sender),
    ['mallory', 'mallory', 'mallory', 'mallory', 'mallory', 'mallory', 'alice', 'alice'],
    'critical first, then high, then low',
  );
});

test('data - long periods use coarser buckets; small limits fold senders into one series', async () => {
  const d = await buildReportData(store, { ...RANGE, maxBuckets: 3, maxSeries: 2 });
  assert.is(d.per_bucket.bucket_seconds, 300);
  assert.is(d.per_bucket.bucket_label, '5 min');
  const m0 = Math.floor(T / MIN); // 5-minute buckets start on multiples of 5 minutes
  assert.is(d.per_bucket.times.length, Math.floor((m0 + 9) / 5) - Math.floor(m0 / 5) + 1);
  assert.is(d.per_bucket.times[0], new Date(Math.floor(m0 / 5) * 5 * MIN).toISOString());
  assert.equal(
    d.per_bucket.series.map((s) => [s.sender, s.total]),
    [
      ['alice', 9],
      ['dave', 8],
      ['(other senders)', 10],
    ],
  );
  assert.is(
    d.per_bucket.series.flatMap((s) => s.counts).reduce((a, b) => a + b, 0),
    27,
  );
  const empty = await buildReportData(store, { since: T + 60 * MIN, until: T + 90 * MIN });
  assert.equal([empty.nodes, empty.edges, empty.per_bucket.series, empty.rejections, empty.alerts, empty.trails], [[], [], [], [], [], []]);
  assert.equal(empty.outcomes, {
    accepted: 0,
    delivered: 0,
    undelivered: 0,
    recipient_refused: 0,
    unrecorded: 0,
    broadcast: 0,
    rejected: 0,
    shed: 0,
    duplicate: 0,
  });
  assert.ok(renderHtmlReport(empty).includes('id="report-data"'));
});

test('page - pure, self-contained, the data cannot break out of its block', () => {
  const html = renderHtmlReport(data);
  assert.is(renderHtmlReport(data), html, 'same data, same page');
  // the template (everything but the data block) loads nothing
  const page = html.replace(/(<script type="application\/json" id="report-data">)[\s\S]*?(<\/script>)/, '$1$2');
  assert.ok(page.length < html.length);
  assert.not.match(page, /<(link|img|iframe|object|embed)\b/i);
  // links only within the page (#trail-…, #alert-…); nothing with a src
  const refs = [...page.matchAll(/<[a-z][^>]*\s(src|href)\s*=\s*"([^"]*)"/gi)].map((m) => [m[1], m[2]]);
  assert.ok(refs.length >= 16, `${refs.length} links: each evidence msg_id to its trail, each trail back to its alerts`);
  for (const [attr, v] of refs) assert.ok(attr === 'href' && /^#((trail|alert|refusal)-[0-9a-f]{32}|refusals)$/.test(v!), `${attr}=${v}`);
  assert.not.match(page, /\ssrc\s*=\s*["']?[a-z]/i);
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

test('buckets - the width fits the run: 1 s for a 30-s demo, 5 min for 3 h; at most 60 aligned buckets, never wider than needed', () => {
  assert.is(chooseBucketSeconds(30_000), 1);
  assert.is(chooseBucketSeconds(3 * 3600_000), 300);
  assert.is(chooseBucketSeconds(0), 1, 'one message');
  assert.is(chooseBucketSeconds(59_000), 1);
  assert.is(chooseBucketSeconds(60_000), 2, '61 one-second buckets would be too many');
  assert.is(chooseBucketSeconds(575_000), 10);
  assert.is(chooseBucketSeconds(24 * 3600_000), 1800);
  assert.is(chooseBucketSeconds(7 * 86_400_000), 10800);
  assert.is(chooseBucketSeconds(400 * 86_400_000), 7 * 86400, 'past the list: whole days');
  assert.is(chooseBucketSeconds(575_000, 3), 300);
  assert.equal([1, 10, 60, 300, 3600, 7200, 86400].map(bucketLabel), ['1 s', '10 s', '1 min', '5 min', '1 h', '2 h', '1 d']);
  // any span and any start: the aligned buckets the chart draws are at most 60, and the next narrower width would need more
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let k = 0; k < 2000; k++) {
    const span = Math.floor(rnd() ** 4 * 30 * 86_400_000),
      first = T + Math.floor(rnd() * 86_400_000),
      last = first + span;
    const b = chooseBucketSeconds(span) * 1000;
    const drawn = Math.floor(last / b) - Math.floor(first / b) + 1;
    assert.ok(drawn <= 60, `span ${span}: ${drawn} buckets of ${b / 1000} s`);
    const i = BUCKET_SECONDS.indexOf(b / 1000);
    if (i > 0) assert.ok(Math.ceil(span / (BUCKET_SECONDS[i - 1]! * 1000)) + 1 > 60, `span ${span}: ${BUCKET_SECONDS[i - 1]} s would do`);
  }
});

test('sentences - one per known rule from its evidence, a generic one otherwise', () => {
  const w = (ms: number) => ({ window_start: new Date(T).toISOString(), window_end: new Date(T + ms).toISOString() });
  const say = (rule: string, agents: string[], evidence: unknown, ms = 5 * MIN, severity = 'high') =>
    alertSentence({ rule, severity, agents, evidence, ...w(ms) });
  assert.is(
    say('rejection_burst', ['browser'], { rejected: 14, total: 15, by_reason: { destination_not_allowed: 12, type_not_allowed: 2 }, threshold: 10 }, MIN),
    'browser had 14 of 15 messages rejected in 1 min (threshold 10) — destination_not_allowed 12, type_not_allowed 2: rejection_burst',
  );
  assert.is(
    say('rejection_burst', ['browser'], { rejected: 14, threshold: 10 }, 30_000),
    'browser had 14 messages rejected in 30 s (threshold 10): rejection_burst',
  );
  assert.is(
    say('signature_failure', ['mallory'], { failures: 3, by_reason: { bad_signature: 2, replay: 1 }, threshold: 3 }),
    'mallory had 3 messages rejected for a signature, key or replay failure in 5 min (threshold 3) — bad_signature 2, replay 1: signature_failure',
  );
  assert.is(
    say('rate_spike', ['alice'], { events: 300, baseline_mean_per_window: 24, baseline_minutes: 60, ratio: 12.5, factor: 5 }),
    'alice sent 300 messages in 5 min, 12.5× its usual 24 per 5 min over the 60 min before (fires at 5×): rate_spike',
  );
  assert.is(
    say('new_edge', ['alice', 'carol'], { new_edges: [{ destination: 'carol', events: 3, rejected: 1 }], rejected: 1 }),
    'alice sent to a destination it had never sent to before, carol, in 5 min (1 attempt rejected): new_edge',
  );
  assert.is(
    say('new_edge', ['a'], { new_edges: ['b', 'c', 'd', 'e'].map((destination) => ({ destination })), rejected: 0 }),
    'a sent to 4 destinations it had never sent to before, b, c, d and 1 more, in 5 min: new_edge',
  );
  assert.is(
    say('fan_out', ['x'], { distinct_destinations: 24, previous_window_distinct: 3, new_destinations: [], threshold: 8 }, 60 * MIN),
    'x reached 24 distinct destinations in 1 h, against 3 in the 1 h before (threshold 8): fan_out',
  );
  assert.is(
    say('payload_loop', ['a', 'b', 'c'], { cycle: ['a', 'b', 'c'], hops: 3, repeats: 3, payload_sha256: ['ab'.repeat(32)], msg_ids: ['00'.repeat(16)] }),
    'A causal loop: a → b → c → a — the same message came round again after 3 hops (3 times in one chain), each caused by the one before; agents a, b and c: payload_loop',
  );
  assert.is(
    say('audit_dead_letter', [], { subject: 'agentbus.audit.accepted', streamSeq: 42, reason: 'not a SignedAuditBatch', dlq_stream: 'AUDIT_DLQ' }, 0),
    'A message on agentbus.audit.accepted (stream seq 42) was not a signed audit batch and went to the dead-letter stream AUDIT_DLQ: not a SignedAuditBatch: audit_dead_letter',
  );
  // unknown rule, or a known rule whose evidence lacks its fields: the generic sentence
  assert.is(
    say('custom_probe', ['p', 'q'], { score: 7, msg_ids: [] }, 30_000, 'medium'),
    'A medium alert about p and q over 30 s, its evidence holding score and msg_ids: custom_probe',
  );
  assert.is(say('rejection_burst', ['m'], { rejections: 2 }), 'A high alert about m over 5 min, its evidence holding rejections: rejection_burst');
  assert.is(say('toString', [], null), 'A high alert about no agent in particular over 5 min: toString', 'a rule named like an Object method is still unknown');
  // severity order: critical, high, medium, low, others; the latest first within one
  const a = (severity: string, at: number) => ({ severity, detected_at: new Date(at).toISOString(), alert_id: String(at) });
  assert.equal(
    [a('low', 1), a('weird', 2), a('critical', 3), a('medium', 4), a('high', 5), a('critical', 6)].sort(bySeverity).map((x) => x.alert_id),
    ['6', '3', '5', '4', '1', '2'],
  );
});

test('data - a 30-second run: 1-s buckets, delivered / undelivered / refused / shed, alerts by severity with evidence msg_ids and trails', async () => {
  const pm = short.per_bucket;
  assert.equal([pm.bucket_seconds, pm.bucket_label, pm.times.length], [1, '1 s', 31]);
  assert.equal([pm.times[0], pm.times[30]], [new Date(S).toISOString(), new Date(S + 30_000).toISOString()]);
  assert.is(pm.series.find((x) => x.sender === 'browser')!.counts[22], 40, 'the shed row counts as its 40 messages, in its own second');
  assert.is(
    pm.series.flatMap((x) => x.counts).reduce((a, b) => a + b, 0),
    short.totals.messages,
  );
  assert.equal(short.outcomes, {
    accepted: 10,
    delivered: 4,
    undelivered: 1,
    recipient_refused: 1,
    unrecorded: 2,
    broadcast: 2,
    rejected: 7,
    shed: 40,
    duplicate: 1,
  });
  const o = short.outcomes;
  assert.is(o.delivered + o.undelivered + o.recipient_refused + o.unrecorded + o.broadcast, o.accepted);
  assert.is(o.rejected + o.shed, short.totals.rejected, 'rejected + shed = the rejected count of the aggregates');
  assert.is(o.accepted, short.totals.accepted);

  assert.equal(
    short.alerts.map((a) => a.rule),
    ['custom_probe', 'signature_failure', 'rejection_burst'],
    'stored order: oldest first',
  );
  const by = (rule: string) => short.alerts.find((a) => a.rule === rule)!;
  assert.is(
    by('rejection_burst').sentence,
    'browser had 7 of 7 messages rejected in 1 min (threshold 3) — destination_not_allowed 5, bad_signature 2: rejection_burst',
  );
  assert.is(by('rejection_burst').msg_ids.length, 7, 'the shed row has no msg_id');
  assert.is(by('rejection_burst').msg_ids_total, 7);
  assert.is(by('signature_failure').msg_ids.length, 2);
  assert.equal(by('custom_probe').msg_ids, [hex(P[0]!), hex(E1)], 'the ids the evidence lists (a malformed one dropped)');
  assert.is(by('custom_probe').msg_ids_from, "msg_ids listed in the alert's evidence");
  // the trails: P0's own row and the message it caused; the bad-signature messages come first (critical)
  assert.equal(
    short.trails.slice(0, 2).map((t) => t.rows.map((r) => r.reason)),
    [['bad_signature'], ['bad_signature']],
  );
  const p0 = short.trails.find((t) => t.msg_id === hex(P[0]!))!;
  assert.equal(
    p0.rows.map((r) => [r.relation, r.sender, r.destination, r.verdict, r.msg_id]),
    [
      ['message', 'planner', 'browser', 'accepted', hex(P[0]!)],
      ['caused', 'browser', 'planner', 'accepted', hex(C1)],
    ],
  );
  assert.is(p0.rows[1]!.causation_id, hex(P[0]!));
  assert.equal(p0.alert_ids, [by('custom_probe').alert_id]);
  assert.is(short.trails.find((t) => t.msg_id === hex(E1))!.rows[0]!.type, EVIL_TYPE);
  assert.is(short.trails.length, 7 + 2 + 1, 'the bad-signature ids are evidence of two alerts, trailed once; then the refused message');
  assert.equal(short.trails.filter((t) => t.alert_ids.length === 2).length, 2);
  // the message its recipient refused: listed with the recipient's reason, and trailed
  assert.equal(short.refusals, [
    {
      msg_id: hex(P[5]!),
      at: new Date(S + 10_100).toISOString(),
      sender: 'planner',
      recipient: 'browser',
      type: 'task.assign',
      reason: 'unknown_type',
      detail: "task.assign has no contract in browser's registry",
      trail: true,
    },
  ]);
  assert.is(short.refusals.length, short.outcomes.recipient_refused, 'one listed message per refused outcome');
  const p5 = short.trails[short.trails.length - 1]!;
  assert.equal([p5.msg_id, p5.refused, p5.alert_ids], [hex(P[5]!), true, []]);
  assert.equal(
    p5.rows.map((r) => [r.relation, r.sender, r.destination, r.verdict, r.type]),
    [['message', 'planner', 'browser', 'accepted', 'task.assign']],
  );
  assert.is(short.trails.filter((t) => t.refused).length, 1);
  assert.equal(data.refusals, []);

  // the bounds: per alert, and for the page
  const few = await buildReportData(store, { ...SHORT, maxEvidencePerAlert: 3, maxTrails: 4, maxTrailRows: 1 });
  const fb = few.alerts.find((a) => a.rule === 'rejection_burst')!;
  assert.equal([fb.msg_ids.length, fb.msg_ids_total], [2, 7], 'critical took 2 of the 4 trails, high gets the other 2');
  assert.equal(few.alerts.find((a) => a.rule === 'custom_probe')!.msg_ids, [], 'nothing left for medium');
  assert.equal([few.trails.length, few.truncated.trails], [4, true]);
  const f0 = await buildReportData(store, { ...SHORT, maxEvidencePerAlert: 3 });
  assert.equal(f0.alerts.find((a) => a.rule === 'rejection_burst')!.msg_ids.length, 3);
  const p0few = (await buildReportData(store, { ...SHORT, maxTrailRows: 1 })).trails.find((t) => t.msg_id === hex(P[0]!))!;
  assert.equal([p0few.rows.length, p0few.truncated], [1, true]);
  assert.is(short.truncated.trails, false);
});

test('data - the counts add up: audit rows to messages (a shed row stands for its messages), messages to outcomes, whatever the limit', async () => {
  // the 10-minute run: 27 messages, 27 rows (the malformed one included), none shed
  assert.equal(data.rows, { rows: 27, shed_rows: 0, shed: 0, messages: 27 });
  // the 30-second run: 19 rows, one of them the shed row that stands for 40 messages
  assert.equal(short.rows, { rows: 19, shed_rows: 1, shed: 40, messages: 58 });
  for (const d of [data, short]) {
    const o = d.outcomes;
    assert.is(d.rows.messages, d.rows.rows - d.rows.shed_rows + d.rows.shed);
    assert.is(d.totals.messages, d.rows.messages, 'the messages figure is the rows, shed rows counted as their messages');
    assert.is(o.accepted + o.rejected + o.shed + o.duplicate, d.totals.messages, 'the outcomes add up to the messages');
    assert.is(o.delivered + o.undelivered + o.recipient_refused + o.unrecorded + o.broadcast, o.accepted);
    assert.equal([o.accepted, o.rejected + o.shed, o.duplicate], [d.totals.accepted, d.totals.rejected, d.totals.duplicate]);
    assert.is(
      d.per_bucket.series.flatMap((x) => x.counts).reduce((a, b) => a + b, 0),
      d.totals.messages,
    );
  }
  // the lists stop at --limit; the totals do not
  const one = await buildReportData(store, { ...RANGE, limit: 1 });
  assert.equal([one.talkers.length, one.edges.length, one.truncated.talkers, one.truncated.edges], [1, 1, true, true]);
  assert.equal(one.totals, data.totals);
  assert.equal([one.rows, one.outcomes], [data.rows, data.outcomes]);
  // the page says how they add up, with the same numbers
  const counts = /<p class="note counts" id="counts" data-rows="(\d+)" data-shed-rows="(\d+)" data-shed="(\d+)" data-messages="(\d+)">([^<]*)<\/p>/.exec(
    renderHtmlReport(short),
  );
  assert.ok(counts, 'the counts line');
  assert.equal(counts.slice(1, 5).map(Number), [19, 1, 40, 58]);
  assert.is(
    counts[5],
    '58 messages in 19 audit rows: a row is one message, but 1 shed row stands for the 40 messages shed unverified (19 − 1 + 40 = 58); 10 accepted (4 delivered + 1 undelivered + 1 refused by the recipient + 2 no delivery record + 2 broadcast) + 7 rejected + 40 shed + 1 duplicate = 58. Every count on this page is of the period above.',
  );
  assert.match(
    renderHtmlReport(data),
    /<p class="note counts"[^>]*>27 messages in 27 audit rows, one row each; 18 accepted \(10 no delivery record \+ 8 broadcast\) \+ 8 rejected \+ 0 shed \+ 1 duplicate = 27\./,
  );
});

/** The static parts of a page, in order: what each alert card and trail section holds. */
function articles(html: string, cls: string): string[] {
  return [...html.matchAll(new RegExp(`<article class="${cls}\\b[\\s\\S]*?</article>`, 'g'))].map((m) => m[0]);
}

test('page - outcome counts at the top, alerts by severity with a sentence, evidence ids linked to trail sections on the page, text escaped', () => {
  const html = renderHtmlReport(short);
  // outcomes, in the header, before the alerts
  const outcome = (k: string) =>
    Number(new RegExp(`<div class="outcome outcome-${k}" data-outcome="${k}" data-count="(\\d+)"[^>]*><b>(\\d+)</b>`).exec(html)?.[2]);
  assert.equal(
    ['delivered', 'undelivered', 'recipient_refused', 'unrecorded', 'broadcast', 'rejected', 'shed', 'duplicate'].map(outcome),
    [4, 1, 1, 2, 2, 7, 40, 1],
  );
  assert.ok(html.indexOf('id="outcomes"') < html.indexOf('id="alert-list"'));
  // alerts: critical, high, medium (detected medium, critical, high)
  const cards = articles(html, 'alert-item');
  assert.equal(
    cards.map((c) => /data-severity="([^"]*)"/.exec(c)![1]),
    ['critical', 'high', 'medium'],
  );
  assert.equal(
    [...html.matchAll(/<div class="sev-group" data-severity="([^"]*)">/g)].map((m) => m[1]),
    ['critical', 'high', 'medium'],
  );
  assert.ok(
    cards[1]!.includes(
      '<p class="sentence">browser had 7 of 7 messages rejected in 1 min (threshold 3) — destination_not_allowed 5, bad_signature 2: rejection_burst</p>',
    ),
  );
  for (const c of cards) assert.match(c, /<p class="sentence">[^<]{20,}: [a-z_]+<\/p>/);
  // every evidence id links to a trail section of this page, which has its rows; the CLI command is next to it
  const trailIds = new Set(articles(html, 'trail').map((t) => /id="trail-([0-9a-f]{32})"/.exec(t)![1]));
  assert.is(trailIds.size, 10);
  for (const c of cards) {
    const links = [...c.matchAll(/<a class="trail-link" href="#trail-([0-9a-f]{32})"><code>\1<\/code><\/a> <code class="cmd">([^<]*)<\/code>/g)];
    assert.is(links.length, /data-rule="custom_probe"/.test(c) ? 2 : /data-rule="rejection_burst"/.test(c) ? 7 : 2);
    for (const [, id, cmd] of links) {
      assert.ok(trailIds.has(id!), `#trail-${id} exists`);
      assert.is(cmd, escapeHtml(`agentbus audit trail --msg-id ${id} --store ${join(dir, 'db')}`));
    }
  }
  const p0 = articles(html, 'trail').find((t) => t.includes(`id="trail-${hex(P[0]!)}"`))!;
  assert.equal(
    [...p0.matchAll(/<tr class="trail-row" data-relation="([a-z]+)" data-verdict="([a-z]+)" data-msg-id="([0-9a-f]+)">/g)].map((m) => [m[1], m[2], m[3]]),
    [
      ['message', 'accepted', hex(P[0]!)],
      ['caused', 'accepted', hex(C1)],
    ],
  );
  assert.ok(
    p0.includes('<td>planner → browser</td><td>task.assign</td><td class="num">0</td><td></td>'),
    'time, verdict, reason, sender → recipient, type, depth, causation',
  );
  assert.ok(p0.includes(`<td>browser → planner</td><td>task.result</td><td class="num">0</td><td><code>${hex(P[0]!)}</code></td>`));
  assert.match(p0, new RegExp(`evidence of <a href="#alert-${short.alerts.find((a) => a.rule === 'custom_probe')!.alert_id}">custom_probe \\(medium\\)</a>`));
  // HTML in an agent id and a type: text, never markup; only the page's two scripts
  assert.is(html.match(/<script\b/gi)!.length, 2);
  assert.not.match(html, /<img\b/i);
  assert.ok(cards[2]!.includes(`agents ${escapeHtml(EVIL)}`), 'the agent id, escaped');
  assert.ok(
    cards[2]!.includes(`<p class="sentence">A medium alert about ${escapeHtml(EVIL)} over 30 s, its evidence holding msg_ids and score: custom_probe</p>`),
  );
  const evil = articles(html, 'trail').find((t) => t.includes(`id="trail-${hex(E1)}"`))!;
  assert.ok(evil.includes(`<td>${escapeHtml(`${EVIL} → browser`)}</td><td>${escapeHtml(EVIL_TYPE)}</td>`), 'sender and type, escaped');
  assert.is(escapeHtml(EVIL), '&lt;script&gt;document.body.dataset.pwned=&#39;agent&#39;&lt;/script&gt;');
  // the refused message: a row with the recipient's reason, linked to its trail, which links back
  const refusals = /<section id="refusals" class="wide">([\s\S]*?)<\/section>/.exec(html)![1]!;
  const rrows = [...refusals.matchAll(/<tr class="refusal-row" id="refusal-([0-9a-f]{32})" data-msg-id="\1" data-reason="([^"]*)">([\s\S]*?)<\/tr>/g)];
  assert.equal(
    rrows.map((m) => [m[1], m[2]]),
    [[hex(P[5]!), 'unknown_type']],
  );
  assert.ok(rrows[0]![3]!.includes(`<a class="trail-link" href="#trail-${hex(P[5]!)}"><code>${hex(P[5]!)}</code></a>`), 'linked to its trail');
  assert.ok(rrows[0]![3]!.includes('<td>planner → browser</td><td>task.assign</td>'), 'sender → recipient, type');
  assert.ok(
    rrows[0]![3]!.includes(`<b>unknown_type</b>: ${escapeHtml("task.assign has no contract in browser's registry")}`),
    "the recipient's reason and detail",
  );
  assert.ok(rrows[0]![3]!.includes(escapeHtml(`agentbus audit trail --msg-id ${hex(P[5]!)} --store ${join(dir, 'db')}`)));
  assert.ok(trailIds.has(hex(P[5]!)));
  const p5 = articles(html, 'trail').find((t) => t.includes(`id="trail-${hex(P[5]!)}"`))!;
  assert.ok(p5.includes(`<a href="#refusal-${hex(P[5]!)}">refused by the recipient</a>`), 'the trail links back to the refusal');
  assert.match(
    html,
    /data-outcome="recipient_refused" data-count="1"[^>]*><b>1<\/b><a href="#refusals">refused by the recipient<\/a>/,
    'the tile links to the list',
  );
  assert.match(renderHtmlReport(data), /<section id="refusals" class="wide"><h2>Refused by the recipient<\/h2>\n<p class="empty">No message was refused/);
  // the trail command names the store the report read: --store, else --state-dir, else none (the default)
  assert.is(trailCommand({ store: '', database: 'agentbus' }, 'ab'), 'agentbus audit trail --msg-id ab');
  assert.is(
    trailCommand({ store: '', state_dir: '/p/.agentbus/dev', database: 'agentbus' }, 'ab'),
    'agentbus audit trail --msg-id ab --state-dir /p/.agentbus/dev',
  );
  assert.ok(!renderHtmlReport(data).includes('--store'), 'a report of the default store names none');
  assert.ok(!renderHtmlReport(data).includes('<store>'));
  // the trail command quotes what a shell would split, names a non-default database, drops URL credentials
  assert.is(trailCommand({ store: '/tmp/my store', database: 'agentbus' }, 'ab'), `agentbus audit trail --msg-id ab --store '/tmp/my store'`);
  assert.is(
    trailCommand({ store: 'https://u:p@ch.example:8443', database: 'audit2' }, 'ab'),
    'agentbus audit trail --msg-id ab --store https://ch.example:8443 --database audit2',
  );
});

function chromium(args: string[], profile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      CHROMIUM,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--no-default-browser-check',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-extensions',
        '--disable-dev-shm-usage',
        '--hide-scrollbars',
        `--user-data-dir=${profile}`,
        '--virtual-time-budget=5000',
        ...args,
      ],
      { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => (err ? reject(new Error(`chromium failed: ${err.message}\n${stderr}`)) : resolve(stdout)),
    );
  });
}

const count = (html: string, re: RegExp) => (html.match(re) ?? []).length;

test('browser - the page draws in headless Chromium: graph and its legend, time series, rejection bars, alerts; data is text', async () => {
  assert.ok(
    existsSync(CHROMIUM),
    `Chromium not found at ${CHROMIUM}: this test renders the report in a real browser; install it (Debian: apt-get install -y chromium) or set CHROMIUM=/path/to/chromium`,
  );
  const file = join(dir, 'report.html');
  const summary = await writeHtmlReport(store, file, RANGE);
  assert.equal({ ...summary, bytes: 0 }, { file, bytes: 0, nodes: 8, edges: 6, rejected_edges: 3, series: 5, reasons: 4, alerts: 3, trails: 8 });
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
  const width = (from: string, to: string) =>
    Number(
      new RegExp(`data-from="${from}" data-to="${to}"[^>]*>(?:<title>[^<]*</title>)?<path class="edge-line" d="[^"]*" stroke-width="([\\d.]+)"`).exec(dom)?.[1],
    );
  assert.ok(
    width('dave', 'topic:news') > width('alice', 'bob') && width('alice', 'bob') > width('mallory', 'bob'),
    `${width('dave', 'topic:news')} ${width('alice', 'bob')} ${width('mallory', 'bob')}`,
  );
  // the graph's legend says what node size, line width, colour and marks mean
  const legend = /<div class="legend graph-legend">([\s\S]*?)<\/div>/.exec(dom)?.[1] ?? '';
  assert.equal(
    [...legend.matchAll(/data-legend="([a-z-]+)"/g)].map((m) => m[1]),
    ['node-size', 'edge-width', 'edge-rejected', 'edge-all-rejected', 'agent', 'topic', 'has-rejected'],
  );
  assert.match(
    legend,
    /node size = messages sent \+ received, all verdicts \(area grows with the count; smallest 0, largest 12\)/,
    'alice: 9 sent + 3 received',
  );
  assert.match(legend, /<span class="node-size" data-legend="node-size"><svg[^>]*><circle[^>]*r="([\d.]+)"[^>]*><\/circle><circle[^>]*r="([\d.]+)"/);
  // node radius grows with sent + received (what the legend says)
  const radius = (id: string) =>
    Number(new RegExp(`<g class="node [^"]*" data-id="${id}"[^>]*>(?:<title>[^<]*</title>)?<circle[^>]*r="([\\d.]+)"`).exec(dom)?.[1]);
  assert.ok(
    radius('alice') > radius('vault') && radius('vault') > radius('carol') && radius('carol') > radius('eve'),
    `${radius('alice')} ${radius('vault')} ${radius('carol')} ${radius('eve')}`,
  );
  // time chart: 10-second buckets for this 575-second run; one series per sender, 58 points each
  assert.match(dom, /<section id="per-bucket" class="wide"><h2>Messages per 10 s per sender<\/h2>/);
  assert.match(dom, /<svg [^>]*data-bucket-seconds="10"/);
  assert.ok(dom.includes('msgs / 10 s') && dom.includes('one point per 10 s bucket'));
  const series = [...dom.matchAll(/<polyline class="series" points="([^"]*)"[^>]*data-sender="([^"]*)"/g)];
  assert.equal(
    series.map((m) => m[2]),
    ['alice', 'dave', 'mallory', 'bob', 'eve'],
  );
  for (const m of series) assert.is(m[1]!.split(' ').length, 58);
  // rejections: 4 bars, the longest first
  assert.equal(
    [...dom.matchAll(/<g class="bar" data-reason="([^"]*)" data-count="(\d+)"/g)].map((m) => [m[1], Number(m[2])]),
    [
      ['destination_not_allowed', 4],
      ['bad_signature', 2],
      ['malformed', 1],
      ['type_not_allowed', 1],
    ],
  );
  // alerts: 3 marks on the timeline (one lane per rule) and 3 table rows
  assert.is(count(dom, /<g class="alert\b/g), 3);
  assert.is(count(dom, /<g class="lane\b/g), 3);
  assert.is(count(dom, /<tr class="alert-row"/g), 3);
  assert.ok(
    dom.includes('<td>mallory had 6 of 6 messages rejected in 5 min (threshold 5) — destination_not_allowed 4, bad_signature 2: rejection_burst</td>'),
    'the sentence in the alerts table',
  );
  assert.match(dom, /<g class="alert sev-critical" data-rule="signature_failure" data-severity="critical" data-agents="mallory"/);

  // XSS: the strings are in the DOM as text; no element came from them and nothing ran
  assert.is(count(dom, /<script\b/gi), 2, 'only the page’s own two script elements');
  assert.not.match(dom, /<img\b/i);
  assert.not.match(dom, /data-pwned/);
  assert.ok(
    dom.includes('&lt;img src=x onerror="document.body.dataset.pwned=\'detail\'"&gt;&lt;script&gt;alert(1)&lt;/script&gt;'),
    'the detail is shown as text',
  );
  assert.ok(
    dom.includes("&lt;/script&gt;&lt;script&gt;document.body.dataset.pwned='evidence'&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"),
    'the evidence is shown as text',
  );

  // a screenshot of the whole page (look at it: REPORT_HTML_SCREENSHOT=/path.png keeps a copy)
  const png = join(dir, 'report.png');
  await chromium([`--screenshot=${png}`, '--window-size=1400,1800', url], join(dir, 'profile-shot'));
  assert.ok(existsSync(png) && statSync(png).size > 20_000, 'a screenshot with content');
  assert.equal([...readFileSync(png).subarray(1, 4)], [0x50, 0x4e, 0x47]);
  if (process.env['REPORT_HTML_SCREENSHOT']) copyFileSync(png, process.env['REPORT_HTML_SCREENSHOT']);
});

test('browser - a 30-second run: 1-s buckets with seconds on the axis, the alerts and trails in the DOM, an HTML agent id and type stay text', async () => {
  const file = join(dir, 'short.html');
  await writeHtmlReport(store, file, { ...SHORT, store: join(dir, 'db') });
  const url = pathToFileURL(file).href;
  const dom = await chromium(['--dump-dom', `${url}#trail-${hex(E1)}`], join(dir, 'profile-short'));
  assert.match(dom, /<body[^>]*data-rendered="1"/);
  assert.match(dom, /<h2>Messages per 1 s per sender<\/h2>/);
  assert.match(dom, /<svg [^>]*data-bucket-seconds="1"/);
  for (const m of dom.matchAll(/<polyline class="series" points="([^"]*)"/g)) assert.is(m[1]!.split(' ').length, 31);
  const ticks = [...dom.matchAll(/<text x="[\d.]+" y="\d+" text-anchor="[a-z]+">(\d\d:\d\d(?::\d\d)?)<\/text>/g)].map((m) => m[1]!);
  const hms = (ms: number) => new Date(ms).toISOString().slice(11, 19);
  assert.ok(ticks.includes(hms(S)) && ticks.includes(hms(S + 30_000)), `ticks with seconds: ${ticks.join(' ')}`);
  // the static parts are in the DOM as written: alerts by severity, the trail anchors
  assert.equal(
    [...dom.matchAll(/<article class="alert-item [^"]*" id="alert-[0-9a-f]+" data-alert-id="[0-9a-f]+" data-rule="[^"]*" data-severity="([a-z]+)"/g)].map(
      (m) => m[1],
    ),
    ['critical', 'high', 'medium'],
  );
  assert.ok(dom.includes(`<article class="trail" id="trail-${hex(E1)}"`));
  assert.is(count(dom, /<article class="trail"/g), 10);
  // nothing from the data ran or became an element
  assert.is(count(dom, /<script\b/gi), 2);
  assert.not.match(dom, /<img\b/i);
  assert.not.match(dom, /data-pwned/);
  assert.ok(dom.includes(`data-id="${escapeHtml(EVIL).replace(/&#39;/g, "'")}"`), 'the HTML agent id is a graph node, as an attribute value');
  assert.ok(
    dom.includes(
      `<td>${escapeHtml(EVIL_TYPE)
        .replace(/&#39;/g, "'")
        .replace(/&quot;/g, '"')}</td>`,
    ),
    'the HTML type is table text',
  );
});

/** The demo's graph (agentbus demo, 22 edges among 10 agents), and a graph of 31 nodes and 75 edges (radial names). */
const DEMO_EDGES: [string, string, number, number][] = [
  ['browser', 'researcher', 46, 39],
  ['researcher', 'browser', 7, 0],
  ['planner', 'deployer', 4, 1],
  ['browser', 'fs', 3, 3],
  ['browser', 'memory', 3, 3],
  ['coder', 'reviewer', 3, 0],
  ['memory', 'planner', 3, 0],
  ['planner', 'coder', 3, 0],
  ['planner', 'memory', 3, 0],
  ['planner', 'researcher', 3, 0],
  ['researcher', 'fs', 3, 0],
  ['researcher', 'planner', 3, 0],
  ['reviewer', 'planner', 3, 0],
  ['fs', 'researcher', 2, 0],
  ['browser', 'coder', 1, 1],
  ['browser', 'deployer', 1, 1],
  ['browser', 'fetch', 1, 1],
  ['fetch', 'researcher', 1, 0],
  ['memory', 'researcher', 1, 0],
  ['operator', 'fs', 1, 0],
  ['researcher', 'fetch', 1, 0],
  ['researcher', 'memory', 1, 0],
];
function graphData(edges: [string, string, number, number][]): ReportData {
  const nodes = new Map<string, ReportData['nodes'][number]>();
  const node = (id: string) => {
    let n = nodes.get(id);
    if (!n) nodes.set(id, (n = { id, kind: id.startsWith('topic:') ? 'topic' : 'agent', sent: 0, rejected: 0, received: 0 }));
    return n;
  };
  for (const [from, to, total, rejected] of edges) {
    Object.assign(node(from), { sent: node(from).sent + total, rejected: node(from).rejected + rejected });
    node(to).received += total;
  }
  const at = new Date(S).toISOString();
  return {
    ...short,
    nodes: [...nodes.values()].sort((a, b) => (a.id < b.id ? -1 : 1)),
    edges: edges.map(([from, to, total, rejected]) => ({ from, to, total, accepted: total - rejected, rejected, first_seen: at, last_seen: at })),
  };
}
function manyEdges(): [string, string, number, number][] {
  const ids = Array.from({ length: 30 }, (_, i) => `worker-${String(i).padStart(2, '0')}`);
  const out: [string, string, number, number][] = [];
  ids.forEach((id, i) => {
    out.push([id, ids[(i + 1) % 30]!, 10 + ((i * 37) % 900), i % 4 === 0 ? 1 + (i % 7) : 0]);
    out.push([id, ids[(i * 7 + 3) % 30]!, 1 + ((i * 13) % 40), i % 5 === 0 ? 2 : 0]);
    if (i % 2 === 0) out.push([id, 'topic:news', 5 + i, 0]);
  });
  return out;
}

type Box = [number, number, number, number];
/** Two boxes share area (touching edges do not count). */
const intersects = (a: Box, b: Box) => a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3];
const boxOf = (attrs: string): Box => {
  const m = /data-bbox="([-\d.]+) ([-\d.]+) ([\d.]+) ([\d.]+)"/.exec(attrs);
  assert.ok(m, `a data-bbox in ${attrs.slice(0, 200)}`);
  return [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])];
};

test('browser - edge labels overlap no other label, node or node name (boxes measured by Chromium after layout)', async () => {
  assert.ok(intersects([0, 0, 10, 10], [9, 9, 10, 10]) && !intersects([0, 0, 10, 10], [10, 0, 10, 10]), 'the check itself');
  for (const [name, edges, everyLabel] of [
    ['demo', DEMO_EDGES, true],
    ['many', manyEdges(), false],
  ] as const) {
    const file = join(dir, `graph-${name}.html`);
    writeFileSync(file, renderHtmlReport(graphData([...edges])));
    const dom = await chromium(['--dump-dom', pathToFileURL(file).href], join(dir, `profile-graph-${name}`));
    assert.match(dom, /<body[^>]*data-rendered="1"/, name);
    const svg = /<section id="graph"[^>]*>[\s\S]*?<svg [^>]*data-edge-labels="(\d+)" data-edge-labels-omitted="(\d+)"[^>]*>([\s\S]*?)<\/svg>/.exec(dom);
    assert.ok(svg, `${name}: the graph's svg`);
    const [placed, omitted] = [Number(svg[1]), Number(svg[2])];
    const body = svg[3]!;
    // every edge with a label (all of them up to 60 edges, else those with rejected attempts) is placed or counted as left out
    const labelled = edges.length <= 60 ? edges.length : edges.filter((e) => e[3] > 0).length;
    assert.is(placed + omitted, labelled, name);
    if (everyLabel) assert.is(omitted, 0, `${name}: every edge keeps its label`);
    else assert.ok(placed >= labelled * 0.8, `${name}: ${placed} of ${labelled} labels placed`);
    if (omitted) assert.match(dom, new RegExp(`${omitted} edge labels? (is|are) left out where no free place was found`));
    const labels = [...body.matchAll(/<g class="elabel[^"]*" data-from="([^"]*)" data-to="([^"]*)"([^>]*)>/g)].map((m) => ({
      edge: `${m[1]} → ${m[2]}`,
      box: boxOf(m[3]!),
    }));
    assert.is(labels.length, placed, name);
    const nodes = [...body.matchAll(/<(?:circle|rect|text class="label")[^>]*data-bbox="[^"]*"[^>]*>/g)].map((m) => boxOf(m[0]));
    assert.is(nodes.length, 2 * new Set(edges.flatMap((e) => [e[0], e[1]])).size, `${name}: each node's shape and name`);
    for (const [i, a] of labels.entries()) {
      assert.ok(a.box[2] > 4 && a.box[3] > 4, `${name}: ${a.edge} has a measured box`);
      for (const b of labels.slice(i + 1)) assert.not.ok(intersects(a.box, b.box), `${name}: the labels of ${a.edge} and ${b.edge} overlap`);
      for (const n of nodes) assert.not.ok(intersects(a.box, n), `${name}: the label of ${a.edge} covers a node or its name at ${n.join(' ')}`);
    }
  }
});

test('cli - audit report --html FILE writes the page; bad arguments exit 2', async () => {
  await store.close(); // one process at a time on a chDB data directory
  const out = join(dir, 'cli-report.html');
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, cliArgs('audit', 'report', '--store', join(dir, 'db'), ...args), { encoding: 'utf8', timeout: 120_000 });
  const r = cli('--html', out, '--since', new Date(RANGE.since).toISOString(), '--until', new Date(RANGE.until).toISOString(), '--json');
  assert.is(r.status, 0, r.stderr);
  assert.equal(
    { ...JSON.parse(r.stdout), bytes: 0 },
    { file: out, bytes: 0, nodes: 8, edges: 6, rejected_edges: 3, series: 5, reasons: 4, alerts: 3, trails: 8 },
  );
  const page = readFileSync(out, 'utf8');
  assert.match(page, /^<!DOCTYPE html>/);
  assert.ok(
    page.includes(`<code class="cmd">agentbus audit trail --msg-id ${data.trails[0]!.msg_id} --store ${join(dir, 'db')}</code>`),
    'the commands name the --store given',
  );
  // a relative --store: the commands name it absolute (they may be run from anywhere)
  const rel = spawnSync(
    process.execPath,
    cliArgs(
      'audit',
      'report',
      '--store',
      'db',
      '--html',
      'rel.html',
      '--since',
      new Date(RANGE.since).toISOString(),
      '--until',
      new Date(RANGE.until).toISOString(),
    ),
    { encoding: 'utf8', timeout: 120_000, cwd: dir },
  );
  assert.is(rel.status, 0, rel.stderr);
  const relPage = readFileSync(join(dir, 'rel.html'), 'utf8');
  assert.ok(relPage.includes(`--msg-id ${data.trails[0]!.msg_id} --store ${join(dir, 'db')}</code>`), 'the store made absolute');
  assert.not.ok(relPage.includes('&lt;store&gt;'));
  assert.is(cli().status, 2, 'no --html');
  assert.is(cli('--html', out, '--since', 'yesterday-ish').status, 2);
  assert.is(cli('--html', out, '--since', '1h', '--until', '2h').status, 2);
});

test.run();
