// The AUDIT stream, defined once: the verifier, the auditor (and the tests) create it with this
// config if it is missing, so whichever process starts first makes the same stream.
import { jetstreamManager, RetentionPolicy, StorageType, DiscardPolicy } from '@nats-io/jetstream';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import * as D from '@agentbus/protocol';

const NS_PER_MS = 1_000_000;
export const AUDIT_DUPLICATE_WINDOW_MS = 120_000;

/** Create the audit stream if missing (idempotent; a lost creation race is fine). */
export async function ensureAuditStreamWith(jsm: JetStreamManager, opts: { name?: string; replicas?: number } = {}): Promise<void> {
  const name = opts.name ?? D.AUDIT_STREAM;
  try {
    await jsm.streams.info(name);
    return;
  } catch {
    // not found: create below
  }
  try {
    await jsm.streams.add({
      name,
      subjects: [`${D.SUBJECT_AUDIT_PREFIX}>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: D.DEFAULT_AUDIT_MAX_AGE_MS * NS_PER_MS,
      duplicate_window: AUDIT_DUPLICATE_WINDOW_MS * NS_PER_MS,
      num_replicas: opts.replicas ?? 1,
    });
  } catch (e) {
    // another process may have created it meanwhile
    await jsm.streams.info(name).catch(() => {
      throw e;
    });
  }
}

export async function ensureAuditStream(nc: NatsConnection, replicas = 1): Promise<void> {
  await ensureAuditStreamWith(await jetstreamManager(nc), { replicas });
}
