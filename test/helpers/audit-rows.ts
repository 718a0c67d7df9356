// The audit events a test bus recorded, picked by what their signed header says.
import { decodeHeader, toHex } from '../../packages/protocol/src/envelope.js';
import type { HeaderFields } from '../../packages/protocol/src/envelope.js';
import type { IAuditEvent } from '../../packages/protocol/src/proto.js';
import { waitFor } from './bus.js';
import type { TestBus } from './bus.js';

/** The event's header, decoded; undefined when it has none or it does not decode. */
export function headerOf(e: IAuditEvent): HeaderFields | undefined {
  const h = e.header?.length ? decodeHeader(e.header) : undefined;
  return h?.ok ? h.value : undefined;
}

/** The audit events whose header matches `pred`, once at least one is there (waits up to 5 s, then throws naming `what`). */
export async function auditRows(bus: TestBus, pred: (h: HeaderFields, e: IAuditEvent) => boolean, what: string): Promise<IAuditEvent[]> {
  let rows: IAuditEvent[] = [];
  await waitFor(
    async () => {
      rows = (await bus.auditEvents()).filter((e) => {
        const h = headerOf(e);
        return !!h && pred(h, e);
      });
      return rows.length > 0;
    },
    5000,
    what,
  );
  return rows;
}

/** The audit event of the message with this msg_id (waits for it; the first, if there are more). */
export async function auditRowOf(bus: TestBus, msgId: Uint8Array | string): Promise<IAuditEvent> {
  const id = typeof msgId === 'string' ? msgId : toHex(msgId);
  return (await auditRows(bus, (h) => toHex(h.msgId) === id, `audit row of ${id}`))[0]!;
}
