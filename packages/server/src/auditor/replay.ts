// Detection on a recorded trace (`agentbus detect replay`): the audit_events rows of a JSONL file
// (as `agentbus audit export --jsonl` writes them; a missing optional column takes its default)
// go into a throwaway embedded store, and the same detection engine the auditor runs evaluates
// them minute by minute in simulated time. Every alert comes out as one JSON object with the
// msg_ids of its evidence.
//
// Lines with `"event": "connect" | "disconnect" | "present"` are connection events (as
// audit_connections stores them and `audit export --jsonl --connections` writes them); they go
// through the same connection tracker the auditor's follower runs (identity_reuse, new_address),
// in time order, beside the audit rows. Their agent is `agent` ("" in an exported row: a service user, never alerted on), else the agent whose manifest
// names `nkey` (with `manifestsDir`), else the nkey itself.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { openStore } from './store.js';
import type { AuditStore } from './store.js';
import { storeConfigSchema } from './config.js';
import type { AuditorConfigInput } from './config.js';
import { alertMsgIds, createDetectionEngine, EVIDENCE_LIMIT } from './detect.js';
import type { Alert } from './detect.js';
import type { AuditRow } from './rows.js';
import { MINUTE_MS } from './detectors/types.js';
import type { Finding } from './detectors/types.js';
import { loadManifestDir } from '@agentbus/protocol/manifest';
import { ConnectionTracker, connectionsConfigSchema } from './connections.js';
import type { ConnEvent, ConnectionsConfig } from './connections.js';

export class ReplayError extends Error {
  override name = 'ReplayError';
}

const time = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const t = typeof v === 'number' ? v : Date.parse(/^\d{4}-\d\d-\d\d \d/.test(v) ? `${v.replace(' ', 'T')}Z` : v);
  if (!Number.isFinite(t)) {
    ctx.addIssue({ code: 'custom', message: 'must be a time (ISO 8601, "YYYY-MM-DD hh:mm:ss[.sss]" UTC, or ms)' });
    return z.NEVER;
  }
  return t;
});
const str = z.string().default('');
const num = z.number().int().min(0).default(0);
const strs = z.array(z.string()).default([]);

/** An audit_events row as JSON: `time`, `sender`, `verdict` required; the rest default. */
export const ReplayRow = z.looseObject({
  event_id: str,
  time,
  sent_at: time.optional(),
  verifier_id: str,
  verdict: z.enum(['accepted', 'rejected', 'duplicate']),
  reason: str,
  detail: str,
  subject_sender: str,
  sender: z.string().min(1),
  header_sender: str,
  recipient: str,
  topic: str,
  destination: str,
  type: str,
  msg_id: str,
  key_id: str,
  trace_id: str,
  span_id: str,
  causation_id: str,
  content_type: str,
  header_depth: num,
  depth: num,
  payload_size: num,
  payload_sha256: str,
  header_payload_sha256: str,
  raw_size: num,
  prompt_version: str,
  rationale: str,
  metadata: z.record(z.string(), z.string()).default({}),
  header_valid: num,
  header_hex: str,
  signature_hex: str,
  batch_id: str,
  batch_pos: num,
  malformed: str,
  shed_count: num,
  window_start: time.optional(),
  guard_kinds: strs,
  guard_paths: strs,
  guard_rules: strs,
  guard_hashes: strs,
  guard_actions: strs,
  guard_details: strs,
  memory_op: str,
  memory_ns: str,
  memory_key_hash: str,
  memory_value_hash: str,
  memory_value_size: num,
  memory_revision: num,
  memory_status: str,
  mode: z.enum(['enforce', 'monitor']).default('enforce'),
  would_refuse: str,
});

/** A connection event line: `event`, `time`, and `agent` or `nkey` required; the rest default. */
export const ReplayConnection = z.looseObject({
  event: z.enum(['connect', 'disconnect', 'present']),
  time,
  agent: str,
  nkey: str,
  client_id: z.union([z.number().int().min(0), z.string().regex(/^\d+$/).transform(Number)]).default(0),
  host: str,
  server: str,
  name: str,
  start: time.optional(),
  reason: str,
});

const isConnectionLine = (raw: unknown) => !!raw && typeof raw === 'object' && typeof (raw as { event?: unknown }).event === 'string';

/** Parse the events file: one row per line (blank lines skipped); a bad line names its number and field. Connection events are skipped (readReplayTrace). */
export function readReplayRows(file: string): AuditRow[] {
  return readReplayTrace(file).rows;
}

/** The audit rows and the connection events of a trace; `manifestsDir` maps connection nkeys to agents. */
export function readReplayTrace(
  file: string,
  o: { manifestsDir?: string } = {},
): { rows: AuditRow[]; connections: ConnEvent[]; replicas: Map<string, number> } {
  let agents: Map<string, string> | undefined;
  const replicas = new Map<string, number>();
  if (o.manifestsDir) {
    try {
      const ms = loadManifestDir(o.manifestsDir);
      agents = new Map(ms.map((m) => [m.nats_user, m.agent]));
      for (const m of ms) replicas.set(m.agent, m.replicas);
    } catch (e) {
      throw new ReplayError(`--manifests ${o.manifestsDir}: ${(e as Error).message}`);
    }
  }
  const connections: ConnEvent[] = [];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ReplayError(`--events ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const rows: AuditRow[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      throw new ReplayError(`${file}:${i + 1}: not JSON`);
    }
    if (isConnectionLine(raw)) {
      const c = ReplayConnection.safeParse(raw);
      if (!c.success) {
        const is = c.error.issues[0]!;
        throw new ReplayError(`${file}:${i + 1} at ${is.path.join('.') || '(event)'}: ${is.message}`);
      }
      const v = c.data;
      // an exported row says agent "" for a service user: that stays a service (never alerted on);
      // a line without the field is named by its manifest, else by the nkey
      const hasAgent = typeof (raw as { agent?: unknown }).agent === 'string';
      if (!hasAgent && !v.nkey) throw new ReplayError(`${file}:${i + 1} at agent: a connection event needs agent or nkey`);
      const agent = hasAgent ? v.agent : agents ? (agents.get(v.nkey) ?? '') : v.nkey;
      connections.push({
        time: v.time,
        event: v.event,
        agent,
        nkey: v.nkey,
        client_id: v.client_id,
        host: v.host,
        server: v.server,
        name: v.name,
        start: v.start ?? (v.event === 'disconnect' ? 0 : v.time),
        reason: v.reason,
      });
      return;
    }
    const r = ReplayRow.safeParse(raw);
    if (!r.success) {
      const is = r.error.issues[0]!;
      throw new ReplayError(`${file}:${i + 1} at ${is.path.join('.') || '(row)'}: ${is.message}`);
    }
    const v = r.data;
    const dest = v.destination || v.recipient || (v.topic ? `topic:${v.topic}` : '');
    rows.push({
      ...(v as unknown as AuditRow),
      event_id: v.event_id || `replay-${i + 1}`,
      sent_at: v.sent_at ?? v.time,
      window_start: v.window_start ?? 0,
      subject_sender: v.subject_sender || v.sender,
      header_sender: v.header_sender || v.sender,
      destination: dest,
    });
  });
  // stable: events of one millisecond keep their order in the file
  connections.sort((a, b) => a.time - b.time);
  return { rows, connections, replicas };
}

/** The connection events through the tracker, in time order: each finding with the time it was made. */
export function replayConnections(
  evs: ConnEvent[],
  cfg: Partial<ConnectionsConfig> = {},
  replicas: ReadonlyMap<string, number> = new Map(),
): { finding: Finding; at: number }[] {
  const c = connectionsConfigSchema.parse(cfg);
  const t = new ConnectionTracker(c, new Map(), undefined, (a) => replicas.get(a) ?? 1);
  const out: { finding: Finding; at: number }[] = [];
  // the live auditor ticks on a timer; here a tick falls due overlapMs after each event
  const due: number[] = [];
  for (const e of evs) {
    while (due.length && due[0]! <= e.time) {
      const at = due.shift()!;
      for (const f of t.tick(at)) out.push({ finding: f, at });
    }
    for (const f of t.observe(e)) out.push({ finding: f, at: e.time });
    due.push(e.time + c.overlapMs + 1);
  }
  if (evs.length) {
    const end = evs[evs.length - 1]!.time + c.overlapMs + 1;
    for (const f of t.tick(end)) out.push({ finding: f, at: end });
  }
  return out;
}

export interface ReplayAlert {
  rule: string;
  severity: string;
  agents: string[];
  window: { start: string; end: string };
  detected_at: string;
  sentence?: string;
  evidence: Record<string, unknown> & { msg_ids: string[] };
  /** `agentbus audit trail` for the first few msg_ids. */
  trail?: string[];
}

/**
 * Run the detectors over the rows in simulated time: one evaluation at the end of every minute
 * from the first row's to the last's, each seeing only what was verified by then (the auditor
 * evaluates every minute; a minute's aggregates are complete once it is over); connection events
 * through the auditor's connection tracker. `store`: run in this chDB data directory and database
 * (kept) instead of a throwaway one — chDB allows one data directory per process, so a caller that
 * replays twice (the labelled simulation) passes one.
 */
export async function replay(
  rows: AuditRow[],
  o: {
    detect?: AuditorConfigInput['detect'];
    evidenceLimit?: number;
    connections?: ConnEvent[];
    connectionsConfig?: Partial<ConnectionsConfig>;
    /** Declared workers per agent (manifest `replicas`; default 1). */
    replicas?: ReadonlyMap<string, number>;
    store?: { dir: string; database: string };
  } = {},
): Promise<ReplayAlert[]> {
  const conns = o.connections ?? [];
  if (rows.length === 0 && conns.length === 0) return [];
  const dir = o.store?.dir ?? mkdtempSync(join(tmpdir(), 'agentbus-replay-'));
  let store: AuditStore | undefined;
  try {
    // a long TTL: a recorded trace is old and must not be dropped as expired (not the longest the
    // schema allows: time + 100 years overflows DateTime and drops every row at once)
    store = await openStore(storeConfigSchema.parse({ url: join(dir, 'db'), ttlDays: 20_000, ...(o.store ? { database: o.store.database } : {}) }));
    await store.migrate();
    for (let i = 0; i < rows.length; i += 5000) await store.insertRows(rows.slice(i, i + 5000));
    const engine = createDetectionEngine({ store, config: o.detect ?? {} });
    const out: ReplayAlert[] = [];
    // connection findings first (the tracker runs in its own time order), with the same cooldown
    for (const { finding, at } of replayConnections(conns, o.connectionsConfig, o.replicas)) {
      for (const a of await engine.raise([finding], at)) out.push(connectionAlert(a));
    }
    if (rows.length === 0) return out;
    let first = Infinity;
    let last = -Infinity;
    for (const r of rows) {
      if (r.time < first) first = r.time;
      if (r.time > last) last = r.time;
    }
    first = Math.floor(first / MINUTE_MS) * MINUTE_MS;
    for (let t = first + MINUTE_MS - 1; t < Math.floor(last / MINUTE_MS) * MINUTE_MS + 2 * MINUTE_MS; t += MINUTE_MS) {
      for (const a of await engine.evaluate(t)) out.push(await withEvidence(store, a, o.evidenceLimit ?? 20));
    }
    return out;
  } finally {
    await store?.close().catch(() => undefined);
    if (!o.store) rmSync(dir, { recursive: true, force: true });
  }
}

/** The alert as replay reports it, its evidence naming `msgIds` (and `trail`, when there is one). */
function replayAlert(a: Alert, msgIds: string[], trail?: string[]): ReplayAlert {
  return {
    rule: a.rule,
    severity: a.severity,
    agents: a.agents,
    window: { start: a.window_start, end: a.window_end },
    detected_at: a.detected_at,
    ...(a.sentence ? { sentence: a.sentence } : {}),
    evidence: { ...a.evidence, msg_ids: msgIds },
    ...(trail?.length ? { trail } : {}),
  };
}

function connectionAlert(a: Alert): ReplayAlert {
  // the engine's alertSentence already says it (sentence.ts knows the connection rules)
  return replayAlert(a, []);
}

async function withEvidence(store: AuditStore, a: Alert, limit: number): Promise<ReplayAlert> {
  const ids = a.msg_ids && limit === EVIDENCE_LIMIT ? a.msg_ids : await alertMsgIds(store, a, limit);
  return replayAlert(a, ids, a.trail);
}
