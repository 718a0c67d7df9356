// The A2A boundary (docs/design.md §17): the built-in message types the gateway and the agents it
// exposes exchange, and the manifest's `a2a:` section. The gateway itself (Agent Cards, the A2A
// server and client) is broker-side code in packages/server/src/a2a/.
import { z } from 'zod';
import { AGENT_ID_RE, TYPE_RE } from './envelope.js';

/** An A2A message from an external principal to an exposed agent (sent by the gateway, signed as the principal). */
export const A2A_MESSAGE_TYPE = 'a2a.message';
/** The exposed agent's answer to an `a2a.message` (a reply: causation = the message). */
export const A2A_REPLY_TYPE = 'a2a.reply';
/** The gateway's own record of a request it refused before any envelope existed (published on A2A_REFUSAL_TOPIC). */
export const A2A_REFUSAL_TYPE = 'a2a.refusal';
export const A2A_REFUSAL_TOPIC = 'a2a.refusals';
/** The gateway's tool (`tool.<gateway>.send_message`): a bus agent calls an external A2A agent. */
export const A2A_SEND_TOOL = 'send_message';

/** Metadata of an `a2a.message`: the gateway that carried it and the A2A messageId it came with. */
export const A2A_GATEWAY_METADATA = 'a2a.gateway';
export const A2A_MESSAGE_ID_METADATA = 'a2a.message_id';
/** Metadata of an `a2a.refusal` (in the audit row: the payload is not). */
export const A2A_REFUSAL_METADATA = ['a2a.reason', 'a2a.direction', 'a2a.principal', 'a2a.agent', 'a2a.url', 'a2a.message_id'] as const;

const kid = z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'a key id: letters, digits, _ . - (at most 128)');
/** An Ed25519 public key as a JWK (RFC 8037). */
export const Ed25519PublicJwk = z.strictObject({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'the base64url public key (32 bytes)'),
  kid: kid.optional(),
  alg: z.literal('EdDSA').optional(),
  use: z.literal('sig').optional(),
});
export type Ed25519PublicJwk = z.infer<typeof Ed25519PublicJwk>;

/** A public JWK a remote card may be signed with (Ed25519, EC P-256/384/521 or RSA); never a private member. */
export const PublicJwk = z.strictObject({
  kty: z.enum(['OKP', 'EC', 'RSA']),
  crv: z.enum(['Ed25519', 'P-256', 'P-384', 'P-521']).optional(),
  x: z.string().max(1024).optional(),
  y: z.string().max(1024).optional(),
  n: z.string().max(2048).optional(),
  e: z.string().max(64).optional(),
  kid: z.string().max(256).optional(),
  alg: z.string().max(16).optional(),
  use: z.literal('sig').optional(),
});
export type PublicJwk = z.infer<typeof PublicJwk>;

/** A remote Agent Card pinned by `agentbus a2a pin URL`. */
export const A2aPin = z.strictObject({
  /** The card's base URL as pinned (normalized href; the card is at <url>/.well-known/agent-card.json). */
  url: z.string().min(1).max(2048),
  /** The card's name when pinned (for people). */
  name: z.string().max(200).default(''),
  /** SHA-256 (hex) of the card's RFC 8785 canonical form (A2A 1.0 §8.4.1, signatures excluded). */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'the hex SHA-256 of the canonical card'),
  /** The keys its signature must verify against (by kid). */
  keys: z
    .array(z.strictObject({ kid: z.string().min(1).max(256), jwk: PublicJwk }))
    .min(1)
    .max(16),
  pinned_at: z.string().max(64).default(''),
});
export type A2aPin = z.infer<typeof A2aPin>;

/**
 * The manifest's `a2a:` section. One agent may be any of: `expose` (external principals reach it
 * through the gateway; its Agent Card lists `skills`, each a message type), `principal` (an
 * external A2A client acts as this agent through the gateway named), `gateway` (it is an A2A
 * gateway: the keys its Agent Cards are signed with, and the remote cards it has pinned).
 */
export const A2aSection = z.strictObject({
  expose: z
    .strictObject({
      /** The gateway that serves its card (default: any). */
      gateway: z.string().regex(AGENT_ID_RE).optional(),
      /** The card's name (default: the agent id). */
      name: z.string().min(1).max(200).optional(),
      description: z.string().max(4000).default(''),
      /** The message types an external principal may send it, each a skill on its card; a2a.message takes text and data parts. */
      skills: z.array(z.string().regex(TYPE_RE)).min(1).max(64).default([A2A_MESSAGE_TYPE]),
    })
    .optional(),
  principal: z.strictObject({ gateway: z.string().regex(AGENT_ID_RE, 'the gateway agent that acts for this principal') }).optional(),
  gateway: z
    .strictObject({
      /** Agent Card signing keys (public); the private key stays with the gateway. Old keys stay listed until no card signed with them is trusted. */
      card_keys: z
        .array(z.strictObject({ kid, jwk: Ed25519PublicJwk }))
        .min(1)
        .max(16),
      pins: z.array(A2aPin).max(1024).default([]),
    })
    .optional(),
});
export type A2aSection = z.infer<typeof A2aSection>;
export type A2aSectionInput = z.input<typeof A2aSection>;

/** One A2A part as the bus carries it: text, or JSON data. */
export const A2aPartSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('text'), text: z.string() }),
  z.strictObject({ kind: z.literal('data'), data: z.json() }),
]);
/** One part of an `a2a.message` or `a2a.reply`: `{ kind: 'text', text }` or `{ kind: 'data', data }`. */
export type A2aPart = z.infer<typeof A2aPartSchema>;

/** `a2a.message`: the parts of the A2A message and its context. */
export const A2aMessageSchema = z.strictObject({
  parts: z.array(A2aPartSchema).min(1).max(64),
  context_id: z.string().max(256).optional(),
});
/** The payload of an `a2a.message`: its parts and the A2A context id. */
export type A2aMessagePayload = z.infer<typeof A2aMessageSchema>;

/** `a2a.reply`: the answer's parts. */
export const A2aReplySchema = z.strictObject({ parts: z.array(A2aPartSchema).max(64) });
/** The payload of an `a2a.reply`: the answer's parts. */
export type A2aReplyPayload = z.infer<typeof A2aReplySchema>;

/** `a2a.refusal`: what the gateway refused on its own (no principal envelope exists, or the remote side failed a check). */
export const A2aRefusalSchema = z.strictObject({
  direction: z.enum(['inbound', 'outbound']),
  reason: z.string().max(64),
  detail: z.string().max(1000),
  principal: z.string().max(64).optional(),
  agent: z.string().max(64).optional(),
  caller: z.string().max(64).optional(),
  url: z.string().max(2048).optional(),
  message_id: z.string().max(256).optional(),
  remote: z.string().max(128).optional(),
});
/** The payload of an `a2a.refusal`: what the gateway refused, and why. */
export type A2aRefusal = z.infer<typeof A2aRefusalSchema>;

/** The input schema of the gateway's `send_message` tool (pinned in its manifest's mcp.tools). */
export const A2A_SEND_TOOL_SCHEMA: Record<string, unknown> = {
  type: 'object',
  properties: {
    url: { type: 'string', description: "the remote agent's base URL, as pinned (agentbus a2a pin URL)" },
    text: { type: 'string', description: 'the text part of the message' },
    data: { description: 'a JSON data part' },
    context_id: { type: 'string' },
  },
  required: ['url'],
  additionalProperties: false,
};
export const A2A_SEND_TOOL_DESCRIPTION = 'Send an A2A message to a pinned external agent and return its answer (text and data parts).';
