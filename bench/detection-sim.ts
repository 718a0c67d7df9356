// A labelled traffic simulation for the auditor's detectors, in simulated time.
//
// Normal agents talk along a stable graph (a planner hub assigning tasks, workers answering and
// collaborating with their ring neighbours, everyone publishing a heartbeat to `topic:status`),
// each at its own rate with slow diurnal-ish drift, a mean-reverting random walk and Poisson
// noise, plus the honest noise of a real bus (schema errors, rate limiting, stale clocks, client
// retries that come back as duplicates). Incidents are injected with a known start, end and the
// responsible agent(s). Every audit event is a real envelope sealed with the SDK and turned into
// its row by the auditor's own `eventToRow`, and the rows go through `agentbus detect replay`'s
// own path (auditor/replay.ts: a real chDB store, the materialized views, the real detection
// engine evaluated at the end of every simulated minute, default config). The same normal traffic
// runs again without incidents (the clean run) to count false alerts. Normal traffic includes
// what must not look like an incident: identical status pings, the same ack to many requests,
// causal request → reply → follow-up chains, and reconnects (connect/disconnect events, the
// server sometimes reporting the old connection's end a few seconds after the new one began).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SigningKey } from '../packages/sdk/src/identity.js';
import { parseEnvelope, sealEnvelope, sha256 } from '../packages/protocol/src/envelope.js';
import { AuditEvent, Reason, Verdict } from '../packages/protocol/src/proto.js';
import { eventToRow } from '../packages/server/src/auditor/rows.js';
import type { AuditRow } from '../packages/server/src/auditor/rows.js';
import type { createDetectionEngine, Alert } from '../packages/server/src/auditor/detect.js';
import { replay } from '../packages/server/src/auditor/replay.js';
import type { ConnEvent } from '../packages/server/src/auditor/connections.js';

export const MIN = 60_000;

export type IncidentKind = 'probe' | 'forged_key' | 'replay_storm' | 'loop' | 'fan_out' | 'identity_reuse';
export const INCIDENT_KINDS: IncidentKind[] = ['probe', 'forged_key', 'replay_storm', 'loop', 'fan_out', 'identity_reuse'];

/** Rules that legitimately detect each kind of incident (the one designed for it first). */
export const EXPECTED_RULES: Record<IncidentKind, string[]> = {
  probe: ['rejection_burst', 'new_edge', 'policy_probe'],
  forged_key: ['signature_failure'],
  replay_storm: ['signature_failure'],
  loop: ['payload_loop'],
  fan_out: ['fan_out', 'new_edge'],
  identity_reuse: ['identity_reuse', 'new_address'],
};

export interface IncidentSpec {
  kind: IncidentKind;
  label: string;
  /** The responsible agent(s): an alert must name one of them first (agents[0]). */
  agents: string[];
  /** Minutes after the simulation start (fractional: seconds matter for time to detect). */
  startMin: number;
  durationMin: number;
  /** Attempts per minute (fan_out: new destinations per minute; loop: bounces per minute). */
  perMin: number;
  /** loop only: the agents of the cycle in order (default `agents`); a chain is cut at max depth 16 and started again. */
  ring?: string[];
  /** probe only: also try recipients outside the graph (false: only forbidden types to known peers). */
  newDestinations?: boolean;
}

export interface SimOptions {
  /** Normal agents (4..8; default 8). */
  agents?: number;
  /** 1: the loud incidents; 2: also a low-and-slow round (default 2). */
  rounds?: 1 | 2;
  /** Minutes of clean history before the first incident: the new-edge learning period (default 60). */
  warmupMinutes?: number;
  /** Quiet minutes after the last incident (more clean hours for the false-alert rate; default 60 with 2 rounds, else 0). */
  tailMinutes?: number;
  /** An alert up to this long after an incident ended still counts for it (default 10). */
  graceMinutes?: number;
  seed?: number;
  /** Detector config passed to the engine (default: the auditor's defaults). */
  detectConfig?: Parameters<typeof createDetectionEngine>[0]['config'];
  log?: (s: string) => void;
}

export interface IncidentOutcome {
  spec: IncidentSpec;
  startMs: number;
  endMs: number;
  expected: string[];
  /** First alert per expected rule naming the responsible agent in [start, end + grace]. */
  firstByRule: Record<string, number>;
  caught: boolean;
  /** Seconds from the start to the first matching alert of any expected rule. */
  secondsToDetect: number | undefined;
  firstRule: string | undefined;
  /** Other rules that also named the agent during the incident. */
  alsoRules: string[];
}

export interface SimResult {
  t0: number;
  minutes: number;
  warmupMinutes: number;
  events: { normal: number; incident: number };
  incidents: IncidentOutcome[];
  clean: { alerts: Alert[]; warmupAlerts: Alert[]; steadyAlerts: Alert[]; steadyHours: number };
  /** Incident run, after the warm-up: alerts naming no agent of an incident in progress. */
  unattributed: Alert[];
  incidentRunAlerts: Alert[];
  evaluations: number;
  wallSeconds: number;
}

// ---------------------------------------------------------------- deterministic randomness

export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function poisson(rnd: () => number, lambda: number): number {
  const l = Math.exp(-lambda);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= rnd();
  } while (p > l);
  return k - 1;
}

const gauss = (rnd: () => number) => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());

// ---------------------------------------------------------------- the agents and their graph

export const AGENT_NAMES = ['planner', 'researcher', 'coder', 'reviewer', 'tester', 'writer', 'ops', 'librarian'];
/** Agents in the manifests that never send (services): out of scope for every simulated agent. */
const SERVICES = ['vault', 'admin', 'payments', 'billing', 'hr-records', 'deploy'];

interface Edge {
  to?: string;
  topic?: string;
  type: string;
  weight: number;
}

interface SimAgent {
  id: string;
  /** Mean messages per minute (heartbeats aside). */
  rate: number;
  phase: number;
  edges: Edge[];
  key: SigningKey;
}

function buildAgents(n: number, rnd: () => number): SimAgent[] {
  if (n < 4 || n > AGENT_NAMES.length) throw new RangeError(`agents: 4..${AGENT_NAMES.length}`);
  const ids = AGENT_NAMES.slice(0, n);
  const workers = ids.slice(1);
  return ids.map((id, i) => {
    const edges: Edge[] = [];
    if (i === 0) for (const w of workers) edges.push({ to: w, type: 'task.assign', weight: 1 });
    else {
      const k = workers.indexOf(id);
      edges.push({ to: ids[0]!, type: 'task.result', weight: 3 });
      for (const nb of new Set([workers[(k + 1) % workers.length]!, workers[(k - 1 + workers.length) % workers.length]!])) {
        edges.push({ to: nb, type: 'review.request', weight: 1 }, { to: nb, type: 'note.post', weight: 0.5 });
      }
    }
    return { id, rate: i === 0 ? 6 : 2 + rnd() * 3, phase: rnd() * 2 * Math.PI, edges, key: SigningKey.generate() };
  });
}

// ---------------------------------------------------------------- audit events, sealed with the SDK

interface Msg {
  causationId?: Uint8Array;
  depth?: number;
  from: string;
  key: { keyId: string; sign: (m: Uint8Array) => Uint8Array };
  to?: string;
  topic?: string;
  type: string;
  payload: string;
  at: number;
  verdict?: Verdict;
  reason?: Reason;
  detail?: string;
  msgId?: Uint8Array;
}

interface Made {
  event: AuditEvent;
  header: Uint8Array;
  signature: Uint8Array;
  payload: Uint8Array;
}

const enc = new TextEncoder();

function make(m: Msg, rnd: () => number): Made {
  const payload = enc.encode(m.payload);
  const sealed = sealEnvelope({
    sender: m.from,
    keyId: m.key.keyId,
    sign: m.key.sign,
    ...(m.topic ? { topic: m.topic } : { recipient: m.to! }),
    type: m.type,
    payload,
    contentType: 'application/json',
    metadata: { prompt_version: 'v3', rationale: 'sim' },
    sentAtMs: m.at - 2 - Math.floor(rnd() * 40),
    ...(m.msgId ? { msgId: m.msgId } : {}),
    ...(m.causationId ? { causationId: m.causationId, depth: m.depth ?? 1 } : {}),
  });
  const parts = parseEnvelope(sealed.bytes);
  if (!parts.ok) throw new Error('simulated envelope does not parse');
  const header = Uint8Array.from(parts.value.headerBytes);
  const signature = Uint8Array.from(parts.value.signature);
  return { event: auditOf(m, header, signature, payload), header, signature, payload };
}

function auditOf(
  m: { from: string; at: number; verdict?: Verdict; reason?: Reason; detail?: string },
  header: Uint8Array,
  signature: Uint8Array,
  payload: Uint8Array,
): AuditEvent {
  return AuditEvent.create({
    eventId: randomBytes(16),
    verifierId: 'v1',
    verifiedAtMs: m.at,
    verdict: m.verdict ?? Verdict.VERDICT_ACCEPTED,
    reason: m.reason ?? Reason.REASON_UNSPECIFIED,
    detail: m.detail ?? '',
    subjectSender: m.from,
    header,
    signature,
    payloadSize: payload.length,
    payloadSha256: sha256(payload),
    effectiveDepth: 0,
    rawSize: 0,
  });
}

type Timeline = Map<number, AuditEvent[]>;

function put(t: Timeline, t0: number, e: AuditEvent): void {
  const m = Math.floor((Number(e.verifiedAtMs) - t0) / MIN);
  let list = t.get(m);
  if (!list) t.set(m, (list = []));
  list.push(e);
}

/** The normal traffic of `minutes` minutes from t0. */
function normalTraffic(agents: SimAgent[], t0: number, minutes: number, rnd: () => number): Timeline {
  const t: Timeline = new Map();
  const byId = new Map(agents.map((a) => [a.id, a]));
  const walk = new Map(agents.map((a) => [a.id, 0]));
  const seen = new Set<string>();
  const seq = new Map(agents.map((a) => [a.id, 0]));
  const day = 1440;
  // Time of day at the start: seeded (not the wall clock), so a seed always gives the same traffic.
  const dayOffset = Math.floor(rnd() * day);
  for (let m = 0; m < minutes; m++) {
    const base = t0 + m * MIN;
    for (const a of agents) {
      // heartbeat, once a minute, unique payload (agent, sequence, load)
      const hb = make(
        {
          from: a.id,
          key: a.key,
          topic: 'status',
          type: 'status.heartbeat',
          at: base + Math.floor(rnd() * 60_000),
          payload: `{"agent":"${a.id}","seq":${m},"load":${rnd().toFixed(3)}}`,
        },
        rnd,
      );
      put(t, t0, hb.event);
      seen.add(`${a.id}>topic:status`);
      // and the same status ping, byte for byte, every minute: identical payloads, no causation — not a loop
      put(
        t,
        t0,
        make({ from: a.id, key: a.key, topic: 'status', type: 'status.ping', at: base + Math.floor(rnd() * 60_000), payload: '{"status":"ok"}' }, rnd).event,
      );
      let w = walk.get(a.id)! * 0.97 + 0.04 * gauss(rnd);
      w = Math.max(-0.3, Math.min(0.3, w));
      walk.set(a.id, w);
      const diurnal = 0.25 * Math.sin((2 * Math.PI * (dayOffset + m)) / day + a.phase);
      const n = poisson(rnd, a.rate * Math.max(0.2, 1 + diurnal + w));
      const total = a.edges.reduce((s, e) => s + e.weight, 0);
      const sends: Edge[] = [];
      for (let k = 0; k < n; k++) {
        let x = rnd() * total;
        const e = a.edges.find((e) => (x -= e.weight) < 0) ?? a.edges[0]!;
        sends.push(e);
      }
      // A stable graph: every edge is used during the first 20 minutes at the latest.
      if (m === 20) for (const e of a.edges) if (!seen.has(`${a.id}>${e.to}`)) sends.push(e);
      for (const e of sends) {
        const at = base + Math.floor(rnd() * 60_000);
        const s = seq.get(a.id)! + 1;
        seq.set(a.id, s);
        const payload = `{"id":"${a.id}-${s}","text":"${'lorem ipsum '.repeat(1 + Math.floor(rnd() * 20))}"}`;
        const r = rnd();
        // honest noise: schema errors, bursts over the rate limit, a skewed clock
        const noise: Partial<Msg> =
          r < 0.01
            ? { verdict: Verdict.VERDICT_REJECTED, reason: Reason.REASON_SCHEMA_INVALID, detail: 'payload: missing field' }
            : r < 0.013
              ? { verdict: Verdict.VERDICT_REJECTED, reason: Reason.REASON_RATE_LIMITED, detail: 'rate' }
              : r < 0.015
                ? { verdict: Verdict.VERDICT_REJECTED, reason: Reason.REASON_STALE_TIMESTAMP, detail: 'skew' }
                : {};
        const msgId = randomBytes(16);
        const made = make({ from: a.id, key: a.key, ...(e.to ? { to: e.to } : { topic: e.topic! }), type: e.type, payload, at, msgId, ...noise }, rnd);
        put(t, t0, made.event);
        // causal replies: the recipient acks (the same ack bytes every time), sometimes the
        // sender follows up on the ack: chains with repeated payloads that never repeat a step
        const peer = e.to ? byId.get(e.to) : undefined;
        if (peer && !noise.verdict && rnd() < 0.5) {
          const ackId = randomBytes(16);
          put(
            t,
            t0,
            make(
              {
                from: peer.id,
                key: peer.key,
                to: a.id,
                type: 'note.post',
                payload: '{"ack":true}',
                at: at + 800 + Math.floor(rnd() * 3000),
                msgId: ackId,
                causationId: msgId,
                depth: 1,
              },
              rnd,
            ).event,
          );
          if (rnd() < 0.3)
            put(
              t,
              t0,
              make(
                {
                  from: a.id,
                  key: a.key,
                  to: peer.id,
                  type: 'note.post',
                  payload: '{"thanks":true}',
                  at: at + 5000 + Math.floor(rnd() * 3000),
                  causationId: ackId,
                  depth: 2,
                },
                rnd,
              ).event,
            );
        }
        seen.add(`${a.id}>${e.to}`);
        // a client retry: the same envelope again, a few seconds later
        if (!noise.verdict && rnd() < 0.006)
          put(
            t,
            t0,
            auditOf({ from: a.id, at: at + 1000 + Math.floor(rnd() * 4000), verdict: Verdict.VERDICT_DUPLICATE }, made.header, made.signature, made.payload),
          );
      }
    }
  }
  return t;
}

// ---------------------------------------------------------------- connections (nats-server's connect/disconnect events)

const nkeyOf = (id: string) => `U${id.toUpperCase().padEnd(55, 'A').slice(0, 55)}`;

/**
 * Each agent connects at the start from its own address and reconnects now and then (nats.js:
 * the old connection is gone before the new one opens; the server may report its disconnect a
 * few seconds late).
 */
function normalConnections(agents: SimAgent[], t0: number, minutes: number, rnd: () => number, ids: { next: number }): ConnEvent[] {
  const out: ConnEvent[] = [];
  agents.forEach((a, i) => {
    const host = `10.0.0.${11 + i}`;
    let at = t0 + Math.floor(rnd() * 20_000);
    let id = ids.next++;
    const ev = (event: ConnEvent['event'], time: number, cid: number, reason = ''): ConnEvent => ({
      time,
      event,
      agent: a.id,
      nkey: nkeyOf(a.id),
      client_id: cid,
      host,
      server: 'n1',
      name: a.id,
      start: at,
      reason,
    });
    out.push(ev('connect', at, id));
    for (let m = 30 + Math.floor(rnd() * 90); m < minutes; m += 60 + Math.floor(rnd() * 120)) {
      const drop = t0 + m * MIN + Math.floor(rnd() * 60_000);
      const next = ids.next++;
      const late = rnd() < 0.5 ? 2000 + Math.floor(rnd() * 5000) : 0; // the server notices the old socket's end late
      out.push(ev('disconnect', drop + late, id, 'Client Closed'));
      at = drop + 300 + Math.floor(rnd() * 1500);
      out.push(ev('connect', at, next));
      id = next;
    }
  });
  return out;
}

function incidentConnections(spec: IncidentSpec, t0: number, ids: { next: number }): ConnEvent[] {
  const id = spec.agents[0]!;
  const start = Math.floor(t0 + spec.startMin * MIN);
  const end = Math.floor(start + spec.durationMin * MIN);
  const cid = ids.next++;
  const host = '203.0.113.7';
  return [
    { time: start, event: 'connect', agent: id, nkey: nkeyOf(id), client_id: cid, host, server: 'n1', name: '', start, reason: '' },
    { time: end, event: 'disconnect', agent: id, nkey: nkeyOf(id), client_id: cid, host, server: 'n1', name: '', start, reason: 'Client Closed' },
  ];
}

/** The audit events of one incident. */
function incidentTraffic(spec: IncidentSpec, agents: SimAgent[], t0: number, rnd: () => number, into: Timeline): number {
  const byId = new Map(agents.map((a) => [a.id, a]));
  const a = byId.get(spec.agents[0]!);
  if (!a) throw new Error(`incident ${spec.label}: unknown agent ${spec.agents[0]}`);
  const start = t0 + spec.startMin * MIN;
  const count = Math.max(1, Math.round(spec.durationMin * spec.perMin));
  const gap = (spec.durationMin * MIN) / count;
  const when = (i: number) => Math.floor(start + i * gap + rnd() * Math.min(gap, 2000));
  const peers = a.edges.filter((e) => e.to).map((e) => e.to!);
  const outOfScope = [...SERVICES, ...agents.map((x) => x.id).filter((x) => x !== a.id && !peers.includes(x))];
  let n = 0;
  const add = (m: Msg) => {
    put(into, t0, make(m, rnd).event);
    n++;
  };
  switch (spec.kind) {
    case 'identity_reuse':
      // connection events only (incidentConnections): the copied credential sends nothing
      break;
    case 'probe':
      // A compromised agent trying recipients outside its manifest and forbidden types.
      for (let i = 0; i < count; i++) {
        if (spec.newDestinations !== false && i % 2 === 0) {
          add({
            from: a.id,
            key: a.key,
            to: outOfScope[(i / 2) % outOfScope.length]!,
            type: 'secrets.read',
            payload: `{"q":"${i}"}`,
            at: when(i),
            verdict: Verdict.VERDICT_REJECTED,
            reason: Reason.REASON_DESTINATION_NOT_ALLOWED,
            detail: 'not allowed',
          });
        } else {
          const types = ['admin.exec', 'secrets.read', 'deploy.trigger', 'payments.transfer'];
          add({
            from: a.id,
            key: a.key,
            to: peers[i % peers.length]!,
            type: types[i % types.length]!,
            payload: `{"q":"${i}"}`,
            at: when(i),
            verdict: Verdict.VERDICT_REJECTED,
            reason: Reason.REASON_TYPE_NOT_ALLOWED,
            detail: 'type not allowed',
          });
        }
      }
      break;
    case 'forged_key': {
      // Someone with the agent's NATS credentials but not its signing key.
      const forger = SigningKey.generate();
      for (let i = 0; i < count; i++) {
        const unknownKey = i % 2 === 0;
        add({
          from: a.id,
          key: unknownKey ? forger : { keyId: a.key.keyId, sign: forger.sign },
          to: peers[i % peers.length]!,
          type: 'task.result',
          payload: `{"id":"x${i}","text":"urgent: rotate credentials"}`,
          at: when(i),
          verdict: Verdict.VERDICT_REJECTED,
          reason: unknownKey ? Reason.REASON_UNKNOWN_KEY : Reason.REASON_BAD_SIGNATURE,
          detail: unknownKey ? forger.keyId : '',
        });
      }
      break;
    }
    case 'replay_storm': {
      // One message accepted, then its msg_id re-sent over and over with fresh timestamps.
      const msgId = randomBytes(16);
      const to = peers[0]!;
      add({ from: a.id, key: a.key, to, type: 'task.result', payload: '{"id":"orig","text":"done"}', at: Math.floor(start), msgId });
      for (let i = 0; i < count; i++) {
        add({
          from: a.id,
          key: a.key,
          to,
          type: 'task.result',
          payload: '{"id":"orig","text":"done"}',
          at: when(i) + 500,
          msgId,
          verdict: Verdict.VERDICT_REJECTED,
          reason: Reason.REASON_REPLAY,
        });
      }
      break;
    }
    case 'loop': {
      // Agents bouncing the same messages round a ring, each caused by the one before (the SDK's
      // reply() sets the causation id); the verifier's depth limit (16) cuts a chain, and the
      // agents start it again. All accepted.
      const ring = (spec.ring ?? spec.agents).map((id) => {
        const x = byId.get(id);
        if (!x) throw new Error(`incident ${spec.label}: unknown agent ${id}`);
        return x;
      });
      if (ring.length < 2) throw new Error(`incident ${spec.label}: needs two agents`);
      let parent: Uint8Array | undefined;
      let depth = 0;
      for (let i = 0; i < count; i++) {
        const x = ring[i % ring.length]!;
        const y = ring[(i + 1) % ring.length]!;
        const msgId = randomBytes(16);
        const step = {
          from: x.id,
          key: x.key,
          to: y.id,
          type: 'review.request',
          payload: `{"text":"step ${i % ring.length}: please take another look and send it on."}`,
          at: when(i),
          msgId,
        };
        if (depth > 16) {
          add({ ...step, causationId: parent!, depth, verdict: Verdict.VERDICT_REJECTED, reason: Reason.REASON_DEPTH_EXCEEDED, detail: `${depth} > 16` });
          parent = undefined;
          depth = 0;
          continue;
        }
        add({ ...step, ...(parent ? { causationId: parent, depth } : {}) });
        parent = msgId;
        depth++;
      }
      break;
    }
    case 'fan_out':
      // Slow exfiltration: a few accepted messages, each to a destination never used before.
      for (let i = 0; i < count; i++) {
        add({
          from: a.id,
          key: a.key,
          to: `ext-${a.id}-${i}`,
          type: 'note.post',
          payload: `{"chunk":${i},"data":"${randomBytes(96).toString('base64')}"}`,
          at: when(i),
        });
      }
      break;
  }
  return n;
}

/**
 * The incidents, placed after the warm-up. Round 1 is loud (what each rule is designed for);
 * round 2 (8 agents only) is the low-and-slow version of each, to show where the default
 * thresholds stop seeing them.
 */
export function incidentPlan(agentIds: string[], rounds: 1 | 2, warmupMinutes: number): { incidents: IncidentSpec[]; minutes: number; graceMinutes: number } {
  const [p, r, c, v, t] = agentIds as [string, string, string, string, string];
  const s = warmupMinutes + 2;
  const incidents: IncidentSpec[] = [
    { kind: 'fan_out', label: 'fan-out exfiltration', agents: [t], startMin: s + 0.5, durationMin: 28, perMin: 0.4 },
    { kind: 'probe', label: 'out-of-scope probe', agents: [r], startMin: s + 2.3, durationMin: 6, perMin: 10 },
    { kind: 'forged_key', label: 'forged-key sender', agents: [p], startMin: s + 9.6, durationMin: 5, perMin: 2 },
    { kind: 'replay_storm', label: 'replay storm', agents: [v], startMin: s + 15.2, durationMin: 3, perMin: 30 },
    { kind: 'loop', label: 'agent loop (2 agents, 12 bounces/min)', agents: [c, v], startMin: s + 21.7, durationMin: 6, perMin: 12 },
    { kind: 'identity_reuse', label: 'copied credential, a second connection for 20 min', agents: [t], startMin: s + 24.2, durationMin: 20, perMin: 0 },
  ];
  let end = s + 44.5;
  if (rounds === 2) {
    if (agentIds.length < 8) throw new RangeError('round 2 needs 8 agents');
    const [w, o, l] = agentIds.slice(5) as [string, string, string];
    const s2 = end + 12;
    incidents.push(
      { kind: 'fan_out', label: 'fan-out exfiltration, slow (1 new recipient / 6 min)', agents: [l], startMin: s2 + 0.4, durationMin: 60, perMin: 1 / 6 },
      {
        kind: 'probe',
        label: 'probe, slow, forbidden types only (4/min)',
        agents: [p],
        startMin: s2 + 3.1,
        durationMin: 10,
        perMin: 4,
        newDestinations: false,
      },
      { kind: 'forged_key', label: 'forged-key sender, slow (1 / 3 min)', agents: [o], startMin: s2 + 16.4, durationMin: 24, perMin: 1 / 3 },
      { kind: 'replay_storm', label: 'replay burst (12 in 40 s)', agents: [w], startMin: s2 + 21.8, durationMin: 40 / 60, perMin: 18 },
      { kind: 'loop', label: 'agent loop, 3 agents, LLM-paced (1 bounce / 20 s)', agents: [r, c, v], startMin: s2 + 27.3, durationMin: 15, perMin: 3 },
    );
    // round 3: the patient attacker — an hour of one attempt a minute, a key forged once every
    // few minutes, a loop at one bounce every four minutes
    const s3 = s2 + 75;
    incidents.push(
      {
        kind: 'probe',
        label: 'probe, patient (1 forbidden type / min for an hour)',
        agents: [t],
        startMin: s3 + 1.2,
        durationMin: 60,
        perMin: 1,
        newDestinations: false,
      },
      { kind: 'forged_key', label: 'forged key, patient (1 / 7 min)', agents: [w], startMin: s3 + 4.5, durationMin: 56, perMin: 1 / 7 },
      { kind: 'loop', label: 'agent loop, 3 agents, slow (1 bounce / 4 min)', agents: [o, l, r], startMin: s3 + 8.9, durationMin: 48, perMin: 1 / 4 },
      { kind: 'identity_reuse', label: 'copied credential, a quick hit (8 s)', agents: [c], startMin: s3 + 30.5, durationMin: 8 / 60, perMin: 0 },
    );
    end = s3 + 62;
  }
  const graceMinutes = 10;
  return { incidents, minutes: Math.ceil(end + graceMinutes + 2), graceMinutes };
}

// ---------------------------------------------------------------- running it

/** The rows through `agentbus detect replay`'s path, in one database of `dir`; its alerts as the auditor's Alert. */
async function runOne(dir: string, database: string, rows: AuditRow[], connections: ConnEvent[], config: SimOptions['detectConfig']): Promise<Alert[]> {
  const got = await replay(rows, {
    store: { dir, database },
    connections: [...connections].sort((a, b) => a.time - b.time),
    ...(config ? { detect: config } : {}),
  });
  return got.map((a) => ({
    alert_id: '',
    rule: a.rule,
    severity: a.severity,
    agents: a.agents,
    window_start: a.window.start,
    window_end: a.window.end,
    detected_at: a.detected_at,
    evidence: a.evidence,
    dedup_key: '',
  }));
}

const firstAgent = (a: Alert) => a.agents[0] ?? '';

export async function runSimulation(opts: SimOptions = {}): Promise<SimResult> {
  const started = Date.now();
  const n = opts.agents ?? 8;
  const rounds = opts.rounds ?? (n >= 8 ? 2 : 1);
  const warmup = opts.warmupMinutes ?? 60;
  const log = opts.log ?? (() => undefined);
  const rnd = prng(opts.seed ?? 7);
  const agents = buildAgents(n, rnd);
  const plan = incidentPlan(
    agents.map((a) => a.id),
    rounds,
    warmup,
  );
  const grace = opts.graceMinutes ?? plan.graceMinutes;
  const minutes = plan.minutes + (opts.tailMinutes ?? (rounds === 2 ? 60 : 0));
  // The simulated span ends a minute before the real now: rows are well inside the TTL.
  const t0 = Math.floor((Date.now() - (minutes + 1) * MIN) / MIN) * MIN;

  const normal = normalTraffic(agents, t0, minutes, rnd);
  const extra: Timeline = new Map();
  let incidentEvents = 0;
  for (const spec of plan.incidents) incidentEvents += incidentTraffic(spec, agents, t0, rnd, extra);
  // connections: their own random stream (the message traffic stays what it was)
  const ids = { next: 1 };
  const cleanConns = normalConnections(agents, t0, minutes, prng((opts.seed ?? 7) + 1), ids);
  const incidentConns = plan.incidents.filter((i) => i.kind === 'identity_reuse').flatMap((i) => incidentConnections(i, t0, ids));
  incidentEvents += incidentConns.length;
  const rowsOf = (t: Timeline, m: number) => (t.get(m) ?? []).map(eventToRow);
  const normalRows = new Map<number, AuditRow[]>();
  for (let m = 0; m < minutes; m++) normalRows.set(m, rowsOf(normal, m));
  const normalCount = [...normalRows.values()].reduce((s, r) => s + r.length, 0);
  log(`  ${n} agents, ${minutes} simulated minutes, ${normalCount} normal events, ${plan.incidents.length} incidents (${incidentEvents} events)`);

  const dir = mkdtempSync(join(tmpdir(), 'agentbus-bench-detect-'));
  let cleanAlerts: Alert[];
  let runAlerts: Alert[];
  try {
    const all = (f: (m: number) => AuditRow[]) => Array.from({ length: minutes }, (_, m) => f(m)).flat();
    cleanAlerts = await runOne(
      dir,
      'sim_clean',
      all((m) => normalRows.get(m)!),
      cleanConns,
      opts.detectConfig,
    );
    log(`  clean run: ${cleanAlerts.length} alerts (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    runAlerts = await runOne(
      dir,
      'sim_incidents',
      all((m) => [...normalRows.get(m)!, ...rowsOf(extra, m)]),
      [...cleanConns, ...incidentConns],
      opts.detectConfig,
    );
    log(`  incident run: ${runAlerts.length} alerts (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const at = (a: Alert) => Date.parse(a.detected_at);
  const warmEnd = t0 + warmup * MIN;
  const outcomes: IncidentOutcome[] = plan.incidents.map((spec) => {
    const startMs = t0 + spec.startMin * MIN;
    const endMs = startMs + spec.durationMin * MIN;
    const inWindow = runAlerts.filter((a) => spec.agents.includes(firstAgent(a)) && at(a) >= startMs && at(a) <= endMs + grace * MIN);
    const expected = EXPECTED_RULES[spec.kind];
    const firstByRule: Record<string, number> = {};
    for (const a of inWindow) if (expected.includes(a.rule) && firstByRule[a.rule] === undefined) firstByRule[a.rule] = (at(a) - startMs) / 1000;
    const hits = Object.entries(firstByRule).sort((x, y) => x[1] - y[1]);
    return {
      spec,
      startMs,
      endMs,
      expected,
      firstByRule,
      caught: hits.length > 0,
      secondsToDetect: hits[0]?.[1],
      firstRule: hits[0]?.[0],
      alsoRules: [...new Set(inWindow.map((a) => a.rule).filter((r) => !expected.includes(r)))].sort(),
    };
  });
  // Attributed: names a responsible agent, and was raised during the incident (+ grace) or its
  // evidence window still covers the incident (a long-window rule re-alerting after its cooldown).
  const about = (a: Alert, o: IncidentOutcome) =>
    o.spec.agents.includes(firstAgent(a)) &&
    ((at(a) >= o.startMs && at(a) <= o.endMs + grace * MIN) || (Date.parse(a.window_start) <= o.endMs && Date.parse(a.window_end) >= o.startMs));
  const unattributed = runAlerts.filter((a) => at(a) >= warmEnd && !outcomes.some((o) => about(a, o)));
  return {
    t0,
    minutes,
    warmupMinutes: warmup,
    events: { normal: normalCount, incident: incidentEvents },
    incidents: outcomes,
    clean: {
      alerts: cleanAlerts,
      warmupAlerts: cleanAlerts.filter((a) => at(a) < warmEnd),
      steadyAlerts: cleanAlerts.filter((a) => at(a) >= warmEnd),
      steadyHours: (minutes - warmup) / 60,
    },
    unattributed,
    incidentRunAlerts: runAlerts,
    evaluations: 2 * minutes,
    wallSeconds: (Date.now() - started) / 1000,
  };
}
