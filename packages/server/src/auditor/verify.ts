// `audit verify`: proof that the stored audit trail is what the verifiers decided (docs/design.md §10).
//
// Evidence: the signed batches (audit_batches), the rows (audit_events) and the delivery records
// (audit_deliveries), read as physically stored (no FINAL: a duplicated row must show). Trust:
// the verifiers' audit public keys (pinned by the analyst, never taken from the store) and the
// agents' keys from the manifests. The check:
//
//   batches  signature by a pinned verifier key over the stored bytes; the batch columns agree
//            with the bytes; per chain, seq has no gaps, each prev_hash is the hash of the batch
//            before it, no two different batches claim one position
//   rows     each event of each signed batch has exactly one row whose every column equals the
//            auditor's own mapping of that event (rows.ts mapEvent); a row no signed batch carries
//            is an insertion; accepted and duplicate rows also carry a header whose signature
//            verifies against the sender's key (the answer to "did agent X really send this?")
//   deliveries  likewise, against the batches' delivery records
//
// The same function checks a store and an exported bundle (`audit export --bundle`), offline.
// What the store alone cannot show: batches deleted from the end of a chain (nothing follows
// them) — compare the chain heads with the AUDIT stream for that (docs/audit.md).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { decodeHeader, signingInput, sha256, toHex, readManifestKeys } from '@agentbus/protocol';
import { defaultBackend } from '@agentbus/protocol';
import type { Ed25519Backend } from '@agentbus/protocol';
import { AuditBatch } from '@agentbus/protocol';
import { verifyBatchSignature, ZERO_HASH } from '../common/audit-chain.js';
import { ServicePublicKey } from '../common/service-creds.js';
import { mapEvent, mapDelivery, timeOrUndefined } from './rows.js';
import type { AuditRow, BatchRow, DeliveryRow } from './rows.js';
import type { AuditStore } from './store.js';

/** (sender, key_id) → the 32-byte public key, or undefined when unknown. */
export type KeyLookup = (sender: string, keyId: string) => Uint8Array | undefined;

export type Problem =
  | 'batch_unknown_key'
  | 'batch_bad_signature'
  | 'batch_undecodable'
  | 'batch_altered'
  | 'batch_conflict'
  | 'batch_missing'
  | 'chain_broken'
  | 'row_altered'
  | 'row_missing'
  | 'row_inserted'
  | 'row_duplicated'
  | 'row_fallback'
  | 'delivery_altered'
  | 'delivery_missing'
  | 'delivery_inserted'
  | 'delivery_duplicated'
  | 'no_header'
  | 'header_invalid'
  | 'unknown_key'
  | 'bad_signature'
  | 'unverified_claim'
  | 'shed_header';

export interface Finding {
  problem: Problem;
  /** event_id for row findings, batch_id for batch findings, batch_id:pos for deliveries. */
  id: string;
  detail: string;
  sender?: string;
  msg_id?: string;
  verdict?: string;
}

export interface ChainHead {
  chain_id: string;
  verifier_id: string;
  first_seq: number;
  last_seq: number;
  head_hash: string;
}

export interface VerifyReport {
  batches: number;
  rows: number;
  deliveries: number;
  /** Rows whose columns and (for accepted and duplicate rows) sender signature all check out. */
  verified: number;
  chains: ChainHead[];
  findings: Finding[];
}

export interface Evidence {
  batches: BatchRow[];
  rows: AuditRow[];
  deliveries: DeliveryRow[];
  /** Per chain, whether a batch precedes the first one given (read from outside the window). */
  predecessors?: Map<string, { seq: number; batch_hash: string } | null>;
  /** Events verified before `since` or from `until` on are outside the window: not reported missing. */
  window?: { since?: number; until?: number };
}

export interface TrustedKeys {
  /** Verifier audit keys by key_id. */
  verifiers: Map<string, Uint8Array>;
  agents: KeyLookup;
}

/** The columns `audit verify` compares (all of audit_events but ingested_at). */
export const ROW_COLUMNS: (keyof AuditRow)[] = [
  'event_id',
  'time',
  'sent_at',
  'verifier_id',
  'verdict',
  'reason',
  'detail',
  'subject_sender',
  'sender',
  'header_sender',
  'recipient',
  'topic',
  'destination',
  'type',
  'msg_id',
  'key_id',
  'trace_id',
  'span_id',
  'causation_id',
  'content_type',
  'header_depth',
  'depth',
  'payload_size',
  'payload_sha256',
  'header_payload_sha256',
  'raw_size',
  'prompt_version',
  'rationale',
  'metadata',
  'header_valid',
  'header_hex',
  'signature_hex',
  'batch_id',
  'batch_pos',
  'malformed',
  'shed_count',
  'window_start',
  'guard_kinds',
  'guard_paths',
  'guard_rules',
  'guard_hashes',
  'guard_actions',
  'guard_details',
  'memory_op',
  'memory_ns',
  'memory_key_hash',
  'memory_value_hash',
  'memory_value_size',
  'memory_revision',
  'memory_status',
  'mode',
  'would_refuse',
];
const DELIVERY_COLUMNS: (keyof DeliveryRow)[] = [
  'batch_id',
  'batch_pos',
  'verifier_id',
  'msg_id',
  'recipient',
  'delivery',
  'at',
  'malformed',
  'reason',
  'detail',
];

const same = (a: unknown, b: unknown): boolean => {
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    return ka.length === kb.length && ka.every((k, i) => k === kb[i] && (a as Record<string, unknown>)[k] === (b as Record<string, unknown>)[k]);
  }
  return a === b;
};

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const l = out.get(k);
    if (l) l.push(it);
    else out.set(k, [it]);
  }
  return out;
}

/** The check itself: a pure function of the evidence and the trusted keys. */
export function checkEvidence(ev: Evidence, keys: TrustedKeys, backend: Ed25519Backend = defaultBackend()): VerifyReport {
  const findings: Finding[] = [];
  const add = (f: Finding) => findings.push(f);
  const inWindow = (t: number) => (ev.window?.since === undefined || t >= ev.window.since) && (ev.window?.until === undefined || t < ev.window.until);

  // --- batches: one per chain position, signed, agreeing with their own bytes, chained
  const byPos = groupBy(ev.batches, (b) => `${b.chain_id}:${b.seq}`);
  interface Good {
    row: BatchRow;
    batch: AuditBatch;
  }
  const good = new Map<string, Good>(); // batch_id → decoded, verified batch
  const chains = new Map<string, Good[]>();
  for (const [pos, copies] of byPos) {
    const distinct = new Map(copies.map((c) => [JSON.stringify(c), c]));
    if (distinct.size > 1) {
      add({ problem: 'batch_conflict', id: pos, detail: `${distinct.size} different batches stored at chain position ${pos}` });
    }
    for (const b of distinct.values()) {
      const bytes = Buffer.from(b.batch_hex, 'hex');
      let batch: AuditBatch;
      try {
        batch = AuditBatch.decode(bytes);
      } catch {
        add({ problem: 'batch_undecodable', id: b.batch_id, detail: 'batch_hex does not decode' });
        continue;
      }
      const key = keys.verifiers.get(batch.keyId);
      if (!key) {
        add({ problem: 'batch_unknown_key', id: b.batch_id, detail: `no pinned verifier key ${JSON.stringify(batch.keyId.slice(0, 64))}` });
        continue;
      }
      if (!verifyBatchSignature(key, bytes, Buffer.from(b.signature_hex, 'hex'), backend)) {
        add({ problem: 'batch_bad_signature', id: b.batch_id, detail: 'the verifier signature does not verify over the stored batch' });
        continue;
      }
      const seq = timeOrUndefined(batch.seq) ?? -1;
      const expect: Partial<BatchRow> = {
        batch_id: `${toHex(batch.chainId)}:${seq}`,
        chain_id: toHex(batch.chainId),
        seq,
        verifier_id: batch.verifierId,
        key_id: batch.keyId,
        created_at: timeOrUndefined(batch.createdAtMs) ?? 0,
        prev_hash: toHex(batch.prevHash),
        batch_hash: toHex(sha256(bytes)),
        events: batch.events.length,
        deliveries: batch.deliveries.length,
      };
      const diffs = (Object.keys(expect) as (keyof BatchRow)[]).filter((c) => !same(expect[c], b[c]));
      if (diffs.length) add({ problem: 'batch_altered', id: b.batch_id, detail: `batch columns differ from the signed bytes: ${diffs.join(', ')}` });
      if (distinct.size > 1) continue; // neither copy can be trusted as the chain's
      const g = { row: { ...b, ...expect } as BatchRow, batch };
      good.set(g.row.batch_id, g);
      const list = chains.get(g.row.chain_id);
      if (list) list.push(g);
      else chains.set(g.row.chain_id, [g]);
    }
  }
  const heads: ChainHead[] = [];
  for (const [chain, list] of chains) {
    list.sort((a, b) => a.row.seq - b.row.seq);
    const first = list[0]!;
    const pred = ev.predecessors?.get(chain);
    if (first.row.seq > 1) {
      if (pred === null)
        add({
          problem: 'batch_missing',
          id: `${chain}:1`,
          detail: `chain ${chain} starts at seq ${first.row.seq}: batches 1..${first.row.seq - 1} are missing`,
        });
      else if (pred && pred.seq !== first.row.seq - 1)
        add({ problem: 'batch_missing', id: `${chain}:${pred.seq + 1}`, detail: `seq ${pred.seq + 1}..${first.row.seq - 1} missing` });
      else if (pred && pred.batch_hash !== first.row.prev_hash)
        add({ problem: 'chain_broken', id: first.row.batch_id, detail: 'prev_hash is not the hash of the batch before it' });
    } else if (first.row.prev_hash !== toHex(ZERO_HASH))
      add({ problem: 'chain_broken', id: first.row.batch_id, detail: 'the first batch of a chain must have a zero prev_hash' });
    for (let i = 1; i < list.length; i++) {
      const a = list[i - 1]!.row;
      const b = list[i]!.row;
      if (b.seq !== a.seq + 1)
        add({
          problem: 'batch_missing',
          id: `${chain}:${a.seq + 1}`,
          detail: `seq ${a.seq + 1}${b.seq - 1 > a.seq + 1 ? `..${b.seq - 1}` : ''} missing from chain ${chain}`,
        });
      else if (b.prev_hash !== a.batch_hash) add({ problem: 'chain_broken', id: b.batch_id, detail: 'prev_hash is not the hash of the batch before it' });
    }
    const last = list[list.length - 1]!.row;
    heads.push({ chain_id: chain, verifier_id: last.verifier_id, first_seq: first.row.seq, last_seq: last.seq, head_hash: last.batch_hash });
  }

  // --- rows: exactly one per signed event, every column as the mapping gives it
  const rowsById = groupBy(ev.rows, (r) => r.event_id);
  const expected = new Map<string, AuditRow>();
  for (const { row, batch } of good.values()) {
    batch.events.forEach((e, pos) => {
      const r = mapEvent(e, { batchId: row.batch_id, pos, createdAt: row.created_at });
      expected.set(r.event_id, r);
    });
  }
  let verified = 0;
  for (const [id, want] of expected) {
    const got = rowsById.get(id);
    const who = { sender: want.sender, msg_id: want.msg_id, verdict: want.verdict };
    if (!got) {
      if (inWindow(want.time)) add({ problem: 'row_missing', id, detail: `event ${want.batch_id}#${want.batch_pos} has no row`, ...who });
      continue;
    }
    if (got.length > 1) add({ problem: 'row_duplicated', id, detail: `${got.length} rows for one event`, ...who });
    let ok = got.length === 1;
    for (const r of new Map(got.map((g) => [JSON.stringify(g), g])).values()) {
      const diffs = ROW_COLUMNS.filter((c) => !same(want[c], r[c]));
      if (diffs.length === 0) continue;
      ok = false;
      const fallback = r.malformed.includes('store:') && !want.malformed.includes('store:');
      add({
        problem: fallback ? 'row_fallback' : 'row_altered',
        id,
        detail: fallback
          ? `the store refused the row; its fallback differs in ${diffs.join(', ')}`
          : `columns differ from the signed batch: ${diffs.join(', ')}`,
        ...who,
      });
    }
    // A row that claims a verified header (header_valid = 1) when the verifier never checked it:
    // its header fields would read as the sender's signed word.
    for (const r of got) {
      if (Number(r.header_valid) !== 1 || want.header_valid === 1) continue;
      ok = false;
      const p = r.header_hex ? senderProblem(r, keys.agents, backend) : { problem: 'no_header' as const, detail: 'no header bytes' };
      add({
        problem: 'unverified_claim',
        id,
        detail: `header_valid = 1, but the verifier did not check this header${want.shed_count > 0 ? ' (a shed summary: nothing in it was checked)' : ''}${p ? `; ${p.problem}: ${p.detail}` : ''}`,
        ...who,
      });
    }
    // The signed event itself carries what nobody checked: the header of a shed message (older
    // verifiers kept the last one as a "hint"). The row leaves it out; the evidence is named here.
    if (want.malformed.split(',').includes('shed_header')) {
      add({
        problem: 'shed_header',
        id,
        detail: `a shed summary (${want.shed_count} messages) carries header bytes nobody verified; they are not the sender's word and are left out of the row`,
        ...who,
      });
    }
    // accepted, duplicate, and rejected after the signature check: the header must carry its sender's signature
    if (ok && want.header_valid === 1) {
      const p = senderProblem(want, keys.agents, backend);
      if (p) {
        ok = false;
        add({ ...p, id, ...who });
      }
    }
    if (ok) verified++;
  }
  for (const [id, got] of rowsById) {
    if (expected.has(id)) continue;
    const r = got[0]!;
    // rows of a batch we could not trust are covered by that batch's finding
    if (r.batch_id && byPos.has(r.batch_id) && !good.has(r.batch_id)) continue;
    add({
      problem: 'row_inserted',
      id,
      detail: r.batch_id ? `no event ${id} in a signed batch ${r.batch_id}` : 'row carried by no signed batch',
      sender: r.sender,
      msg_id: r.msg_id,
      verdict: r.verdict,
    });
  }

  // --- deliveries
  const dGot = groupBy(ev.deliveries, (d) => `${d.batch_id}:${d.batch_pos}`);
  const dWant = new Map<string, DeliveryRow>();
  for (const { row, batch } of good.values())
    batch.deliveries.forEach((d, pos) =>
      dWant.set(`${row.batch_id}:${pos}`, mapDelivery(d, batch.verifierId, { batchId: row.batch_id, pos, createdAt: row.created_at })),
    );
  for (const [k, want] of dWant) {
    const got = dGot.get(k);
    if (!got) {
      if (inWindow(want.at)) add({ problem: 'delivery_missing', id: k, detail: `delivery record of ${want.msg_id} has no row`, msg_id: want.msg_id });
      continue;
    }
    if (got.length > 1) add({ problem: 'delivery_duplicated', id: k, detail: `${got.length} rows for one delivery record`, msg_id: want.msg_id });
    for (const d of got) {
      const diffs = DELIVERY_COLUMNS.filter((c) => !same(want[c], d[c]));
      if (diffs.length) add({ problem: 'delivery_altered', id: k, detail: `columns differ from the signed batch: ${diffs.join(', ')}`, msg_id: want.msg_id });
    }
  }
  for (const [k, got] of dGot) {
    if (dWant.has(k) || (byPos.has(got[0]!.batch_id) && !good.has(got[0]!.batch_id))) continue;
    add({ problem: 'delivery_inserted', id: k, detail: 'delivery row carried by no signed batch', msg_id: got[0]!.msg_id });
  }
  return {
    batches: good.size,
    rows: ev.rows.length,
    deliveries: ev.deliveries.length,
    verified,
    chains: heads.sort((a, b) => a.chain_id.localeCompare(b.chain_id)),
    findings,
  };
}

/** Does the row's header carry a valid signature of its sender? (rows with header_valid = 1) */
function senderProblem(r: AuditRow, lookup: KeyLookup, backend: Ed25519Backend): Omit<Finding, 'id'> | undefined {
  if (!r.header_hex) return { problem: 'no_header', detail: 'row has no header bytes' };
  const headerBytes = Buffer.from(r.header_hex, 'hex');
  const h = decodeHeader(headerBytes);
  if (!h.ok) return { problem: 'header_invalid', detail: h.detail };
  const key = lookup(h.value.sender, h.value.keyId);
  if (!key) return { problem: 'unknown_key', detail: `no public key for ${h.value.sender}/${h.value.keyId}` };
  if (!backend.verify(key, signingInput(headerBytes), Buffer.from(r.signature_hex, 'hex')))
    return { problem: 'bad_signature', detail: 'the sender signature does not verify over the stored header' };
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Reading the evidence from a store

export interface VerifySelector {
  /** ms since the epoch; default: everything stored */
  since?: number;
  until?: number;
}

/** Slack between an event's verified_at and its batch's created_at. */
const BATCH_SLACK_MS = 5 * 60_000;

const ROW_SELECT = `SELECT * EXCEPT (ingested_at) REPLACE (toUnixTimestamp64Milli(time) AS time, toUnixTimestamp64Milli(sent_at) AS sent_at, toUnixTimestamp64Milli(window_start) AS window_start, trimRight(toString(payload_sha256), char(0)) AS payload_sha256)`;
const BATCH_SELECT = `SELECT * EXCEPT (ingested_at) REPLACE (toUnixTimestamp64Milli(created_at) AS created_at)`;
const DELIVERY_SELECT = `SELECT * EXCEPT (ingested_at) REPLACE (toUnixTimestamp64Milli(at) AS at)`;

const numCols = (r: Record<string, unknown>, cols: string[]) => {
  for (const c of cols) r[c] = Number(r[c]);
  return r;
};

/**
 * The evidence of a time window, as stored (every physical row: no FINAL). Filters sit in a
 * subquery: ClickHouse would apply the REPLACE aliases (ms numbers) inside WHERE.
 */
export async function readEvidence(store: AuditStore, sel: VerifySelector = {}): Promise<Evidence> {
  const since = sel.since ?? 0;
  const until = sel.until ?? Date.now() + 60_000;
  const p = { since, until, bs: Math.max(0, since - BATCH_SLACK_MS), bu: until + BATCH_SLACK_MS };
  const t = (n: string) => store.table(n);
  const batches = (
    await store.query<Record<string, unknown>>(
      `${BATCH_SELECT} FROM (SELECT * FROM ${t('audit_batches')} WHERE created_at >= fromUnixTimestamp64Milli({bs:Int64}, 'UTC') AND created_at < fromUnixTimestamp64Milli({bu:Int64}, 'UTC'))`,
      p,
    )
  ).map((r) => numCols(r, ['seq', 'created_at', 'events', 'deliveries']) as unknown as BatchRow);
  const ids = [...new Set(batches.map((b) => b.batch_id))];
  const rows = (
    await store.query<Record<string, unknown>>(
      `${ROW_SELECT} FROM (SELECT * FROM ${t('audit_events')} WHERE (time >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') AND time < fromUnixTimestamp64Milli({until:Int64}, 'UTC')) OR batch_id IN {ids:Array(String)})`,
      { ...p, ids },
    )
  ).map(
    (r) =>
      numCols(r, [
        'time',
        'sent_at',
        'window_start',
        'header_depth',
        'depth',
        'payload_size',
        'raw_size',
        'header_valid',
        'batch_pos',
        'shed_count',
      ]) as unknown as AuditRow,
  );
  // batches referenced by rows of the window but created outside the slack
  const missing = [...new Set(rows.map((r) => r.batch_id).filter((b) => b && !ids.includes(b)))];
  if (missing.length) {
    batches.push(
      ...(
        await store.query<Record<string, unknown>>(`${BATCH_SELECT} FROM (SELECT * FROM ${t('audit_batches')} WHERE batch_id IN {m:Array(String)})`, {
          m: missing,
        })
      ).map((r) => numCols(r, ['seq', 'created_at', 'events', 'deliveries']) as unknown as BatchRow),
    );
  }
  const allIds = [...new Set(batches.map((b) => b.batch_id))];
  const deliveries = (
    await store.query<Record<string, unknown>>(
      `${DELIVERY_SELECT} FROM (SELECT * FROM ${t('audit_deliveries')} WHERE (at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') AND at < fromUnixTimestamp64Milli({until:Int64}, 'UTC')) OR batch_id IN {ids:Array(String)})`,
      { ...p, ids: allIds },
    )
  ).map((r) => numCols(r, ['batch_pos', 'at']) as unknown as DeliveryRow);
  // For each chain, the batch right before the first one read. None at all: the chain's start is
  // missing — deleted, unless the TTL dropped it (only possible for batches older than the TTL).
  const [ttl] = await store.query<{ q: string }>('SELECT create_table_query AS q FROM system.tables WHERE database = {db:String} AND name = {n:String}', {
    db: store.database,
    n: 'audit_batches',
  });
  const ttlDays = Number(/toIntervalDay\((\d+)\)/.exec(ttl?.q ?? '')?.[1] ?? 36500);
  const horizon = Date.now() - (ttlDays - 1) * 86_400_000;
  const firsts = new Map<string, BatchRow>();
  for (const b of batches) if (!firsts.has(b.chain_id) || firsts.get(b.chain_id)!.seq > b.seq) firsts.set(b.chain_id, b);
  const predecessors = new Map<string, { seq: number; batch_hash: string } | null>();
  for (const [chain, first] of firsts) {
    if (first.seq <= 1) continue;
    const [pr] = await store.query<{ seq: number; batch_hash: string }>(
      `SELECT seq, batch_hash FROM ${t('audit_batches')} WHERE chain_id = {c:String} AND seq < {s:UInt64} ORDER BY seq DESC LIMIT 1`,
      { c: chain, s: first.seq },
    );
    if (pr) predecessors.set(chain, { seq: Number(pr.seq), batch_hash: pr.batch_hash });
    else if (first.created_at > horizon) predecessors.set(chain, null);
  }
  return { batches, rows, deliveries, predecessors, window: { since, until } };
}

export async function verifyStore(store: AuditStore, sel: VerifySelector, keys: TrustedKeys, backend?: Ed25519Backend): Promise<VerifyReport> {
  return checkEvidence(await readEvidence(store, sel), keys, backend);
}

// ---------------------------------------------------------------------------------------------
// Bundles: rows + batches + deliveries + public keys, one JSON object per line

export const BUNDLE_FORMAT = 'agentbus-audit-bundle/1';

export interface BundleKeys {
  verifiers: ServicePublicKey[];
  agents: { agent: string; key_id: string; public_key: string; revoked: boolean }[];
}

export function bundleLines(ev: Evidence, keys: BundleKeys, meta: Record<string, unknown>): string[] {
  return [
    JSON.stringify({ kind: 'bundle', format: BUNDLE_FORMAT, exported_at: new Date().toISOString(), ...meta }),
    ...keys.verifiers.map((k) => JSON.stringify({ kind: 'verifier_key', ...k })),
    ...keys.agents.map((k) => JSON.stringify({ kind: 'agent_key', ...k })),
    ...ev.batches.map((b) => JSON.stringify({ kind: 'batch', ...b })),
    ...ev.rows.map((r) => JSON.stringify({ kind: 'row', ...r })),
    ...ev.deliveries.map((d) => JSON.stringify({ kind: 'delivery', ...d })),
    ...[...(ev.predecessors ?? [])].map(([chain, p]) =>
      JSON.stringify({ kind: 'predecessor', chain_id: chain, ...(p ? { seq: p.seq, batch_hash: p.batch_hash } : { none: true }) }),
    ),
  ];
}

export class BundleError extends Error {
  override readonly name = 'BundleError';
}

export function readBundle(path: string): { evidence: Evidence; keys: BundleKeys; meta: Record<string, unknown> } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new BundleError(`cannot read bundle ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const ev: Evidence = { batches: [], rows: [], deliveries: [], predecessors: new Map() };
  const keys: BundleKeys = { verifiers: [], agents: [] };
  let meta: Record<string, unknown> | undefined;
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new BundleError(`${path}:${i + 1}: not JSON`);
    }
    const { kind, ...rest } = o;
    if (i === 0) {
      if (kind !== 'bundle' || rest['format'] !== BUNDLE_FORMAT) throw new BundleError(`${path}:1: not an ${BUNDLE_FORMAT} file`);
      meta = rest;
      return;
    }
    if (kind === 'batch') ev.batches.push(rest as unknown as BatchRow);
    else if (kind === 'row') ev.rows.push(rest as unknown as AuditRow);
    else if (kind === 'delivery') ev.deliveries.push(rest as unknown as DeliveryRow);
    else if (kind === 'verifier_key') {
      const r = ServicePublicKey.safeParse(rest);
      if (!r.success) throw new BundleError(`${path}:${i + 1}: verifier_key: ${r.error.issues[0]!.message} at ${r.error.issues[0]!.path.join('.')}`);
      keys.verifiers.push(r.data);
    } else if (kind === 'agent_key') keys.agents.push(rest as BundleKeys['agents'][number]);
    else if (kind === 'predecessor')
      ev.predecessors!.set(String(rest['chain_id']), rest['none'] ? null : { seq: Number(rest['seq']), batch_hash: String(rest['batch_hash']) });
    else throw new BundleError(`${path}:${i + 1}: unknown kind ${JSON.stringify(kind)}`);
  });
  if (!meta) throw new BundleError(`${path}: empty bundle`);
  const w = meta['window'] as { since?: number; until?: number } | undefined;
  if (w) ev.window = w;
  return { evidence: ev, keys, meta };
}

// ---------------------------------------------------------------------------------------------
// Keys

export interface ManifestKey {
  publicKey: Uint8Array;
  revoked: boolean;
  agent: string;
  keyId: string;
}

/**
 * Keys from every manifest in `dir`, read with the protocol's one manifest-key parser (the
 * verifier's schema; a bad file is an error naming it). Revoked and expired keys are still
 * returned: a signature made before the revocation is still that agent's signature.
 */
export function loadManifestKeys(dir: string): Map<string, ManifestKey> {
  const out = new Map<string, ManifestKey>();
  for (const [agent, keys] of readManifestKeys(dir)) {
    for (const [keyId, k] of keys) out.set(`${agent}\u0000${keyId}`, { publicKey: k.publicKey, revoked: k.revoked, agent, keyId });
  }
  return out;
}

export function lookupFromManifests(dir: string): KeyLookup {
  const keys = loadManifestKeys(dir);
  return (sender, keyId) => keys.get(`${sender}\u0000${keyId}`)?.publicKey;
}

/** Where `audit verify` looks for the verifiers' public keys by default: `<manifests>/services/`. */
export const SERVICE_KEYS_DIR = 'services';

/** Verifier audit public keys from a file (one key, or a JSON array) or every *.json in a directory. */
export function loadVerifierKeys(path: string): ServicePublicKey[] {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const files = st.isDirectory()
    ? readdirSync(path)
        .filter((f) => f.endsWith('.json') && !f.startsWith('.'))
        .sort()
        .map((f) => join(path, f))
    : [path];
  const out: ServicePublicKey[] = [];
  for (const f of files) {
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(f, 'utf8'));
    } catch {
      throw new Error(`${f}: not valid JSON`);
    }
    for (const [i, k] of (Array.isArray(doc) ? doc : [doc]).entries()) {
      const r = ServicePublicKey.safeParse(k);
      if (!r.success)
        throw new Error(`${f}${Array.isArray(doc) ? `[${i}]` : ''}: ${r.error.issues[0]!.message} at ${r.error.issues[0]!.path.join('.') || '(root)'}`);
      out.push(r.data);
    }
  }
  return out;
}

export function verifierKeyMap(keys: ServicePublicKey[]): Map<string, Uint8Array> {
  return new Map(keys.map((k) => [k.key_id, new Uint8Array(Buffer.from(k.public_key, 'base64url'))]));
}
