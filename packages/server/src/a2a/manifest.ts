// The gateway's own manifest: an agent whose `a2a.gateway` lists its card keys and pins, that
// serves one tool (`send_message`: a bus agent calls an external A2A agent), answers with
// `tool.result`, and records what it refuses on its own as `a2a.refusal` on a topic.
import {
  A2A_REFUSAL_TOPIC,
  A2A_REFUSAL_TYPE,
  A2A_SEND_TOOL,
  A2A_SEND_TOOL_DESCRIPTION,
  A2A_SEND_TOOL_SCHEMA,
  TOOL_RESULT_TYPE,
  toolDefinitionHash,
} from '@agentbus/protocol';
import type { A2aPin, Ed25519PublicJwk } from '@agentbus/protocol';
import type { ManifestInput } from '@agentbus/protocol/manifest';

/** The pinned definition of the gateway's `send_message` tool. */
export function sendToolPin(): { name: string; description: string; input_schema: Record<string, unknown>; sha256: string } {
  return {
    name: A2A_SEND_TOOL,
    description: A2A_SEND_TOOL_DESCRIPTION,
    input_schema: A2A_SEND_TOOL_SCHEMA,
    sha256: toolDefinitionHash({ name: A2A_SEND_TOOL, description: A2A_SEND_TOOL_DESCRIPTION, inputSchema: A2A_SEND_TOOL_SCHEMA }),
  };
}

export function gatewayManifest(o: {
  agent: string;
  natsUser: string;
  keys: ManifestInput['keys'];
  cardKeys: { kid: string; jwk: Ed25519PublicJwk }[];
  pins?: A2aPin[];
}): ManifestInput {
  return {
    agent: o.agent,
    description: 'the A2A gateway (agentbus a2a serve): external A2A clients in, external A2A agents out',
    nats_user: o.natsUser,
    keys: o.keys,
    send: [{ to: '*', types: [TOOL_RESULT_TYPE] }],
    topics: { publish: [{ topic: A2A_REFUSAL_TOPIC, types: [A2A_REFUSAL_TYPE] }], subscribe: [] },
    mcp: { result_max_bytes: 65536, tools: [sendToolPin()] },
    a2a: { gateway: { card_keys: o.cardKeys, pins: o.pins ?? [] } },
  };
}
