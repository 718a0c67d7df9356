// Quarantine at NATS (issue 24 item 8): a sender past its rejection budget is not only shed by
// the verifier — which still pays for every message nats-server delivers to it — but loses its
// NATS user for a cool-down: no publish permission, no connection, so its messages stop before
// the verifier (and before nats-server does any work for them).
//
//   verifier    the owner of the sender's partition writes a record to the KV bucket
//               agentbus_quarantine when it starts shedding a sender that is not quarantined:
//               { agent, until_ms, level, shed, at_ms, by }. The sender is the subject token —
//               the identity NATS authenticated — never a header's claim, so a flood cannot get
//               anybody else quarantined. The cool-down doubles (level + 1) when the sender is
//               quarantined again within one cool-down of the last one ending (the flood
//               lasts), up to a maximum; the audit event of its shed messages says so.
//   followers   whoever writes a nats-server's config (the dev bus for all its nodes; the test
//               and bench buses) watch the bucket, leave quarantined agents out of the users
//               list and reload the server(s) (SIGHUP). nats-server 2.9 re-authenticates every
//               connection on a reload: a user that is gone is disconnected ("Authorization
//               Violation") and refused until it is back; ~15 ms per reload. (Measured on
//               2.9.10: changed permissions do apply to open connections — `publish: { deny:
//               [">"] }` gave "Permissions Violation for Publish" on the next publish with the
//               connection kept — but each refused message still cost nats-server an -ERR and
//               a log line: ~25% of a core at 20k msgs/s open loop. Dropping the user costs it
//               nothing per message.) In a cluster every node's config is rewritten and reloaded.
//   release     by itself when until_ms passes (each follower has a timer), or at once with
//               `agentbus keys release <agent>`, which writes until_ms = now and released_by.
import { Kvm, KvWatchInclude } from '@nats-io/kv';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { AGENT_ID_RE } from '@agentbus/protocol';

export const QUARANTINE_BUCKET = 'agentbus_quarantine';
/** The alert rule the auditor raises for each quarantine it reads in the audit trail. */
export const QUARANTINE_RULE = 'sender_quarantined';

/** The quarantine in a shed summary's detail, as the verifier writes it (its own signed text, never the sender's). */
export function quarantineDetail(until: number, coolMs: number, level: number): string {
  return `quarantined at NATS until ${new Date(until).toISOString()} (cool-down ${coolMs / 1000} s, #${level + 1})`;
}
const QUARANTINE_DETAIL_RE = /quarantined at NATS until (\S+) \(cool-down ([\d.]+) s, #(\d+)\)/;

/** The quarantine a shed row reports, if any. */
export function quarantineOfRow(r: { reason: string; shed_count: number; detail: string }): { until: string; coolDownS: number; level: number } | undefined {
  if (r.reason !== 'rejection_budget_exceeded' || !(r.shed_count > 0)) return undefined;
  const m = QUARANTINE_DETAIL_RE.exec(r.detail);
  return m ? { until: m[1]!, coolDownS: Number(m[2]), level: Number(m[3]) } : undefined;
}
/** Default first cool-down and its ceiling. */
export const DEFAULT_QUARANTINE_MS = 10_000;
export const DEFAULT_QUARANTINE_MAX_MS = 10 * 60_000;

export interface QuarantineRecord {
  agent: string;
  /** The quarantine ends at this time (ms since the epoch); a release sets it to the release time. */
  until_ms: number;
  /** 0 for a first quarantine; +1 each time the sender is quarantined again within a cool-down of the last one's end. */
  level: number;
  /** Messages shed when it was quarantined. */
  shed: number;
  at_ms: number;
  /** The verifier that quarantined it. */
  by: string;
  /** Set by a release before until_ms (`agentbus keys release`). */
  released_by?: string;
  released_at_ms?: number;
}

/** The cool-down of a quarantine at `level`: base × 2^level, at most max. */
export function coolDownMs(level: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(level, 30));
}

/** The level of a new quarantine, given the last record of the agent (if any). */
export function nextLevel(last: QuarantineRecord | undefined, now: number, baseMs: number, maxMs: number): number {
  if (!last) return 0;
  // the flood lasts: quarantined again within one cool-down of the last one's end
  return now - last.until_ms <= coolDownMs(last.level, baseMs, maxMs) ? last.level + 1 : 0;
}

export async function openQuarantineKv(nc: NatsConnection, replicas = 1): Promise<KV> {
  return new Kvm(nc).create(QUARANTINE_BUCKET, { history: 5, replicas });
}

function parse(v: Uint8Array): QuarantineRecord | undefined {
  try {
    const r = JSON.parse(new TextDecoder().decode(v)) as QuarantineRecord;
    return r && typeof r.agent === 'string' && AGENT_ID_RE.test(r.agent) && Number.isFinite(r.until_ms) ? r : undefined;
  } catch {
    return undefined;
  }
}

export function encodeRecord(r: QuarantineRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(r));
}

/**
 * The bucket, watched: every agent's last record, and `onChange(active)` with the agents
 * quarantined now whenever that set changes (a record arrives, or a cool-down ends).
 */
export class QuarantineWatch {
  readonly records = new Map<string, QuarantineRecord>();
  #active = '';
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #stopWatch: (() => void) | undefined;
  /** Resolves once the records present at start were read. */
  readonly ready: Promise<void>;

  private constructor(
    readonly kv: KV,
    readonly onChange: (active: string[]) => void,
    readonly log?: Logger,
  ) {
    let markReady!: () => void;
    this.ready = new Promise((r) => (markReady = r));
    void this.#run(markReady);
  }

  static async start(nc: NatsConnection, onChange: (active: string[]) => void, o: { replicas?: number; log?: Logger } = {}): Promise<QuarantineWatch> {
    const kv = await openQuarantineKv(nc, o.replicas ?? 1);
    const w = new QuarantineWatch(kv, onChange, o.log);
    await w.ready;
    return w;
  }

  /** The bucket's revision each record came from (the watch and the initial read may overlap). */
  #revs = new Map<string, number>();

  #take(e: { key: string; operation: string; value: Uint8Array; revision: number }): void {
    if ((this.#revs.get(e.key) ?? 0) >= e.revision) return;
    this.#revs.set(e.key, e.revision);
    const r = e.operation === 'PUT' ? parse(e.value) : undefined;
    if (r && r.agent === e.key) this.records.set(r.agent, r);
    else this.records.delete(e.key);
  }

  async #run(markReady: () => void): Promise<void> {
    try {
      const it = await this.kv.watch({ include: KvWatchInclude.LastValue });
      this.#stopWatch = () => it.stop();
      // what is in the bucket now (the watch delivers it too, asynchronously): read it before `ready`
      void (async () => {
        for await (const k of await this.kv.keys()) {
          const e = await this.kv.get(k);
          if (e) this.#take(e);
        }
      })()
        .catch((e: unknown) => this.log?.error({ err: (e as Error).message }, 'quarantine bucket not read'))
        .finally(() => {
          this.#evaluate();
          markReady();
        });
      for await (const e of it) {
        this.#take(e);
        this.#evaluate();
      }
    } catch (e) {
      if (!this.#stopped) this.log?.error({ err: (e as Error).message }, 'quarantine watch ended');
    } finally {
      markReady();
    }
  }

  /** Agents quarantined at `now`. */
  active(now = Date.now()): string[] {
    return [...this.records.values()]
      .filter((r) => r.until_ms > now)
      .map((r) => r.agent)
      .sort();
  }

  isActive(agent: string, now = Date.now()): boolean {
    const r = this.records.get(agent);
    return r !== undefined && r.until_ms > now;
  }

  #evaluate(): void {
    if (this.#stopped) return;
    const now = Date.now();
    const active = this.active(now);
    const key = active.join(',');
    if (key !== this.#active) {
      this.#active = key;
      this.onChange(active);
    }
    // the next cool-down to end
    if (this.#timer) clearTimeout(this.#timer);
    const next = Math.min(...[...this.records.values()].map((r) => r.until_ms).filter((t) => t > now));
    if (Number.isFinite(next)) {
      this.#timer = setTimeout(() => this.#evaluate(), Math.max(1, next - now + 1));
      this.#timer.unref();
    }
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#stopWatch?.();
  }
}

/**
 * A follower: keeps nats-server configs in step with the bucket. `apply(active)` rewrites the
 * config(s) without those agents' users and reloads the server(s); calls
 * never overlap, and the last set wins.
 */
export async function followQuarantine(
  nc: NatsConnection,
  apply: (active: string[]) => Promise<void>,
  o: { replicas?: number; log?: Logger } = {},
): Promise<{ stop(): Promise<void>; watch: QuarantineWatch }> {
  let running: Promise<void> = Promise.resolve();
  const onChange = (active: string[]) => {
    running = running
      .then(() => apply(active))
      .then(
        () => o.log?.warn({ quarantined: active }, active.length ? 'nats-server: quarantined agents cut off' : 'nats-server: no agent quarantined'),
        (e: unknown) => o.log?.error({ err: (e as Error).message, quarantined: active }, 'quarantine not applied to nats-server'),
      );
  };
  const watch = await QuarantineWatch.start(nc, onChange, o);
  return {
    watch,
    async stop() {
      watch.stop();
      await running;
    },
  };
}

/** End an agent's quarantine now (`agentbus keys release`). False when it was not quarantined. */
export async function releaseQuarantine(
  nc: NatsConnection,
  agent: string,
  by: string,
  now = Date.now(),
): Promise<{ released: boolean; record: QuarantineRecord | undefined; previousUntil?: number }> {
  const kv = await openQuarantineKv(nc);
  const e = await kv.get(agent);
  const r = e && e.operation === 'PUT' ? parse(e.value) : undefined;
  if (!r || r.until_ms <= now) return { released: false, record: r };
  const next: QuarantineRecord = { ...r, until_ms: now, released_by: by, released_at_ms: now };
  await kv.update(agent, encodeRecord(next), e!.revision);
  return { released: true, record: next, previousUntil: r.until_ms };
}
