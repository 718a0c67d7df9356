// The A2A boundary's built-in message types (docs/design.md §17): `a2a.message` (what an external
// principal sends an exposed agent, through the gateway), `a2a.reply` (the agent's answer) and
// `a2a.refusal` (the gateway's record of what it refused on its own). Like the tool and memory
// types they need not be in an agent's registry: the client falls back to A2A_CONTRACTS.
//
// An exposed agent answers with `agent.reply(msg, 'a2a.reply', { parts: [{ kind: 'text', text }] })`.
import {
  A2A_MESSAGE_TYPE,
  A2A_REPLY_TYPE,
  A2A_REFUSAL_TYPE,
  A2A_GATEWAY_METADATA,
  A2A_MESSAGE_ID_METADATA,
  A2A_REFUSAL_METADATA,
  A2aMessageSchema,
  A2aReplySchema,
  A2aRefusalSchema,
} from '@agentbus/protocol';
import type { A2aPart, A2aMessagePayload, A2aReplyPayload, A2aRefusal } from '@agentbus/protocol';
import { createRegistry, defineMessage } from './contracts.js';
import type { AnyContract } from './contracts.js';

export { A2A_MESSAGE_TYPE, A2A_REPLY_TYPE, A2A_REFUSAL_TYPE };
export type { A2aPart, A2aMessagePayload, A2aReplyPayload, A2aRefusal };

/** The built-in `a2a.*` contracts (`a2a.message`, `a2a.reply`, `a2a.refusal`): what `agentbus contracts export` lists as built in. */
export const A2A_CONTRACTS = createRegistry(
  defineMessage(A2A_MESSAGE_TYPE, A2aMessageSchema, {
    description: 'an A2A message from an external principal (text and data parts), carried by the A2A gateway',
    metadata: [A2A_GATEWAY_METADATA, A2A_MESSAGE_ID_METADATA],
  }),
  defineMessage(A2A_REPLY_TYPE, A2aReplySchema, { description: 'the answer to an a2a.message (text and data parts)' }),
  defineMessage(A2A_REFUSAL_TYPE, A2aRefusalSchema, {
    description: "the A2A gateway's record of a request it refused on its own (unauthenticated, replayed, an unpinned card, ...)",
    metadata: [...A2A_REFUSAL_METADATA],
  }),
);

/** The built-in contract of an A2A type (a registry need not list them); undefined otherwise. */
export function builtinA2aContract(type: string): AnyContract | undefined {
  return type.startsWith('a2a.') ? A2A_CONTRACTS.get(type) : undefined;
}

/** The text of an a2a.message or a2a.reply: its text parts, joined by newlines. */
export function a2aText(p: { parts: readonly A2aPart[] }): string {
  return p.parts
    .filter((x): x is Extract<A2aPart, { kind: 'text' }> => x.kind === 'text')
    .map((x) => x.text)
    .join('\n');
}
