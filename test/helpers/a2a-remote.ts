// An external A2A agent run locally by the official SDK (@a2a-js/sdk's DefaultRequestHandler and
// express handlers): its card signed with its own Ed25519 key (A2A 1.0 §8.4), the key served as
// a JWK Set at the card's `jku`. The card it serves can be swapped (a tampered or re-signed
// card) and every message it receives is counted. Used by test/a2a-outbound.test.ts and bench/a2a.ts.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { Server } from 'node:http';
import express from 'express';
import { A2A_PROTOCOL_VERSION, AGENT_CARD_PATH, AgentCard, Message, generateAgentCardSignature } from '@a2a-js/sdk';
import { AgentEvent, DefaultRequestHandler, InMemoryTaskStore } from '@a2a-js/sdk/server';
import type { AgentExecutor } from '@a2a-js/sdk/server';
import { agentCardHandler, jsonRpcHandler, UserBuilder } from '@a2a-js/sdk/server/express';

export interface RemoteAgent {
  url: string;
  received: string[];
  /** The card as first signed. */
  card: AgentCard;
  /** Serve this card from now on. */
  serve(card: AgentCard): void;
  /** Sign a card with this agent's key, or with another key. */
  sign(card: AgentCard, key?: { privateKey: KeyObject; kid: string }): Promise<AgentCard>;
  stop(): Promise<void>;
}

export function ed25519Key(): { privateKey: KeyObject; kid: string; jwk: Record<string, string> } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = publicKey.export({ format: 'jwk' }) as Record<string, string>;
  return { privateKey, kid: `k-${randomUUID().slice(0, 8)}`, jwk };
}

const textOf = (m: Message) => m.parts.map((p) => (p.content?.$case === 'text' ? p.content.value : '')).join('');

/** Start the agent on a free loopback port; `answer` makes the reply text from the message text. */
export async function startRemoteAgent(o: { name?: string; answer?: (text: string) => string } = {}): Promise<RemoteAgent> {
  const key = ed25519Key();
  const received: string[] = [];
  const answer = o.answer ?? ((t: string) => `remote says: ${t}`);
  const executor: AgentExecutor = {
    async execute(ctx, bus) {
      const text = textOf(ctx.userMessage);
      received.push(text);
      bus.publish(
        AgentEvent.message(Message.fromJSON({ messageId: randomUUID(), role: 'ROLE_AGENT', contextId: ctx.contextId, parts: [{ text: answer(text) }] })),
      );
      bus.finished();
    },
    async cancelTask() {},
  };
  let served: AgentCard | undefined;
  const app = express();
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const port = (server.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}/`;
  const sign = (card: AgentCard, k: { privateKey: KeyObject; kid: string } = key) =>
    generateAgentCardSignature(k.privateKey, { alg: 'EdDSA', kid: k.kid, typ: 'JOSE', jku: `${url}.well-known/jwks.json` })({ ...card, signatures: [] });
  const card = await sign(
    AgentCard.fromJSON({
      name: o.name ?? 'Remote helper',
      description: 'an A2A agent outside the bus',
      supportedInterfaces: [{ url, protocolBinding: 'JSONRPC', protocolVersion: A2A_PROTOCOL_VERSION }],
      version: '1.0.0',
      capabilities: { streaming: false },
      defaultInputModes: ['text/plain'],
      defaultOutputModes: ['text/plain'],
      skills: [{ id: 'help', name: 'help', description: 'answers', tags: ['test'] }],
    }),
  );
  served = card;
  const handler = new DefaultRequestHandler(card, new InMemoryTaskStore(), executor);
  app.get('/.well-known/jwks.json', (_req, res) => void res.json({ keys: [{ ...key.jwk, kid: key.kid, alg: 'EdDSA', use: 'sig' }] }));
  app.use(`/${AGENT_CARD_PATH}`, agentCardHandler({ agentCardProvider: async () => served!, cache: { maxAge: 0 } }));
  app.use(jsonRpcHandler({ requestHandler: handler, userBuilder: UserBuilder.noAuthentication }));
  return {
    url,
    received,
    card,
    serve: (c) => {
      served = c;
    },
    sign,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
