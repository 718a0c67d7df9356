// The auditor's pipeline behind a test bus: a migrated chDB store in the bus's directory, fed by
// an audit consumer that connects with the auditor's credentials (batches stored within a second).
import { join } from 'node:path';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import { openStore } from '../../packages/server/src/auditor/store.js';
import type { AuditStore } from '../../packages/server/src/auditor/store.js';
import { storeConfigSchema } from '../../packages/server/src/auditor/config.js';
import { startAuditConsumer } from '../../packages/server/src/auditor/consumer.js';
import type { AuditConsumer } from '../../packages/server/src/auditor/consumer.js';
import type { TestBus } from './bus.js';

export interface BusAuditor {
  store: AuditStore;
  consumer: AuditConsumer;
  /** Stops the consumer, closes the store and the auditor's connection. */
  stop(): Promise<void>;
}

export async function startBusAuditor(bus: TestBus): Promise<BusAuditor> {
  const store = await openStore(storeConfigSchema.parse({ url: join(bus.dir, 'audit-db') }));
  await store.migrate();
  const nc = await connect({ servers: bus.url, authenticator: nkeyAuthenticator(bus.auditorCreds.natsSeed()), inboxPrefix: '_INBOX_auditor' });
  const consumer = await startAuditConsumer({ nc, sink: store, config: { batchMaxWaitMs: 1000, ackWaitMs: 5000 } });
  return {
    store,
    consumer,
    async stop() {
      await consumer.stop();
      await store.close();
      await nc.close();
    },
  };
}
