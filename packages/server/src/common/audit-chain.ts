// Tamper-evident audit batches (docs/design.md §10): the verifier seals each group commit as a link of
// a hash chain and signs it with its own service key.
//
//   batch      = AuditBatch{ events, verifier_id, chain_id, seq, prev_hash, key_id, created_at_ms, deliveries }
//   signature  = Ed25519(verifier audit key, "agentbus/v1/audit-batch\0" || batch)
//   prev_hash  = SHA-256(previous batch bytes of the same chain), 32 zero bytes for seq 1
//   on the wire (AUDIT stream): SignedAuditBatch{ batch, signature }
//
// chain_id is random per verifier process; seq counts from 1 within it. Anyone holding the
// verifier's public key can then prove that a set of rows is exactly what the verifier decided:
// an altered, inserted or deleted event breaks a signature, a deleted batch leaves a sequence gap.
import { randomBytes } from 'node:crypto';
import { AuditBatch, SignedAuditBatch } from '@agentbus/protocol';
import type { IAuditEvent, IDeliveryRecord } from '@agentbus/protocol';
import { sha256, toHex, toSafeNumber } from '@agentbus/protocol';
import type { Ed25519Backend } from '@agentbus/protocol';

export const AUDIT_BATCH_DOMAIN = new TextEncoder().encode('agentbus/v1/audit-batch\0');
export const CHAIN_ID_BYTES = 16;
export const ZERO_HASH = new Uint8Array(32);

/** What signs audit batches: the verifier's audit key (ServiceIdentity.auditKey()). */
export interface AuditSigner {
  keyId: string;
  publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

export function batchSigningInput(batch: Uint8Array): Uint8Array {
  const out = new Uint8Array(AUDIT_BATCH_DOMAIN.length + batch.length);
  out.set(AUDIT_BATCH_DOMAIN, 0);
  out.set(batch, AUDIT_BATCH_DOMAIN.length);
  return out;
}

export interface SealedBatch {
  /** The SignedAuditBatch bytes: what is published (and re-published, unchanged, on a retry). */
  data: Uint8Array;
  /** JetStream message id: the chain position, so a resend is deduplicated by the stream. */
  msgId: string;
  seq: number;
}

/** One verifier process's chain: assigns seq and prev_hash, signs. Not safe to share between processes. */
export class ChainSealer {
  readonly chainId = randomBytes(CHAIN_ID_BYTES);
  readonly chainHex = toHex(this.chainId);
  #seq = 0;
  #prev: Uint8Array = ZERO_HASH;

  constructor(
    readonly verifierId: string,
    readonly signer: AuditSigner,
  ) {}

  get seq(): number {
    return this.#seq;
  }

  seal(events: IAuditEvent[], deliveries: IDeliveryRecord[] = [], now = Date.now()): SealedBatch {
    const seq = ++this.#seq;
    const batch = AuditBatch.encode({
      events,
      verifierId: this.verifierId,
      chainId: this.chainId,
      seq,
      prevHash: this.#prev,
      keyId: this.signer.keyId,
      createdAtMs: now,
      deliveries,
    }).finish();
    const signature = this.signer.sign(batchSigningInput(batch));
    this.#prev = sha256(batch);
    return { data: SignedAuditBatch.encode({ batch, signature }).finish(), msgId: `${this.chainHex}.${seq}`, seq };
  }
}

export interface OpenedBatch {
  /** The encoded AuditBatch exactly as signed. */
  batchBytes: Uint8Array;
  signature: Uint8Array;
  batch: AuditBatch;
  /** `<chain_id hex>:<seq>` */
  batchId: string;
  chainHex: string;
  seq: number;
  hashHex: string;
}

/** Decode a SignedAuditBatch (no signature check: that needs the pinned key). Never throws. */
export function openSignedBatch(data: Uint8Array): { ok: true; value: OpenedBatch } | { ok: false; detail: string } {
  let signed: SignedAuditBatch;
  let batch: AuditBatch;
  try {
    signed = SignedAuditBatch.decode(data);
    batch = AuditBatch.decode(signed.batch);
  } catch (e) {
    return { ok: false, detail: `audit batch does not decode: ${(e as Error).message}` };
  }
  if (signed.batch.length === 0) return { ok: false, detail: 'audit batch is empty' };
  const chainHex = toHex(batch.chainId);
  const seq = toSafeNumber(batch.seq as number) ?? -1;
  return {
    ok: true,
    value: { batchBytes: signed.batch, signature: signed.signature, batch, batchId: `${chainHex}:${seq}`, chainHex, seq, hashHex: toHex(sha256(signed.batch)) },
  };
}

export function verifyBatchSignature(publicKey: Uint8Array, batchBytes: Uint8Array, signature: Uint8Array, backend: Ed25519Backend): boolean {
  return signature.length === 64 && backend.verify(publicKey, batchSigningInput(batchBytes), signature);
}
