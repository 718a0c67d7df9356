// Taking a partition over (docs/design.md §7): a verifier that becomes a partition's owner rebuilds
// its replay memory from the AUDIT stream — the accepted events of the replay window whose sender
// is in the partitions taken, and the confirmed deliveries — before it subscribes, so a message
// the last owner accepted is a duplicate here too, and a delivered one is not forwarded again.
import { DeliverPolicy } from '@nats-io/jetstream';
import type { JetStreamClient } from '@nats-io/jetstream';
import { Delivery, decodeHeader } from '@agentbus/protocol';
import * as D from '@agentbus/protocol';
import { openSignedBatch } from '../common/audit-chain.js';
import { partitionOf } from '../common/partitions.js';
import { envelopeKey } from './decide.js';
import type { DecisionState } from './decide.js';

/** Rebuild the replay state of partitions `ps` from the audit stream (one read for all), counting the events added in `stats.rebuilt`. */
export async function rebuildReplay(
  js: JetStreamClient,
  state: DecisionState,
  stats: { rebuilt: number },
  ps: number[],
  partitions: number,
  windowMs: number,
): Promise<void> {
  const want = new Set(ps);
  const since = Date.now() - windowMs;
  const c = await js.consumers.get(D.AUDIT_STREAM, {
    filter_subjects: `${D.SUBJECT_AUDIT_PREFIX}accepted`,
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: new Date(since).toISOString(),
  });
  let pending = (await c.info()).num_pending;
  const delivered: Uint8Array[] = [];
  while (pending > 0) {
    const batch = await c.fetch({ max_messages: Math.min(pending, 1000), expires: 2000 });
    let got = 0;
    for await (const m of batch) {
      got++;
      const opened = openSignedBatch(m.data);
      if (!opened.ok) continue;
      const { events, deliveries } = opened.value.batch;
      for (const d of deliveries) if (d.delivery === Delivery.DELIVERY_CONFIRMED && d.msgId?.length === 16) delivered.push(d.msgId);
      for (const ev of events) {
        if (!want.has(partitionOf(ev.subjectSender ?? '', partitions))) continue;
        const header = ev.header ?? new Uint8Array(0);
        const hd = header.length ? decodeHeader(header) : undefined;
        if (!hd?.ok) continue;
        state.replay.add(hd.value.msgId, envelopeKey(header, ev.signature ?? new Uint8Array(0)), ev.effectiveDepth ?? 0);
        stats.rebuilt++;
      }
    }
    if (got === 0) break;
    pending -= got;
  }
  // after the events: a delivery record always follows its message's accepted event
  for (const id of delivered) state.replay.markDelivered(id);
}
