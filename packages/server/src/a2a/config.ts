// The A2A gateway's configuration (docs/design.md §17): where it listens, its own identity, the key
// its Agent Cards are signed with, and the external principals it acts for — each with the
// credential file it signs that principal's envelopes with and the SHA-256 of the bearer tokens
// that authenticate as it (the tokens themselves are never stored). One YAML or JSON file;
// relative paths are relative to the file.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { AGENT_ID_RE } from '@agentbus/protocol';

export const DEFAULT_A2A_PORT = 8700;
export const DEFAULT_A2A_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_A2A_MAX_BODY_BYTES = 1_048_576;
/** How long a (principal, A2A messageId) pair is remembered: a repeat inside it is refused `replay`. */
export const DEFAULT_A2A_REPLAY_WINDOW_MS = 24 * 3600_000;

const agentId = z.string().regex(AGENT_ID_RE, 'must match [a-z0-9][a-z0-9_-]{0,63}');
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'the hex SHA-256 of a bearer token (agentbus a2a token prints one)');

export const A2aGatewayConfig = z.strictObject({
  /** The gateway's own agent (its credential file, manifest with a2a.gateway, and tool `send_message`). */
  agent: agentId.default('a2a'),
  /** Its credential file (default: <creds-dir>/<agent>.creds.json). */
  credentials: z.string().min(1).optional(),
  listen: z
    .strictObject({ host: z.string().min(1).default('127.0.0.1'), port: z.number().int().min(0).max(65535).default(DEFAULT_A2A_PORT) })
    .default({ host: '127.0.0.1', port: DEFAULT_A2A_PORT }),
  /** The base URL written into the Agent Cards (default http://<listen.host>:<port>). */
  public_url: z.string().url().optional(),
  /** The private JWK (Ed25519) the cards are signed with; its public half is in the gateway's manifest (a2a.gateway.card_keys). */
  card_key: z.string().min(1).default('a2a-card-key.json'),
  principals: z
    .array(
      z.strictObject({
        /** The external principal: an agent whose manifest has a2a.principal.gateway = this gateway. */
        agent: agentId,
        /** Its credential file (default: <creds-dir>/<agent>.creds.json). */
        credentials: z.string().min(1).optional(),
        /** SHA-256 (hex) of each bearer token that authenticates as this principal. */
        tokens_sha256: z.array(sha256Hex).max(64).default([]),
        /** With `tls`: SHA-256 (hex) of the DER of each client certificate that authenticates as it (mTLS, pinned by fingerprint). */
        certs_sha256: z
          .array(z.string().regex(/^[0-9a-f]{64}$/, 'the hex SHA-256 of a client certificate (DER)'))
          .max(64)
          .default([]),
      }),
    )
    .max(1024)
    .default([]),
  /** HTTPS (PEM files), and client certificates requested: a principal may authenticate with one (certs_sha256). */
  tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
  /** Per A2A request: how long to wait for the bus agent's answer. */
  request_timeout_ms: z.number().int().positive().max(600_000).default(DEFAULT_A2A_REQUEST_TIMEOUT_MS),
  /** Largest HTTP body accepted (a larger one is refused before parsing, and audited). */
  max_body_bytes: z
    .number()
    .int()
    .positive()
    .max(64 * 1_048_576)
    .default(DEFAULT_A2A_MAX_BODY_BYTES),
  replay_window_ms: z.number().int().positive().default(DEFAULT_A2A_REPLAY_WINDOW_MS),
});
export type A2aGatewayConfig = z.infer<typeof A2aGatewayConfig>;
export type A2aGatewayConfigInput = z.input<typeof A2aGatewayConfig>;

export class A2aConfigError extends Error {
  override name = 'A2aConfigError';
}

/** Parse a config (YAML or JSON text); the error names the file and the field. */
export function parseGatewayConfig(text: string, file: string): A2aGatewayConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new A2aConfigError(`${file}: not YAML or JSON (${(e as Error).message.split('\n')[0]})`);
  }
  const r = A2aGatewayConfig.safeParse(raw ?? {});
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new A2aConfigError(`${file} at ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  const seen = new Set<string>();
  for (const [i, p] of r.data.principals.entries()) {
    if (seen.has(p.agent)) throw new A2aConfigError(`${file} at principals: ${p.agent} is listed twice`);
    seen.add(p.agent);
    if (p.tokens_sha256.length + p.certs_sha256.length === 0)
      throw new A2aConfigError(`${file} at principals.${i}: ${p.agent} needs tokens_sha256 or certs_sha256 (agentbus a2a token --principal ${p.agent})`);
    if (p.certs_sha256.length && !r.data.tls) throw new A2aConfigError(`${file} at principals.${i}.certs_sha256: client certificates need tls (cert, key)`);
  }
  return r.data;
}

export function loadGatewayConfig(file: string): { config: A2aGatewayConfig; dir: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new A2aConfigError(`cannot read the A2A gateway config ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return { config: parseGatewayConfig(text, file), dir: dirname(resolve(file)) };
}

/** SHA-256 (hex) of a bearer token: what the config stores. */
export function tokenSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A new random bearer token (32 bytes, base64url) and its SHA-256. */
export function newToken(): { token: string; sha256: string } {
  const token = `a2a_${randomBytes(32).toString('base64url')}`;
  return { token, sha256: tokenSha256(token) };
}

/** SHA-256 (hex) of a certificate's DER: what certs_sha256 lists. */
export function certSha256(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/** Token hash → principal, compared in constant time per candidate; client certificate fingerprint → principal. */
export class TokenTable {
  readonly #byHash = new Map<string, string>();
  readonly #byCert = new Map<string, string>();
  constructor(principals: readonly { agent: string; tokens_sha256: readonly string[]; certs_sha256?: readonly string[] }[]) {
    for (const p of principals) {
      for (const h of p.tokens_sha256) this.#byHash.set(h, p.agent);
      for (const h of p.certs_sha256 ?? []) this.#byCert.set(h, p.agent);
    }
  }
  /** The principal a client certificate (its DER) authenticates, if listed. The TLS handshake proved the client holds its key. */
  certificate(der: Uint8Array | undefined): string | undefined {
    return der?.length ? this.#byCert.get(certSha256(der)) : undefined;
  }
  /** The principal an `Authorization` header authenticates, or why not. */
  authenticate(header: string | undefined): { ok: true; principal: string } | { ok: false; detail: string } {
    if (!header) return { ok: false, detail: 'no Authorization header (Bearer token required)' };
    const m = /^Bearer ([\x21-\x7e]{1,512})$/.exec(header);
    if (!m) return { ok: false, detail: 'the Authorization header is not "Bearer <token>"' };
    const h = tokenSha256(m[1]!);
    for (const [k, principal] of this.#byHash) {
      if (timingSafeEqual(Buffer.from(k, 'hex'), Buffer.from(h, 'hex'))) return { ok: true, principal };
    }
    return { ok: false, detail: 'unknown bearer token' };
  }
}
