// Audit completeness and tamper evidence (docs/design.md §9, §10), on a real nats-server and chDB:
// hostile header values and broken events each become exactly one row without holding up
// their batch; undecodable messages land in the durable dead-letter stream with an alert; and
// `audit verify` finds every kind of change to the stored trail — every column of accepted and
// rejected rows, inserted, duplicated and deleted rows, deleted batches — offline from a bundle
// too, with the exit codes docs/audit.md states.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import protobuf from 'protobufjs/minimal.js';
import { startNatsServer } from './helpers/nats-server.js';
import type { NatsServerHandle } from './helpers/nats-server.js';
import { agent, auditEvent, ensureAuditStream, fixtureVerifierKey, Reason, Verdict } from './helpers/audit-fixtures.js';
import { ChainSealer } from '../packages/server/src/common/audit-chain.js';
import { AuditEvent, Delivery } from '../packages/protocol/src/proto.js';
import type { IAuditEvent, IDeliveryRecord } from '../packages/protocol/src/proto.js';
import { openStore } from '../packages/server/src/auditor/store.js';
import type { AuditStore } from '../packages/server/src/auditor/store.js';
import { storeConfigSchema } from '../packages/server/src/auditor/config.js';
import { startAuditConsumer, DLQ_STREAM } from '../packages/server/src/auditor/consumer.js';
import { startAuditor } from '../packages/server/src/auditor/service.js';
import { ROW_COLUMNS, checkEvidence, readEvidence, verifyStore, lookupFromManifests, verifierKeyMap } from '../packages/server/src/auditor/verify.js';
import type { TrustedKeys, Finding } from '../packages/server/src/auditor/verify.js';
import type { AuditRow } from '../packages/server/src/auditor/rows.js';
import { toHex } from '../packages/protocol/src/envelope.js';
import { cliArgs } from './helpers/cli-bin.js';

let server: NatsServerHandle;
let nc: NatsConnection;
let dir: string;
const FAST = { batchMaxWaitMs: 1000, ackWaitMs: 3000, backoffInitialMs: 50, backoffMaxMs: 400 };
const now = Date.now();

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agentbus-integrity-'));
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});
test.after(async () => {
  await nc?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A new AUDIT stream, and a new verifier chain for it (as a verifier process starting afresh). */
async function resetStream(): Promise<void> {
  chain = new ChainSealer('v1', fixtureVerifierKey);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete('AUDIT').catch(() => {});
  await jsm.consumers.delete('AUDIT', 'auditor').catch(() => {});
  await ensureAuditStream(nc);
}

async function freshStore(name: string): Promise<{ store: AuditStore; path: string }> {
  const path = join(dir, name);
  const store = await openStore(storeConfigSchema.parse({ url: path }));
  await store.migrate();
  return { store, path };
}

/** Publish events (and delivery records) as the verifier does: one signed link of the fixture chain per call. */
let chain = new ChainSealer('v1', fixtureVerifierKey);
async function publishSigned(events: IAuditEvent[], deliveries: IDeliveryRecord[] = [], subject = 'agentbus.audit.accepted'): Promise<void> {
  const b = chain.seal(events, deliveries);
  await jetstream(nc).publish(subject, b.data, { msgID: b.msgId });
}

async function waitFor(cond: () => boolean | Promise<boolean>, ms = 20_000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const rawCount = async (s: AuditStore, table = 'audit_events') => Number((await s.query<{ n: number }>(`SELECT count() AS n FROM ${s.table(table)}`))[0]!.n);

/** Header bytes written field by field, so any value a hostile sender could sign is possible. */
function rawHeader(fields: {
  sender?: string;
  keyId?: string;
  recipient?: Uint8Array | string;
  type?: Uint8Array | string;
  sentAt?: number | 'max';
  msgId?: Uint8Array;
  metadata?: [string, string][];
}): Uint8Array {
  const w = protobuf.Writer.create();
  const str = (tag: number, v: Uint8Array | string | undefined) => {
    if (v === undefined) return;
    w.uint32((tag << 3) | 2);
    if (typeof v === 'string') w.string(v);
    else w.bytes(v);
  };
  str(1, fields.sender ?? 'mallory');
  str(2, fields.keyId ?? agent('mallory').currentKey().keyId);
  str(3, fields.recipient ?? 'bob');
  str(5, fields.type ?? 'task.assign');
  w.uint32((6 << 3) | 2).bytes(fields.msgId ?? randomBytes(16));
  if (typeof fields.sentAt === 'number') w.uint32(7 << 3).uint64(fields.sentAt);
  w.uint32((8 << 3) | 2).bytes(randomBytes(32));
  for (const [k, v] of fields.metadata ?? []) {
    w.uint32((14 << 3) | 2)
      .fork()
      .uint32((1 << 3) | 2)
      .string(k)
      .uint32((2 << 3) | 2)
      .string(v)
      .ldelim();
  }
  // 2^64 - 1 as a raw varint (protobufjs numbers lose it): a timestamp no Date can hold
  return fields.sentAt === 'max' ? Buffer.concat([w.finish(), Buffer.from([0x38, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])]) : w.finish();
}

function hostileEvent(header: Uint8Array, over: Partial<IAuditEvent> = {}): IAuditEvent {
  return AuditEvent.create({
    eventId: randomBytes(16),
    verifierId: 'v1',
    verifiedAtMs: now,
    verdict: Verdict.VERDICT_REJECTED,
    reason: Reason.REASON_MALFORMED,
    detail: 'header: bad',
    subjectSender: 'mallory',
    header,
    signature: randomBytes(64),
    payloadSize: 3,
    payloadSha256: randomBytes(32),
    ...over,
  });
}

test('audit - hostile header values and broken events each become one row, and the consumer keeps storing', async () => {
  await resetStream();
  const { store } = await freshStore('hostile');
  const lone = new Uint8Array([0x62, 0xed, 0xa0, 0x80]); // "b" + an encoded lone surrogate (U+D800)
  const hostile: IAuditEvent[] = [
    hostileEvent(rawHeader({ sentAt: 'max' })), // no Date holds it
    hostileEvent(rawHeader({ sentAt: 8.64e15 + 1 })), // just past Date's range
    hostileEvent(rawHeader({ recipient: lone })), // malformed recipient
    hostileEvent(rawHeader({ type: new Uint8Array([0xff, 0xfe, 0x00, 0x41]) })), // malformed type
    hostileEvent(rawHeader({ metadata: [[String.fromCharCode(0xd800), 'x'.repeat(5000)]] })),
    hostileEvent(randomBytes(40)), // undecodable header
    hostileEvent(new Uint8Array(0), { eventId: randomBytes(5) }), // event id of the wrong length
    hostileEvent(new Uint8Array(0), { verifiedAtMs: (2 ** 60) as never, reason: 9999 as Reason, verdict: 77 as Verdict }), // absurd time, unknown enums
  ];
  const legit = Array.from({ length: 20 }, (_, i) => auditEvent({ from: `agent${i % 3}`, to: 'bob', at: now - 1000 + i }));
  // hostile events mixed into the same batches as other agents' events
  await publishSigned([...legit.slice(0, 10), ...hostile.slice(0, 4)], [], 'agentbus.audit.rejected');
  await publishSigned([...hostile.slice(4), ...legit.slice(10)], [], 'agentbus.audit.rejected');
  const c = await startAuditConsumer({ nc, sink: store, config: FAST });
  try {
    await waitFor(async () => (await rawCount(store)) >= 28, 20_000, 'every row');
    // ... and the consumer is not stuck: later traffic is stored too
    const later = Array.from({ length: 5 }, (_, i) => auditEvent({ from: 'agent0', to: 'bob', at: now + i }));
    await publishSigned(later);
    await waitFor(async () => (await rawCount(store)) >= 33, 20_000, 'later rows');
    assert.is(await rawCount(store), 33, 'exactly one row per event');
    assert.is(c.stats().poison, 0, 'nothing dead-lettered');
    const rows = await store.query<{ malformed: string; sent_at: string; time: string; verdict: string; reason: string; recipient: string }>(
      `SELECT malformed, toString(sent_at) AS sent_at, toString(time) AS time, verdict, reason, recipient FROM ${store.table('audit_events')} WHERE subject_sender = 'mallory' ORDER BY batch_id, batch_pos`,
    );
    assert.is(rows.length, hostile.length);
    for (const r of rows) assert.ok(r.malformed.length > 0, `a hostile row carries a malformed marker: ${JSON.stringify(r)}`);
    assert.ok(
      rows.some((r) => r.malformed.includes('verified_at_ms') && !r.time.startsWith('1970') && r.verdict === 'verdict_77' && r.reason === 'reason_9999'),
    );
    assert.ok(rows.some((r) => r.malformed.includes('event_id')));
    assert.ok(
      rows.some((r) => /^b\ufffd+$/.test(r.recipient)),
      'the lone surrogate is stored as U+FFFD',
    );
  } finally {
    await c.stop();
    await store.close();
  }
});

test('audit - an undecodable audit message goes to the durable dead-letter stream, is counted and raises an alert', async () => {
  await resetStream();
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(DLQ_STREAM).catch(() => {});
  const store = join(dir, 'dlq');
  const a = await startAuditor({ nats: { url: server.url }, store: { url: store }, consumer: FAST, detect: { intervalMs: 60_000 }, logLevel: 'silent' });
  try {
    await jetstream(nc).publish('agentbus.audit.accepted', new Uint8Array([0xff, 0xff, 0xff, 0x01]));
    await publishSigned([auditEvent({ from: 'agent1', to: 'bob', at: now })]);
    await waitFor(() => a.stats().consumer.poison === 1 && a.stats().consumer.events === 1, 20_000, 'dead letter and the good row');
    const info = await jsm.streams.info(DLQ_STREAM);
    assert.is(info.state.messages, 1, 'kept by the AUDIT_DLQ stream');
    await waitFor(
      async () => (await a.store.query(`SELECT rule FROM ${a.store.table('alerts')} WHERE rule = 'audit_dead_letter'`)).length === 1,
      5000,
      'the alert',
    );
  } finally {
    await a.stop();
  }
});

// ---------------------------------------------------------------------------------------------
// Tamper evidence

let tamper: { store: AuditStore; path: string };
const mdir = () => join(dir, 'manifests');
let keys: TrustedKeys;
let accepted: AuditRow[] = [];
let rejected: AuditRow[] = [];

function writeManifests(): void {
  mkdirSync(join(mdir(), 'services'), { recursive: true });
  for (const id of ['agent0', 'agent1', 'agent2', 'mallory']) {
    writeFileSync(join(mdir(), `${id}.json`), JSON.stringify({ agent: id, keys: agent(id).keys.map((k) => k.publicInfo()) }));
  }
  writeFileSync(
    join(mdir(), 'services', 'v1.json'),
    JSON.stringify({
      agentbus_service_key: 1,
      name: 'v1',
      key_id: fixtureVerifierKey.keyId,
      public_key: Buffer.from(fixtureVerifierKey.publicKey).toString('base64url'),
    }),
  );
  keys = {
    verifiers: verifierKeyMap([
      { agentbus_service_key: 1, name: 'v1', key_id: fixtureVerifierKey.keyId, public_key: Buffer.from(fixtureVerifierKey.publicKey).toString('base64url') },
    ]),
    agents: lookupFromManifests(mdir()),
  };
}

const problems = (fs: Finding[]) => fs.map((f) => `${f.problem}:${f.id}`).sort();

test('verify - a trail as the verifier signed it verifies: rows, batches, chain, deliveries, sender signatures', async () => {
  await resetStream();
  tamper = await freshStore('tamper');
  writeManifests();
  const n = ROW_COLUMNS.length + 4;
  const acc = Array.from({ length: n }, (_, i) =>
    auditEvent({ from: `agent${i % 3}`, to: 'bob', at: now - 60_000 + i, metadata: { prompt_version: 'v1', rationale: `r${i}` } }),
  );
  const rej = Array.from({ length: n }, (_, i) =>
    auditEvent({
      from: 'mallory',
      to: 'bob',
      at: now - 50_000 + i,
      verdict: Verdict.VERDICT_REJECTED,
      reason: Reason.REASON_TYPE_NOT_ALLOWED,
      detail: `t${i}`,
      forged: i % 2 === 0,
    }),
  );
  const deliveries = acc
    .slice(0, 3)
    .map((e, i) => ({ msgId: randomBytes(16), recipient: 'bob', delivery: Delivery.DELIVERY_CONFIRMED, atMs: now - 40_000 + i }));
  for (let i = 0; i < n; i += 8) await publishSigned(acc.slice(i, i + 8), i === 0 ? deliveries : []);
  for (let i = 0; i < n; i += 8) await publishSigned(rej.slice(i, i + 8), [], 'agentbus.audit.rejected');
  const c = await startAuditConsumer({ nc, sink: tamper.store, config: FAST });
  await waitFor(async () => (await rawCount(tamper.store)) >= 2 * n, 20_000, 'rows');
  await waitFor(async () => (await rawCount(tamper.store, 'audit_batches')) >= 2 * Math.ceil(n / 8), 20_000, 'batches');
  await c.stop();
  const r = await verifyStore(tamper.store, {}, keys);
  assert.equal(r.findings, []);
  assert.is(r.rows, 2 * n);
  assert.is(r.verified, 2 * n);
  assert.is(r.deliveries, 3);
  assert.is(r.chains.length, 1);
  const ev = await readEvidence(tamper.store);
  accepted = ev.rows.filter((x) => x.verdict === 'accepted').sort((a, b) => a.time - b.time);
  rejected = ev.rows.filter((x) => x.verdict === 'rejected').sort((a, b) => a.time - b.time);
  // the check can fail: a key that is not the verifier's finds every batch
  const wrong = checkEvidence(ev, { ...keys, verifiers: new Map([[fixtureVerifierKey.keyId, randomBytes(32)]]) });
  assert.ok(
    wrong.findings.length > 0 &&
      wrong.findings.every((f) => f.problem === 'batch_bad_signature' || f.problem === 'row_inserted' || f.problem === 'delivery_inserted'),
  );
});

/** A value of the column's type that differs from `v`. */
function changed(col: keyof AuditRow, v: unknown): unknown {
  if (col === 'metadata') return { ...(v as Record<string, string>), smuggled: 'x' };
  if (Array.isArray(v)) return [...(v as string[]), 'x'];
  if (typeof v === 'number') return col === 'header_valid' ? 1 - v : v + 1;
  const s = String(v);
  if (col === 'event_id' || col === 'payload_sha256') return s.length ? (s[0] === 'a' ? 'b' : 'a') + s.slice(1) : 'f'.repeat(64);
  return s + 'x';
}

test('verify - every column changed in place, on accepted and rejected rows, is found; the exit code is 1', async () => {
  const { store } = tamper;
  const t = store.table('audit_events');
  const keyCols = new Set<keyof AuditRow>(['event_id', 'sender', 'time']);
  const victims = new Map<string, keyof AuditRow>(); // event_id (original) → column
  const updates: Record<string, string[]> = {};
  const reinserts: AuditRow[] = [];
  ROW_COLUMNS.forEach((col, i) => {
    for (const row of [accepted[i]!, rejected[i]!]) {
      victims.set(row.event_id, col);
      if (keyCols.has(col)) reinserts.push({ ...row, [col]: changed(col, row[col]) } as AuditRow);
      else {
        const v = changed(col, row[col]);
        const expr =
          col === 'metadata'
            ? `map(${Object.entries(v as Record<string, string>)
                .map(([k, x]) => `'${k}', '${x}'`)
                .join(', ')})`
            : col === 'sent_at' || col === 'window_start'
              ? `fromUnixTimestamp64Milli(toInt64(${v as number}), 'UTC')`
              : Array.isArray(v)
                ? `[${(v as string[]).map((x) => `'${x.replace(/'/g, "\\'")}'`).join(', ')}]`
                : typeof v === 'number'
                  ? String(v)
                  : `'${String(v).replace(/'/g, "\\'")}'`;
        (updates[col] ??= []).push(`event_id = '${row.event_id}', ${expr}`);
      }
    }
  });
  const set = Object.entries(updates).map(([col, cases]) => `${col} = multiIf(${cases.join(', ')}, ${col})`);
  await store.command(`ALTER TABLE ${t} UPDATE ${set.join(', ')} WHERE 1 SETTINGS mutations_sync = 1`);
  const originals = [...keyCols].flatMap((col) => [accepted[ROW_COLUMNS.indexOf(col)]!, rejected[ROW_COLUMNS.indexOf(col)]!]);
  await store.command(`ALTER TABLE ${t} DELETE WHERE event_id IN (${originals.map((r) => `'${r.event_id}'`).join(', ')}) SETTINGS mutations_sync = 1`);
  await store.insertRows(reinserts);
  const r = await verifyStore(store, {}, keys);
  for (const [id, col] of victims) {
    if (col === 'event_id') {
      // the row under its own id is gone and one no batch carries appeared
      assert.ok(
        r.findings.some((f) => f.problem === 'row_missing' && f.id === id),
        `event_id change: missing ${id}`,
      );
      continue;
    }
    const f = r.findings.find((x) => x.id === id && x.problem === 'row_altered');
    assert.ok(f, `column ${col} of ${id} changed and not found`);
    assert.match(f!.detail, new RegExp(`\\b${col}\\b`), `${col}: ${f!.detail}`);
  }
  assert.is(r.findings.filter((f) => f.problem === 'row_inserted').length, 2, 'the two rows with a made-up event_id');
  // the CLI says so with exit code 1 (the store is closed first: chDB allows one process)
  await store.close();
  const out = cli('audit', 'verify', '--store', tamper.path, '--manifests', mdir());
  assert.is(out.code, 1, out.err);
  assert.match(out.out, /findings [1-9]/);
  const j = cli('audit', 'verify', '--store', tamper.path, '--manifests', mdir(), '--json');
  assert.is(j.code, 1);
  assert.ok((JSON.parse(j.out) as { findings: unknown[] }).findings.length >= 2 * ROW_COLUMNS.length);
});

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, cliArgs(...args), { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('verify - inserted, duplicated and deleted rows and a deleted batch are found, offline from a bundle too; clean bundle exits 0', async () => {
  await resetStream();
  const fresh = await freshStore('tamper2');
  const acc = Array.from({ length: 24 }, (_, i) => auditEvent({ from: `agent${i % 3}`, to: 'bob', at: now - 30_000 + i }));
  const rej = Array.from({ length: 8 }, (_, i) =>
    auditEvent({ from: 'mallory', to: 'bob', at: now - 20_000 + i, verdict: Verdict.VERDICT_REJECTED, reason: Reason.REASON_BAD_SIGNATURE, forged: true }),
  );
  for (let i = 0; i < acc.length; i += 6) await publishSigned(acc.slice(i, i + 6));
  await publishSigned(rej, [], 'agentbus.audit.rejected');
  const c = await startAuditConsumer({ nc, sink: fresh.store, config: FAST });
  await waitFor(async () => (await rawCount(fresh.store, 'audit_batches')) >= 5, 20_000, 'batches');
  await c.stop();
  const s = fresh.store;
  const t = s.table('audit_events');
  assert.equal((await verifyStore(s, {}, keys)).findings, []);
  const ev = await readEvidence(s);
  const rows = ev.rows.sort((a, b) => a.time - b.time);
  // a clean bundle verifies offline (store closed), with and without pinned keys
  await s.close();
  const clean = join(dir, 'clean.bundle');
  let out = cli('audit', 'export', '--bundle', clean, '--store', fresh.path, '--manifests', mdir());
  assert.is(out.code, 0, out.err);
  out = cli('audit', 'verify', '--bundle', clean);
  assert.is(out.code, 0, out.out + out.err);
  assert.match(out.out, /keys: from the bundle/);
  out = cli('audit', 'verify', '--bundle', clean, '--manifests', mdir());
  assert.is(out.code, 0, out.out + out.err);
  // a bundle edited after export is caught offline
  const lines = readFileSync(clean, 'utf8').trimEnd().split('\n');
  const i = lines.findIndex((l) => l.includes('"kind":"row"') && l.includes('"verdict":"rejected"'));
  lines[i] = lines[i]!.replace('"verdict":"rejected"', '"verdict":"accepted"');
  writeFileSync(join(dir, 'edited.bundle'), lines.join('\n') + '\n');
  out = cli('audit', 'verify', '--bundle', join(dir, 'edited.bundle'), '--manifests', mdir());
  assert.is(out.code, 1, out.out);
  assert.match(out.out, /row_altered/);

  const s2 = await openStore(storeConfigSchema.parse({ url: fresh.path }));
  try {
    const dup = rows[30]!; // a rejected row
    const gone = rows[15]!; // in the third batch (the second is deleted whole below)
    // inserted: a made-up row; duplicated: an exact copy; deleted: a row; and a whole batch with its rows
    await s2.insertRows([{ ...rows[5]!, event_id: toHex(randomBytes(16)), recipient: 'eve', destination: 'eve' }]);
    await s2.insertRows([dup]);
    await s2.command(`ALTER TABLE ${t} DELETE WHERE event_id = '${gone.event_id}' SETTINGS mutations_sync = 1`);
    const middle = ev.batches.filter((b) => b.seq === Math.min(...ev.batches.map((x) => x.seq)) + 1)[0]!;
    await s2.command(`ALTER TABLE ${s2.table('audit_batches')} DELETE WHERE batch_id = '${middle.batch_id}' SETTINGS mutations_sync = 1`);
    await s2.command(`ALTER TABLE ${t} DELETE WHERE batch_id = '${middle.batch_id}' SETTINGS mutations_sync = 1`);
    const r = await verifyStore(s2, {}, keys);
    const kinds = new Set(r.findings.map((f) => f.problem));
    for (const k of ['row_inserted', 'row_duplicated', 'row_missing', 'batch_missing'] as const)
      assert.ok(kinds.has(k), `${k} not found: ${JSON.stringify(problems(r.findings))}`);
    assert.ok(r.findings.some((f) => f.problem === 'row_duplicated' && f.id === dup.event_id));
    assert.ok(r.findings.some((f) => f.problem === 'row_missing' && f.id === gone.event_id));
    // the same findings offline
    await s2.close();
    const b = join(dir, 'tampered.bundle');
    assert.is(cli('audit', 'export', '--bundle', b, '--store', fresh.path, '--manifests', mdir()).code, 0);
    out = cli('audit', 'verify', '--bundle', b, '--manifests', mdir(), '--json');
    assert.is(out.code, 1);
    const offline = JSON.parse(out.out) as { findings: Finding[] };
    assert.equal(problems(offline.findings), problems(r.findings));
  } finally {
    await s2.close().catch(() => {});
  }
});

test('cli - audit verify and export: usage errors exit 2, a bad key file exits 1, each with one line', () => {
  const cases: [string[], number, RegExp][] = [
    [['audit', 'verify', '--store', join(dir, 'tamper2')], 2, /give --manifests/],
    [['audit', 'verify', '--store', join(dir, 'tamper2'), '--manifests', mdir(), '--since', '1h', '--until', '2h'], 2, /--since must be before --until/],
    [['audit', 'verify', '--bundle', join(dir, 'clean.bundle'), '--since', '1h'], 2, /a bundle is checked whole/],
    [['audit', 'export', '--store', join(dir, 'tamper2'), '--manifests', mdir()], 2, /exactly one of --bundle FILE or --jsonl FILE/],
    [['audit', 'verify', '--store', join(dir, 'tamper2'), '--manifests', mdir(), '--since', 'yesterday'], 2, /--since must be an ISO 8601/],
    [['audit', 'verify', '--bundle', join(dir, 'nope.bundle')], 1, /cannot read bundle/],
    [['audit', 'verify', '--store', join(dir, 'tamper2'), '--manifests', mdir(), '--verifier-keys', join(dir, 'none.json')], 1, /keys: cannot read/],
  ];
  for (const [args, code, re] of cases) {
    const r = cli(...args);
    assert.is(r.code, code, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, re, args.join(' '));
    assert.is(r.err.trim().split('\n').length, 1, `one line: ${r.err}`);
  }
});

test.run();
