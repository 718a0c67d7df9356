// Agent Cards (A2A 1.0): the card of each bus agent the manifests expose, built from its manifest
// (`a2a.expose`: name, description, skills) and the contracts of its skills, and signed per A2A
// 1.0 §8.4 — a JWS (EdDSA, Ed25519) over the RFC 8785 canonical card, made and checked by the
// official SDK's generateAgentCardSignature / verifyAgentCardSignature. The signing key is the
// gateway's own (a private JWK file, mode 0600); its public half is listed in the gateway's
// manifest (`a2a.gateway.card_keys`), so whoever reads the manifests can check a card offline,
// and the gateway serves it as a JWK Set for A2A clients (`jku`).
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { AgentCard, A2A_PROTOCOL_VERSION, canonicalizeAgentCard, generateAgentCardSignature, verifyAgentCardSignature } from '@a2a-js/sdk';
import { A2A_MESSAGE_TYPE } from '@agentbus/protocol';
import type { Ed25519PublicJwk, PublicJwk } from '@agentbus/protocol';
import type { CompiledAgent } from '@agentbus/protocol/manifest';
import type { ContractRegistry } from '@agentbus/sdk/internal';
import { A2A_CONTRACTS } from '@agentbus/sdk/internal';

export { AgentCard, canonicalizeAgentCard };

/** Where the gateway serves its card keys (JWK Set), relative to its base URL. */
export const JWKS_PATH = '.well-known/jwks.json';
export const CARD_PATH = '.well-known/agent-card.json';

export class CardKeyError extends Error {
  override name = 'CardKeyError';
}

export interface CardKey {
  kid: string;
  privateKey: KeyObject;
  publicJwk: Ed25519PublicJwk;
}

/** RFC 7638 thumbprint (base64url SHA-256 of the required members) of an Ed25519 JWK: the key id. */
export function jwkThumbprint(jwk: { crv: string; kty: string; x: string }): string {
  return createHash('sha256').update(`{"crv":"${jwk.crv}","kty":"${jwk.kty}","x":"${jwk.x}"}`).digest('base64url');
}

/** Make a card signing key: a private JWK file (0600). Returns the key. */
export function generateCardKey(file: string): CardKey {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' }) as { kty: string; crv: string; x: string; d: string };
  const kid = jwkThumbprint(jwk);
  writeFileSync(file, `${JSON.stringify({ ...jwk, kid, alg: 'EdDSA', use: 'sig' }, null, 2)}\n`, { mode: 0o600 });
  return loadCardKey(file);
}

export function loadCardKey(file: string): CardKey {
  if (!existsSync(file)) throw new CardKeyError(`no card signing key ${file} (agentbus a2a init makes one)`);
  let jwk: { kty?: string; crv?: string; x?: string; d?: string; kid?: string };
  try {
    jwk = JSON.parse(readFileSync(file, 'utf8')) as typeof jwk;
  } catch {
    throw new CardKeyError(`${file} is not a JWK (JSON)`);
  }
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string' || typeof jwk.d !== 'string')
    throw new CardKeyError(`${file} is not an Ed25519 private JWK (kty OKP, crv Ed25519, x, d)`);
  const privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d }, format: 'jwk' });
  const pub = createPublicKey(privateKey).export({ format: 'jwk' }) as { x: string };
  if (pub.x !== jwk.x) throw new CardKeyError(`${file}: x is not the public key of d`);
  const kid = jwk.kid ?? jwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: jwk.x });
  return { kid, privateKey, publicJwk: { kty: 'OKP', crv: 'Ed25519', x: jwk.x, kid, alg: 'EdDSA', use: 'sig' } };
}

/** A KeyObject for a pinned or listed public JWK. */
export function publicKeyOf(jwk: PublicJwk): KeyObject {
  const { kid: _k, alg: _a, use: _u, ...key } = jwk;
  return createPublicKey({ key: key as import('node:crypto').JsonWebKey, format: 'jwk' });
}

/** The card of an exposed agent (unsigned), in the SDK's representation. */
export function buildCard(agent: CompiledAgent, contracts: ContractRegistry, baseUrl: string, o: { mtls?: boolean } = {}): AgentCard {
  const expose = agent.manifest.a2a?.expose;
  if (!expose) throw new Error(`${agent.agent} is not exposed (a2a.expose in its manifest)`);
  const url = agentUrl(baseUrl, agent.agent);
  const modes = ['text/plain', 'application/json'];
  return AgentCard.fromJSON({
    name: expose.name ?? agent.agent,
    description: expose.description || agent.manifest.description || `${agent.agent}, an agent on an agentbus bus`,
    supportedInterfaces: [{ url, protocolBinding: 'JSONRPC', protocolVersion: A2A_PROTOCOL_VERSION }],
    provider: { organization: 'agentbus', url: baseUrl },
    version: '1.0.0',
    capabilities: { streaming: true, pushNotifications: false, extendedAgentCard: false },
    securitySchemes: {
      bearer: { httpAuthSecurityScheme: { scheme: 'Bearer', description: 'a token the gateway maps to an external principal' } },
      ...(o.mtls ? { mtls: { mtlsSecurityScheme: { description: 'a client certificate the gateway maps to an external principal (by fingerprint)' } } } : {}),
    },
    // either one
    securityRequirements: [{ schemes: { bearer: { list: [] } } }, ...(o.mtls ? [{ schemes: { mtls: { list: [] } } }] : [])],
    defaultInputModes: modes,
    defaultOutputModes: modes,
    skills: expose.skills.map((type) => {
      const c = contracts.get(type) ?? A2A_CONTRACTS.get(type);
      return {
        id: type,
        name: type,
        description: `${c?.description || type}${type === A2A_MESSAGE_TYPE ? '' : ` (send one data part: the payload; select it with message metadata {"skill": "${type}"})`}`,
        tags: ['agentbus'],
        inputModes: type === A2A_MESSAGE_TYPE ? modes : ['application/json'],
        outputModes: modes,
      };
    }),
  });
}

/** The base URL of an exposed agent (A2A clients resolve the card relative to it: it ends in /). */
export function agentUrl(baseUrl: string, agent: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/agents/${agent}/`;
}

/** Sign a card with the gateway's key (A2A 1.0 §8.4: JWS, canonical card, the key's jku and kid in the protected header). */
export async function signCard(card: AgentCard, key: CardKey, baseUrl: string): Promise<AgentCard> {
  const sign = generateAgentCardSignature(key.privateKey, { alg: 'EdDSA', kid: key.kid, typ: 'JOSE', jku: `${baseUrl.replace(/\/+$/, '')}/${JWKS_PATH}` });
  return sign({ ...card, signatures: [] });
}

/** Check a card's signature against these keys (by kid); throws if none verifies. */
export async function verifyCard(card: AgentCard, keys: readonly { kid: string; jwk: PublicJwk }[]): Promise<void> {
  const verify = verifyAgentCardSignature(async (kid) => {
    const k = keys.find((x) => x.kid === kid);
    if (!k) throw new Error(`no pinned key with kid ${kid}`);
    return publicKeyOf(k.jwk);
  });
  await verify(card);
}

/** SHA-256 (hex) of the card's canonical form (RFC 8785, signatures excluded): what a pin records. */
export function cardSha256(card: AgentCard): string {
  return createHash('sha256').update(canonicalizeAgentCard(card), 'utf8').digest('hex');
}

/** The key ids in a card's signatures (protected headers), and their jku. */
export function signatureKeys(card: AgentCard): { kid: string; jku?: string }[] {
  const out: { kid: string; jku?: string }[] = [];
  for (const s of card.signatures ?? []) {
    try {
      const h = JSON.parse(Buffer.from(s.protected, 'base64url').toString('utf8')) as { kid?: unknown; jku?: unknown };
      if (typeof h.kid === 'string') out.push({ kid: h.kid, ...(typeof h.jku === 'string' ? { jku: h.jku } : {}) });
    } catch {
      /* not a JWS header: ignored */
    }
  }
  return out;
}
