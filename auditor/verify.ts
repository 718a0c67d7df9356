// Re-verification of stored evidence: each audit row keeps the signed header bytes and the
// signature, so "did agent X really send this?" can be answered long after the fact, and rows
// altered in the store are found. The check is the SDK's signing rule (signingInput over the
// header bytes as stored, the one Ed25519 acceptance rule) plus: the row's columns must agree
// with what the signed header says (an analyst reads the columns, not the hex).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { decodeHeader, signingInput, toHex } from '../sdk/envelope.js';
import { defaultBackend } from '../sdk/ed25519.js';
import type { Ed25519Backend } from '../sdk/ed25519.js';
import type { AuditStore } from './store.js';

/** (sender, key_id) → the 32-byte public key, or undefined when unknown. */
export type KeyLookup = (sender: string, keyId: string) => Uint8Array | undefined;

export interface VerifySelector {
  /** hex msg_id (32 chars) */
  msgId?: string;
  /** ms since the epoch; with `until` (default now) a time range */
  since?: number;
  until?: number;
  /** Verdicts to check (default accepted and duplicate: rejected rows may carry bad signatures). */
  verdicts?: string[];
  limit?: number;
}

export type VerifyProblem = 'no_header' | 'header_invalid' | 'unknown_key' | 'bad_signature' | 'columns_mismatch';

export interface VerifyFailure {
  event_id: string;
  msg_id: string;
  time: string;
  verdict: string;
  sender: string;
  key_id: string;
  problem: VerifyProblem;
  detail: string;
}

export interface VerifyReport {
  checked: number;
  verified: number;
  failures: VerifyFailure[];
}

interface Row {
  event_id: string;
  time: string;
  verdict: string;
  sender: string;
  header_sender: string;
  recipient: string;
  topic: string;
  type: string;
  msg_id: string;
  key_id: string;
  header_hex: string;
  signature_hex: string;
}

export async function verifyStoredRows(store: AuditStore, sel: VerifySelector, lookup: KeyLookup, backend: Ed25519Backend = defaultBackend()): Promise<VerifyReport> {
  if (!sel.msgId && sel.since === undefined) throw new RangeError('verify: give a msg_id or a since time');
  const verdicts = sel.verdicts ?? ['accepted', 'duplicate'];
  const cols = 'event_id, time, verdict, sender, header_sender, recipient, topic, type, msg_id, key_id, header_hex, signature_hex';
  const t = store.table('audit_events');
  const rows = sel.msgId
    ? await store.query<Row>(
        `SELECT ${cols} FROM ${t} FINAL WHERE msg_id = {m:String} AND verdict IN {v:Array(String)} ORDER BY time LIMIT {limit:UInt32}`,
        { m: sel.msgId.toLowerCase(), v: verdicts, limit: sel.limit ?? 100_000 },
      )
    : await store.query<Row>(
        `SELECT ${cols} FROM ${t} FINAL
         WHERE time >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') AND time < fromUnixTimestamp64Milli({until:Int64}, 'UTC')
           AND verdict IN {v:Array(String)} ORDER BY time LIMIT {limit:UInt32}`,
        { since: sel.since, until: sel.until ?? Date.now() + 1000, v: verdicts, limit: sel.limit ?? 1_000_000 },
      );
  const failures: VerifyFailure[] = [];
  for (const r of rows) {
    const fail = (problem: VerifyProblem, detail: string) =>
      failures.push({ event_id: r.event_id, msg_id: r.msg_id, time: r.time, verdict: r.verdict, sender: r.sender, key_id: r.key_id, problem, detail });
    if (!r.header_hex) {
      fail('no_header', 'row has no header bytes');
      continue;
    }
    const headerBytes = Buffer.from(r.header_hex, 'hex');
    const h = decodeHeader(headerBytes);
    if (!h.ok) {
      fail('header_invalid', h.detail);
      continue;
    }
    const key = lookup(h.value.sender, h.value.keyId);
    if (!key) {
      fail('unknown_key', `no public key for ${h.value.sender}/${h.value.keyId}`);
      continue;
    }
    if (!backend.verify(key, signingInput(headerBytes), Buffer.from(r.signature_hex, 'hex'))) {
      fail('bad_signature', 'signature does not verify over the stored header');
      continue;
    }
    const v = h.value;
    const diffs: string[] = [];
    if (v.sender !== r.header_sender) diffs.push('sender');
    if (toHex(v.msgId) !== r.msg_id) diffs.push('msg_id');
    if (v.keyId !== r.key_id) diffs.push('key_id');
    if (v.recipient !== r.recipient) diffs.push('recipient');
    if (v.topic !== r.topic) diffs.push('topic');
    if (v.type !== r.type) diffs.push('type');
    if (diffs.length) {
      fail('columns_mismatch', `columns differ from the signed header: ${diffs.join(', ')}`);
      continue;
    }
  }
  return { checked: rows.length, verified: rows.length - failures.length, failures };
}

const manifestKeysSchema = z.object({
  agent: z.string(),
  keys: z.array(z.object({ key_id: z.string(), public_key: z.string(), revoked: z.boolean().optional() }).passthrough()).default([]),
}).passthrough();

export interface ManifestKey {
  publicKey: Uint8Array;
  revoked: boolean;
}

/**
 * Keys from every *.json / *.yaml / *.yml manifest in `dir` ({ agent, keys: [{ key_id,
 * public_key (base64url, 32 bytes), revoked? }] }; other fields ignored). Revoked keys are
 * still returned: a signature made before the revocation is still that agent's signature.
 */
export function loadManifestKeys(dir: string): Map<string, ManifestKey> {
  const out = new Map<string, ManifestKey>();
  for (const f of readdirSync(dir).sort()) {
    if (!/\.(json|ya?ml)$/i.test(f)) continue;
    const path = join(dir, f);
    const text = readFileSync(path, 'utf8');
    let doc: unknown;
    try {
      doc = f.toLowerCase().endsWith('.json') ? JSON.parse(text) : parseYaml(text);
    } catch (e) {
      throw new Error(`${path}: cannot parse: ${(e as Error).message}`);
    }
    const r = manifestKeysSchema.safeParse(doc);
    if (!r.success) {
      const i = r.error.issues[0]!;
      throw new Error(`${path}: ${i.message} at ${i.path.join('.') || '(root)'}`);
    }
    for (const k of r.data.keys) {
      const pub = Buffer.from(k.public_key, 'base64url');
      if (pub.length !== 32) throw new Error(`${path}: keys.${k.key_id}.public_key must be 32 bytes (base64url)`);
      out.set(`${r.data.agent}\u0000${k.key_id}`, { publicKey: new Uint8Array(pub), revoked: k.revoked ?? false });
    }
  }
  return out;
}

export function lookupFromManifests(dir: string): KeyLookup {
  const keys = loadManifestKeys(dir);
  return (sender, keyId) => keys.get(`${sender}\u0000${keyId}`)?.publicKey;
}
