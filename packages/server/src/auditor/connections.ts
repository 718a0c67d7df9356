// "One identity, two places" (issue 18): the auditor follows nats-server's connect and disconnect
// events of the bus account ($SYS.ACCOUNT.AGENTBUS.CONNECT / .DISCONNECT, read by the system-
// account user of nats-config --system-creds), maps each client's nkey to its agent through the
// manifests (nats_user), stores every event in audit_connections, and raises two rules:
//
//   identity_reuse  one agent's nkey connected more times at once than its manifest declares
//                   workers (`replicas`, default 1; docs/design.md §18), or a declared worker
//                   connected from an address none of the agent's connections used before while
//                   others are connected elsewhere. A reconnect is not reuse: nats.js opens the new
//                   connection after it lost the old one, but the server may report the old one's
//                   disconnect a little after the new connect. So a connection over the count (or
//                   from a foreign address) is a pending incident; it is dismissed if an OLDER
//                   connection ends within `overlapMs` (a handover), and it is an alert if the
//                   NEWER one ends while the others are still there (a hit-and-run with a copied
//                   credential), or if it is still over the count (still beside the others)
//                   `overlapMs` after it began. Severity critical when the hosts differ, high on
//                   one host. One incident (until the agent is back within its count) is one alert.
//   new_address     an agent connected from an address none of its earlier connections used.
//                   An agent's first address is learned silently, and so is everything in the
//                   first `learningMs` after the first connection event ever recorded (a fresh
//                   bus). Loopback addresses (127.0.0.0/8, ::1) count as one. Severity medium.
//
// Only agents: service users (verifier, auditor, observer, memory) have no manifest and are
// stored with an empty agent, never alerted on. The tracker is pure (events in, findings out);
// the live follower and `agentbus detect replay` both feed it.
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { z } from 'zod';
import { loadManifestDir } from '@agentbus/protocol/manifest';
import type { Finding } from './detectors/types.js';
import type { AuditStore } from './store.js';
import { msToCh } from './store.js';
import { BUS_ACCOUNT, SYSTEM_INBOX_PREFIX } from '../common/natsconfig.js';
import { readNkeySeed } from './nkey-seed.js';

export const IDENTITY_REUSE_RULE = 'identity_reuse';
export const NEW_ADDRESS_RULE = 'new_address';
export const CONNECTION_RULES = [IDENTITY_REUSE_RULE, NEW_ADDRESS_RULE] as const;

export const connectionsConfigSchema = z.object({
  /** Follow connects and disconnects (needs nats.systemCredsFile and manifestsDir). */
  enabled: z.boolean().default(true),
  /** The manifests directory: nkey → agent (re-read when an unknown nkey connects). */
  manifestsDir: z.string().optional(),
  /** Two live connections of one agent for longer than this are reuse (a reconnect hands over within it). */
  overlapMs: z.number().int().min(0).default(15_000),
  /** After the first connection event ever recorded, addresses are learned without alerts for this long. */
  learningMs: z
    .number()
    .int()
    .min(0)
    .default(5 * 60_000),
  /** identity_reuse on/off, new_address on/off. */
  identityReuse: z.boolean().default(true),
  newAddress: z.boolean().default(true),
});
export type ConnectionsConfig = z.infer<typeof connectionsConfigSchema>;

/** One connection event: as stored in audit_connections and as a replay trace line. */
export interface ConnEvent {
  time: number;
  event: 'connect' | 'disconnect' | 'present';
  /** '' for users without a manifest (services). */
  agent: string;
  nkey: string;
  client_id: number;
  host: string;
  server: string;
  name: string;
  start: number;
  reason: string;
}

interface Live {
  key: string;
  clientId: number;
  host: string;
  server: string;
  start: number;
}

interface Pending {
  agent: string;
  nkey: string;
  newer: Live;
  olders: Map<string, Live>;
  deadline: number;
  /** over_replicas: more connections than declared; foreign_address: a declared worker from an unknown address beside the others. */
  kind: 'over_replicas' | 'foreign_address';
  replicas: number;
}

/** Loopback addresses are one place (a client may come over 127.0.0.1 once and ::1 the next time). */
export function normalizeHost(h: string): string {
  const x = h.trim().toLowerCase();
  if (x === '::1' || /^127\./.test(x) || /^::ffff:127\./.test(x) || x === 'localhost') return 'loopback';
  return x.startsWith('::ffff:') && /^::ffff:\d+\.\d+\.\d+\.\d+$/.test(x) ? x.slice(7) : x;
}

const iso = (ms: number) => new Date(ms).toISOString();
const connKey = (server: string, cid: number) => `${server}/${cid}`;

/**
 * The pure part: feed it events in time order (and `tick` the clock); it returns findings.
 * `known` are the addresses each agent used before (from audit_connections), `firstEvent` the
 * time of the first event ever recorded (the start of the learning period).
 */
export class ConnectionTracker {
  readonly #cfg: ConnectionsConfig;
  readonly #live = new Map<string, Map<string, Live>>();
  readonly #known = new Map<string, Set<string>>();
  readonly #pending: Pending[] = [];
  /** Agents in an incident already alerted (until they are down to one connection). */
  readonly #incident = new Set<string>();
  #firstEvent: number | undefined;
  /** How many connections each agent declares (manifest `replicas`). */
  readonly #replicasOf: (agent: string) => number;

  constructor(
    cfg: Partial<ConnectionsConfig> = {},
    known: Map<string, Iterable<string>> = new Map(),
    firstEvent?: number,
    replicasOf: (agent: string) => number = () => 1,
  ) {
    this.#cfg = connectionsConfigSchema.parse(cfg);
    for (const [a, hs] of known) this.#known.set(a, new Set([...hs].map(normalizeHost)));
    this.#firstEvent = firstEvent;
    this.#replicasOf = replicasOf;
  }

  /** Live connections of an agent (tests, evidence). */
  live(agent: string): Live[] {
    return [...(this.#live.get(agent)?.values() ?? [])];
  }

  /** Forget the live state (the system connection was lost: a fresh CONNZ snapshot follows). */
  resetLive(): void {
    this.#live.clear();
    this.#pending.length = 0;
    this.#incident.clear();
  }

  observe(ev: ConnEvent): Finding[] {
    this.#firstEvent ??= ev.time;
    const out = this.tick(ev.time);
    if (!ev.agent) return out;
    const key = connKey(ev.server, ev.client_id);
    const live = this.#live.get(ev.agent) ?? new Map<string, Live>();
    this.#live.set(ev.agent, live);
    if (ev.event === 'disconnect') {
      live.delete(key);
      for (let i = this.#pending.length - 1; i >= 0; i--) {
        const p = this.#pending[i]!;
        if (p.agent !== ev.agent) continue;
        if (p.newer.key === key) {
          // the newer connection ended while the others were still there: one place too many
          this.#pending.splice(i, 1);
          const older = [...p.olders.values()].find((o) => live.has(o.key));
          const still = p.kind === 'over_replicas' ? live.size >= p.replicas : true;
          if (older && still)
            out.push(...this.#reuse(p, older, ev.time, `the newer connection ended (${ev.reason || 'disconnect'}) while the others were still connected`));
        } else if (p.olders.delete(key) && (p.kind === 'over_replicas' ? live.size <= p.replicas : p.olders.size === 0)) {
          this.#pending.splice(i, 1); // an older one ended within the overlap: a reconnect, a handover
        }
      }
      if (live.size <= this.#replicasOf(ev.agent)) this.#incident.delete(ev.agent);
      return out;
    }
    if (live.has(key)) return out; // a connection CONNZ listed again
    const conn: Live = { key, clientId: ev.client_id, host: ev.host, server: ev.server, start: ev.start || ev.time };
    if (live.size > 0 && !this.#incident.has(ev.agent) && this.#cfg.identityReuse) {
      const replicas = this.#replicasOf(ev.agent);
      const kind = live.size >= replicas ? 'over_replicas' : this.#foreign(ev, live) ? 'foreign_address' : undefined;
      if (kind)
        this.#pending.push({
          agent: ev.agent,
          nkey: ev.nkey,
          newer: conn,
          olders: new Map(live),
          deadline: Math.max(ev.time, conn.start) + this.#cfg.overlapMs,
          kind,
          replicas,
        });
    }
    live.set(key, conn);
    out.push(...this.#address(ev));
    if (this.#cfg.overlapMs === 0) out.push(...this.tick(ev.time));
    return out;
  }

  /** Resolve the pending incidents whose overlap has run out at `now`. */
  tick(now: number): Finding[] {
    const out: Finding[] = [];
    for (let i = 0; i < this.#pending.length; ) {
      const p = this.#pending[i]!;
      if (p.deadline > now) {
        i++;
        continue;
      }
      this.#pending.splice(i, 1);
      const live = this.#live.get(p.agent);
      const older = [...p.olders.values()].find((o) => live?.has(o.key));
      const still = p.kind === 'over_replicas' ? (live?.size ?? 0) > p.replicas : true;
      if (older && still && live?.has(p.newer.key))
        out.push(
          ...this.#reuse(
            p,
            older,
            now,
            p.kind === 'over_replicas'
              ? `${live.size} connections ${Math.round(this.#cfg.overlapMs / 1000)} s after the last one connected, ${p.replicas} declared (replicas)`
              : `both still connected ${Math.round(this.#cfg.overlapMs / 1000)} s after the second connected`,
          ),
        );
    }
    return out;
  }

  /**
   * A declared worker (within the count) from another address: none of the agent's live
   * connections is there, and no earlier connection of the agent was (outside the learning period,
   * like new_address). Workers on machines the agent has used before are not suspicious.
   */
  #foreign(ev: ConnEvent, live: Map<string, Live>): boolean {
    const host = normalizeHost(ev.host);
    if ([...live.values()].some((c) => normalizeHost(c.host) === host)) return false;
    const known = this.#known.get(ev.agent);
    if (!known || known.has(host)) return false;
    return this.#firstEvent !== undefined && ev.time >= this.#firstEvent + this.#cfg.learningMs;
  }

  #reuse(p: Pending, older: Live, now: number, why: string): Finding[] {
    if (this.#incident.has(p.agent)) return [];
    this.#incident.add(p.agent);
    const conns = [older, p.newer];
    const live = this.#live.get(p.agent)?.size ?? 0;
    const hosts = [...new Set(conns.map((c) => c.host))];
    const differ = new Set(conns.map((c) => normalizeHost(c.host))).size > 1;
    return [
      {
        rule: IDENTITY_REUSE_RULE,
        agents: [p.agent],
        windowStart: p.newer.start,
        windowEnd: Math.max(now, p.newer.start + 1),
        severity: differ ? 'critical' : 'high',
        evidence: {
          agent: p.agent,
          nkey: p.nkey,
          client_ids: conns.map((c) => c.clientId),
          hosts,
          servers: [...new Set(conns.map((c) => c.server))],
          connections: conns.map((c) => ({ client_id: c.clientId, host: c.host, server: c.server, start: iso(c.start) })),
          overlap_ms: Math.max(0, now - p.newer.start),
          why,
          kind: p.kind,
          replicas: p.replicas,
          live_connections: live,
        },
        // the two connections: the same pair seen again (an auditor restart) is the same incident
        key: `${IDENTITY_REUSE_RULE}:${p.agent}:${conns
          .map((c) => c.key)
          .sort()
          .join('+')}`,
      },
    ];
  }

  #address(ev: ConnEvent): Finding[] {
    const host = normalizeHost(ev.host);
    const known = this.#known.get(ev.agent);
    if (!known) {
      this.#known.set(ev.agent, new Set([host])); // the agent's first address: its baseline
      return [];
    }
    if (known.has(host)) return [];
    const before = [...known];
    known.add(host);
    if (!this.#cfg.newAddress || this.#firstEvent === undefined || ev.time < this.#firstEvent + this.#cfg.learningMs) return [];
    return [
      {
        rule: NEW_ADDRESS_RULE,
        agents: [ev.agent],
        windowStart: ev.start || ev.time,
        windowEnd: Math.max(ev.time, (ev.start || ev.time) + 1),
        severity: 'medium',
        evidence: {
          agent: ev.agent,
          nkey: ev.nkey,
          host: ev.host,
          client_id: ev.client_id,
          server: ev.server,
          connected_at: iso(ev.start || ev.time),
          known_hosts: before.slice(0, 20),
          known_hosts_total: before.length,
        },
        key: `${NEW_ADDRESS_RULE}:${ev.agent}:${host}`,
      },
    ];
  }
}

/** One sentence per alert, like the detectors' describe(). */
export function describeConnectionAlert(rule: string, who: string, ev: Record<string, unknown>): string | undefined {
  if (rule === IDENTITY_REUSE_RULE) {
    const conns = Array.isArray(ev['connections']) ? (ev['connections'] as { client_id?: unknown; host?: unknown; start?: unknown }[]) : [];
    if (conns.length < 2) return undefined;
    const [a, b] = conns;
    const pair = `client ${String(a!.client_id)} from ${String(a!.host)} (since ${String(a!.start)}) and client ${String(b!.client_id)} from ${String(b!.host)} (since ${String(b!.start)})`;
    const replicas = typeof ev['replicas'] === 'number' ? ev['replicas'] : 1;
    if (ev['kind'] === 'foreign_address')
      return `${who}'s NATS credential was used from ${String(b!.host)}, an address none of its connections used before, while it was connected elsewhere (${replicas} workers declared): ${pair}`;
    if (replicas > 1) {
      const n = typeof ev['live_connections'] === 'number' && ev['live_connections'] > replicas ? ev['live_connections'] : replicas + 1;
      return `${who}'s NATS credential was connected ${n} times at once, more than its ${replicas} declared workers (replicas): ${pair}`;
    }
    return `${who}'s NATS credential was connected twice at once: ${pair}`;
  }
  if (rule === NEW_ADDRESS_RULE) {
    if (typeof ev['host'] !== 'string') return undefined;
    const known = Array.isArray(ev['known_hosts']) ? (ev['known_hosts'] as string[]) : [];
    return `${who} connected from ${ev['host']} (client ${String(ev['client_id'])}, ${String(ev['connected_at'])}), an address it never used before${known.length ? ` (it used ${known.join(', ')})` : ''}`;
  }
  return undefined;
}

// ---- nats-server's events ------------------------------------------------------------------

const ClientInfo = z.looseObject({
  start: z.string().optional(),
  stop: z.string().optional(),
  host: z.string().default(''),
  id: z.number().int().min(0),
  acc: z.string().optional(),
  user: z.string().default(''),
  name: z.string().default(''),
});
const ServerEvent = z.looseObject({
  timestamp: z.string().optional(),
  server: z.looseObject({ name: z.string().default(''), id: z.string().default('') }),
  client: ClientInfo,
  reason: z.string().default(''),
});

const ms = (s: string | undefined, dflt: number) => {
  const t = s ? Date.parse(s) : NaN;
  return Number.isFinite(t) ? t : dflt;
};

/** A $SYS.ACCOUNT.<acc>.CONNECT / .DISCONNECT message as a ConnEvent (agent resolved by the caller). */
export function parseServerEvent(kind: 'connect' | 'disconnect', data: unknown, agentOf: (nkey: string) => string, now = Date.now()): ConnEvent | undefined {
  const r = ServerEvent.safeParse(data);
  if (!r.success) return undefined;
  const { client: c, server: s } = r.data;
  const start = ms(c.start, now);
  const time = kind === 'connect' ? start : ms(c.stop ?? r.data.timestamp, now);
  return {
    time,
    event: kind,
    agent: agentOf(c.user),
    nkey: c.user,
    client_id: c.id,
    host: c.host,
    server: s.name || s.id,
    name: c.name,
    start,
    reason: kind === 'disconnect' ? r.data.reason : '',
  };
}

// ---- the store -----------------------------------------------------------------------------

export async function insertConnections(store: AuditStore, evs: ConnEvent[]): Promise<void> {
  if (evs.length === 0) return;
  await store.client.insert({
    table: store.table('audit_connections'),
    values: evs.map((e) => ({ ...e, time: msToCh(e.time), start: msToCh(e.start) })),
    format: 'JSONEachRow',
  });
}

/** Every agent's addresses so far, and the time of the first event recorded (the learning period). */
export async function loadKnownAddresses(store: AuditStore): Promise<{ known: Map<string, string[]>; firstEvent: number | undefined }> {
  const rows = await store.query<{ agent: string; hosts: string[] }>(
    `SELECT agent, groupUniqArray(host) AS hosts FROM ${store.table('audit_connections')} WHERE agent != '' AND event IN ('connect', 'present') GROUP BY agent`,
  );
  const first = await store.query<{ n: number; t: number }>(
    `SELECT count() AS n, toUnixTimestamp64Milli(min(time)) AS t FROM ${store.table('audit_connections')}`,
  );
  return { known: new Map(rows.map((r) => [r.agent, r.hosts])), firstEvent: Number(first[0]?.n ?? 0) > 0 ? Number(first[0]!.t) : undefined };
}

// ---- the live follower ---------------------------------------------------------------------

export interface ConnectionFollower {
  stats(): { events: number; snapshots: number; lastError: string | undefined };
  /** Run the overlap clock now (tests use it with a simulated `now`). */
  tick(now?: number): Promise<void>;
  /** Resolves when the first CONNZ snapshot is in. */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

export interface FollowerOptions {
  store: AuditStore;
  url: string;
  systemCredsFile: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  config: ConnectionsConfig;
  raise: (findings: Finding[], now: number) => Promise<unknown>;
  logger?: Logger;
}

/**
 * The nkey → agent map from the manifests, re-read (at most once a second) when an unknown nkey
 * appears, and each agent's declared workers (`replicas`), re-read at most once a second when asked.
 */
function agentResolver(dir: string | undefined, logger?: Logger): { agentOf: (nkey: string) => string; replicasOf: (agent: string) => number } {
  let map = new Map<string, string>();
  let replicas = new Map<string, number>();
  let loadedAt = 0;
  const load = () => {
    loadedAt = Date.now();
    if (!dir) return;
    try {
      const ms = loadManifestDir(dir);
      map = new Map(ms.map((m) => [m.nats_user, m.agent]));
      replicas = new Map(ms.map((m) => [m.agent, m.replicas]));
    } catch (e) {
      logger?.warn({ err: (e as Error).message }, 'cannot read the manifests; keeping the agents known so far');
    }
  };
  load();
  return {
    agentOf: (nkey) => {
      if (!map.has(nkey) && Date.now() - loadedAt > 1000) load();
      return map.get(nkey) ?? '';
    },
    replicasOf: (agent) => {
      if (Date.now() - loadedAt > 1000) load();
      return replicas.get(agent) ?? 1;
    },
  };
}

export async function startConnectionFollower(o: FollowerOptions): Promise<ConnectionFollower> {
  const { store, logger } = o;
  const { agentOf, replicasOf } = agentResolver(o.config.manifestsDir, logger);
  const { known, firstEvent } = await loadKnownAddresses(store);
  const tracker = new ConnectionTracker(o.config, known, firstEvent, replicasOf);
  const st = { events: 0, snapshots: 0, lastError: undefined as string | undefined };
  let chain: Promise<unknown> = Promise.resolve();
  // one event at a time, in arrival order: store the row, then feed the tracker, then alert
  const handle = (evs: ConnEvent[], now: number) => {
    chain = chain.then(async () => {
      try {
        await insertConnections(store, evs);
        const findings = evs.flatMap((e) => tracker.observe(e));
        if (findings.length) await o.raise(findings, now);
        st.events += evs.length;
      } catch (e) {
        st.lastError = (e as Error).message;
        logger?.error({ err: st.lastError }, 'connection event not handled');
      }
    });
    return chain;
  };
  const nc: NatsConnection = await connect({
    servers: o.url.split(','),
    name: 'agentbus-auditor-system',
    inboxPrefix: SYSTEM_INBOX_PREFIX,
    authenticator: nkeyAuthenticator(readNkeySeed(o.systemCredsFile)),
    maxReconnectAttempts: -1,
    ...(o.tls ? { tls: { ...o.tls } } : {}),
  });
  const dec = new TextDecoder();
  const subs: Subscription[] = [];
  for (const kind of ['connect', 'disconnect'] as const) {
    subs.push(
      nc.subscribe(`$SYS.ACCOUNT.${BUS_ACCOUNT}.${kind.toUpperCase()}`, {
        callback: (err, m) => {
          if (err) return void (st.lastError = err.message);
          let data: unknown;
          try {
            data = JSON.parse(dec.decode(m.data));
          } catch {
            return;
          }
          const ev = parseServerEvent(kind, data, agentOf);
          if (ev) void handle([ev], Date.now());
        },
      }),
    );
  }
  await nc.flush();

  /** The connections the servers have now (every server answers $SYS.REQ.SERVER.PING.CONNZ). */
  async function snapshot(): Promise<void> {
    const now = Date.now();
    const evs: ConnEvent[] = [];
    const it = await nc.requestMany('$SYS.REQ.SERVER.PING.CONNZ', JSON.stringify({ auth: true, limit: 100_000 }), {
      strategy: 'stall',
      stall: 300,
      maxWait: 2000,
    });
    for await (const m of it) {
      let r: {
        server?: { name?: string; id?: string };
        data?: { connections?: { cid: number; ip?: string; start?: string; authorized_user?: string; account?: string; name?: string }[] };
      };
      try {
        r = JSON.parse(dec.decode(m.data));
      } catch {
        continue;
      }
      const server = r.server?.name || r.server?.id || '';
      for (const c of r.data?.connections ?? []) {
        if (c.account !== BUS_ACCOUNT || !c.authorized_user) continue;
        const start = ms(c.start, now);
        evs.push({
          time: now,
          event: 'present',
          agent: agentOf(c.authorized_user),
          nkey: c.authorized_user,
          client_id: c.cid,
          host: c.ip ?? '',
          server,
          name: c.name ?? '',
          start,
          reason: '',
        });
      }
    }
    evs.sort((a, b) => a.start - b.start);
    await handle(evs, now);
    st.snapshots++;
  }
  const ready = snapshot().catch((e) => {
    st.lastError = (e as Error).message;
    logger?.error({ err: st.lastError }, 'CONNZ snapshot failed');
  });
  // events missed while the system connection was down: start again from a fresh snapshot
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'reconnect') {
        chain = chain.then(() => tracker.resetLive());
        void snapshot().catch((e) => (st.lastError = (e as Error).message));
      }
    }
  })();
  const tick = async (now = Date.now()) => {
    chain = chain
      .then(async () => {
        const f = tracker.tick(now);
        if (f.length) await o.raise(f, now);
      })
      .catch((e) => {
        st.lastError = (e as Error).message;
      });
    await chain;
  };
  const timer = setInterval(() => void tick(), 1000);
  timer.unref();
  logger?.info(
    { account: BUS_ACCOUNT, overlap_ms: o.config.overlapMs, learning_ms: o.config.learningMs, manifests: o.config.manifestsDir ?? null },
    'following connect/disconnect events',
  );
  return {
    stats: () => ({ ...st }),
    tick,
    ready,
    async stop() {
      clearInterval(timer);
      for (const s of subs) s.unsubscribe();
      await chain.catch(() => undefined);
      await nc.drain().catch(() => nc.close());
    },
  };
}
