// Sender partitions (docs/design.md §8). nats-server maps every agentbus.in.<sender> to
// agentbus.part.<p>.<sender> with p = fnv1a32(sender) mod N (the server's partition()
// transform), so each sender's messages always reach the one verifier that owns partition p.
// That verifier keeps the sender's replay, depth and rate state in memory: no shared round
// trip per message. Ownership is a lease in a JetStream KV bucket; a verifier that takes a
// partition over rebuilds its replay state from the AUDIT stream (accepted events of the skew
// window) before it subscribes.
import { Kvm, KvWatchInclude } from '@nats-io/kv';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { StorageType } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import * as D from '@agentbus/protocol';

/** FNV-1a 32-bit, as nats-server's subject transform partition() computes it. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function partitionOf(sender: string, partitions: number): number {
  return fnv1a32(sender) % partitions;
}

/** The nats-server `mappings` block that routes senders to partitions. */
export function partitionMapping(partitions: number): string {
  return `mappings = {\n  "${D.SUBJECT_IN_PREFIX}*": "${D.SUBJECT_PART_PREFIX}{{partition(${partitions},1)}}.{{wildcard(1)}}"\n}`;
}

export interface PartitionHooks {
  /**
   * Called when this verifier becomes the owner of these partitions (leased already): rebuild
   * their state, then subscribe. Several at once share one read of the audit stream.
   */
  acquire(ps: number[]): Promise<void>;
  /** Called before this verifier gives a partition up: unsubscribe, finish in-flight work. */
  release(p: number): Promise<void>;
}

/**
 * Leases in KV bucket AGENTBUS_PARTITIONS: member.<id> (heartbeat) and part.<p> (owner).
 * Each verifier aims at ceil(N / members) partitions; a lease not renewed within the TTL
 * expires and another verifier takes the partition over.
 */
export class PartitionManager {
  #kv!: KV;
  #owned = new Map<number, number>(); // partition → revision of our lease
  #busy = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  readonly ttlMs: number;

  constructor(
    private readonly nc: NatsConnection,
    private readonly id: string,
    readonly partitions: number,
    private readonly hooks: PartitionHooks,
    private readonly log: Logger,
    opts: { ttlMs?: number; replicas?: number } = {},
  ) {
    this.ttlMs = opts.ttlMs ?? D.DEFAULT_LEASE_TTL_MS;
    this.replicas = opts.replicas ?? 1;
  }
  private readonly replicas: number;

  owned(): number[] {
    return [...this.#owned.keys()].sort((a, b) => a - b);
  }

  async start(): Promise<void> {
    this.#kv = await new Kvm(this.nc).create(D.PARTITION_BUCKET, { ttl: this.ttlMs, history: 1, replicas: this.replicas, storage: StorageType.Memory });
    await this.tick();
    this.#timer = setInterval(() => void this.tick(), Math.max(100, Math.floor(this.ttlMs / 5)));
    // A released lease (graceful hand-over or shutdown) is taken at once, not at the next tick.
    void (async () => {
      const w = await this.#kv.watch({ key: 'part.*', include: KvWatchInclude.UpdatesOnly });
      this.#watch = w;
      for await (const e of w) {
        if (this.#stopped) break;
        if (e.operation !== 'PUT') setTimeout(() => void this.tick(), 20);
      }
    })().catch(() => undefined);
  }
  #watch: { stop(): void } | undefined;

  async tick(): Promise<void> {
    if (this.#stopped) return;
    if (this.#busy) {
      this.#again = true;
      return;
    }
    this.#busy = true;
    try {
      await this.#kv.put(`member.${this.id}`, new TextEncoder().encode(String(Date.now())));
      // renew what we hold
      for (const [p, rev] of [...this.#owned]) {
        try {
          this.#owned.set(p, await this.#kv.update(`part.${p}`, new TextEncoder().encode(this.id), rev));
        } catch (e) {
          // Our lease expired (a slow tick under load) or another verifier took the partition.
          // If nobody holds it, take it straight back: the state in memory is still complete.
          const cur = await this.#kv.get(`part.${p}`).catch(() => null);
          const holder = cur && cur.operation === 'PUT' ? new TextDecoder().decode(cur.value) : undefined;
          if (holder === undefined) {
            try {
              this.#owned.set(p, await this.#kv.create(`part.${p}`, new TextEncoder().encode(this.id)));
              this.log.warn({ partition: p }, 'partition lease had expired; renewed');
              continue;
            } catch {
              /* taken meanwhile */
            }
          } else if (holder === this.id && cur) {
            this.#owned.set(p, cur.revision);
            continue;
          }
          this.log.warn({ partition: p, err: (e as Error).message }, 'lost partition lease');
          this.#owned.delete(p);
          await this.hooks.release(p);
        }
      }
      const members = new Set<string>();
      for await (const k of await this.#kv.keys('member.*')) members.add(k.slice(7));
      const target = Math.ceil(this.partitions / Math.max(1, members.size));
      // give up extras (a new member joined)
      while (this.#owned.size > target) {
        const p = Math.max(...this.#owned.keys());
        await this.hooks.release(p);
        await this.#kv.delete(`part.${p}`, { previousSeq: this.#owned.get(p)! }).catch(() => undefined);
        this.#owned.delete(p);
        this.log.info({ partition: p }, 'released partition');
      }
      // take free partitions up to the target: lease them all first, then one rebuild for all
      const taken: number[] = [];
      for (let p = 0; p < this.partitions && this.#owned.size < target; p++) {
        if (this.#owned.has(p)) continue;
        let rev: number;
        try {
          rev = await this.#kv.create(`part.${p}`, new TextEncoder().encode(this.id));
        } catch {
          continue; // owned by another verifier
        }
        this.#owned.set(p, rev);
        taken.push(p);
      }
      if (taken.length) {
        try {
          await this.hooks.acquire(taken);
          this.log.info({ partitions: taken }, 'acquired partitions');
        } catch (e) {
          this.log.error({ partitions: taken, err: (e as Error).message }, 'acquire failed; releasing');
          for (const p of taken) {
            this.#owned.delete(p);
            await this.hooks.release(p).catch(() => undefined);
            await this.#kv.delete(`part.${p}`).catch(() => undefined);
          }
        }
      }
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'partition lease tick failed');
    } finally {
      this.#busy = false;
      if (this.#again && !this.#stopped) {
        this.#again = false;
        setTimeout(() => void this.tick(), 10);
      }
    }
  }
  #again = false;

  /** Give every partition up (graceful shutdown), so others take over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#watch?.stop();
    while (this.#busy) await new Promise((r) => setTimeout(r, 10));
    for (const [p, rev] of [...this.#owned]) {
      await this.hooks.release(p);
      await this.#kv.delete(`part.${p}`, { previousSeq: rev }).catch(() => undefined);
      this.#owned.delete(p);
    }
    await this.#kv.delete(`member.${this.id}`).catch(() => undefined);
  }

  /** Stop renewing without releasing (tests: simulate a crash). */
  abandon(): void {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#watch?.stop();
  }
}
