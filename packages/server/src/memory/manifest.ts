// The memory service's manifest and credential file names (shared by `agentbus dev` and `keygen memory`).
import { MEMORY_RESULT_TYPE, MEMORY_EVENT_TYPE } from '@agentbus/protocol';

/** Its JetStream KV user's credential file, beside memory.creds.json. */
export const MEMORY_KV_CREDS = 'memory-kv.creds.json';

/** The memory agent's manifest (keys from its identity): it may answer anyone, with memory.result and memory.event only. */
export function memoryManifest(id: { agentId: string; natsPublicKey: string; keys: { publicInfo(): unknown }[] }): Record<string, unknown> {
  return {
    agent: id.agentId,
    description: 'the memory service (agentbus memory): JetStream KV behind signed memory.* requests',
    nats_user: id.natsPublicKey,
    keys: id.keys.map((k) => k.publicInfo()),
    send: [{ to: '*', types: [MEMORY_RESULT_TYPE, MEMORY_EVENT_TYPE] }],
  };
}
