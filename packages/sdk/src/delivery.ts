// Delivery confirmations (receiver side). The verifier forwards a direct message with the reply
// subject agentbus.delivered.<verifier>.<recipient> and keeps re-forwarding it until the
// recipient confirms; only then does it acknowledge the sender. So an acknowledged message is
// one that reached the recipient's client, even when a NATS node died on the way.
//
// Confirmations are batched: every msg_id confirmed during one turn of the event loop goes out
// in one NATS message per reply subject (16 bytes per msg_id).
import { headers as natsHeaders } from '@nats-io/transport-node';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import {
  decodeHeader,
  parseEnvelope,
  SUBJECT_DELIVERED_PREFIX as PREFIX,
  MAX_CONFIRM_IDS,
  REFUSAL_HEADER,
  REFUSAL_DETAIL_HEADER,
  MAX_REFUSAL_DETAIL_BYTES,
} from '@agentbus/protocol';
import type { Reason } from '@agentbus/protocol';

const ID_BYTES = 16;
/** msg_ids per confirmation message. */
const MAX_IDS = MAX_CONFIRM_IDS;

/** Confirms received direct messages to the verifier that forwarded them (msg_ids batched per event-loop turn), which only then acknowledges the sender; connectAgent() runs one per client. */
export class DeliveryConfirmer {
  readonly #nc: NatsConnection;
  readonly #suffix: string;
  #pending = new Map<string, Uint8Array[]>();
  #scheduled = false;
  /** Confirmations sent (msg_ids), for tests and stats. */
  confirmed = 0;

  constructor(nc: NatsConnection, agentId: string) {
    this.#nc = nc;
    this.#suffix = `.${agentId}`;
  }

  /**
   * Confirm that the message `m` (carrying msg_id `msgId`) is now held by this client.
   * Deliveries without a confirmation subject (topics, or not from a verifier) are ignored.
   */
  confirm(m: Msg, msgId: Uint8Array): void {
    const reply = m.reply;
    if (!reply || msgId.length !== ID_BYTES || !reply.startsWith(PREFIX) || !reply.endsWith(this.#suffix)) return;
    let ids = this.#pending.get(reply);
    if (!ids) this.#pending.set(reply, (ids = []));
    ids.push(msgId);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /**
   * Refuse the message `m` (msg_id `msgId`): this client cannot verify or decode it. The verifier
   * answers its sender DELIVERY_REFUSED with this reason and detail (instead of re-forwarding
   * it until "undelivered"). Returns false when `m` has no confirmation subject (topics).
   */
  refuse(m: Msg, msgId: Uint8Array, reason: Reason, detail: string): boolean {
    const reply = m.reply;
    if (!reply || msgId.length !== ID_BYTES || !reply.startsWith(PREFIX) || !reply.endsWith(this.#suffix) || this.#nc.isClosed()) return false;
    const h = natsHeaders();
    h.set(REFUSAL_HEADER, String(reason));
    // one header line: no control characters; bounded
    let d = detail.replace(/[\u0000-\u001f\u007f]/g, ' ');
    while (Buffer.byteLength(d) > MAX_REFUSAL_DETAIL_BYTES) d = d.slice(0, -1);
    if (d) h.set(REFUSAL_DETAIL_HEADER, d);
    this.#nc.publish(reply, msgId, { headers: h });
    this.refused++;
    return true;
  }

  /** Refusals sent. */
  refused = 0;

  /**
   * For receivers that do not use the SDK client: confirm by the msg_id in the envelope's header
   * (not verified here; the verifier only accepts confirmations from the addressed recipient).
   */
  confirmRaw(m: Msg): void {
    const parts = parseEnvelope(m.data);
    if (!parts.ok) return;
    const h = decodeHeader(parts.value.headerBytes);
    if (h.ok) this.confirm(m, h.value.msgId);
  }

  /** Send the confirmations batched so far now. */
  flush(): void {
    this.#scheduled = false;
    if (this.#nc.isClosed()) {
      this.#pending.clear();
      return;
    }
    for (const [reply, ids] of this.#pending) {
      // at most MAX_IDS per message: the verifier ignores longer lists
      for (let from = 0; from < ids.length; from += MAX_IDS) {
        const chunk = ids.slice(from, from + MAX_IDS);
        const buf = new Uint8Array(chunk.length * ID_BYTES);
        chunk.forEach((id, i) => buf.set(id, i * ID_BYTES));
        this.#nc.publish(reply, buf);
        this.confirmed += chunk.length;
      }
    }
    this.#pending.clear();
  }
}
