// Depth tokens (docs/design.md §9, docs/decisions.md "Depth tokens bind the recipient"): the verifier
// attaches one to every delivery; a reply carries it back in its metadata (`agentbus.depth`), and
// any verifier holding the shared key can check that the message it names was delivered to this
// sender (or on a topic it may subscribe to), and at what depth.
//
//   mac_input = "agentbus/v1/depth\0" ‖ msg_id (16 bytes) ‖ len (2 bytes, big-endian) ‖ recipient
//               ‖ depth (4 bytes, big-endian)
//   recipient = the recipient's agent id, or "topic:" + topic name for a topic publication (ASCII)
//   mac       = HMAC-SHA-512(key, mac_input), first 32 bytes (libsodium crypto_auth)
//   token     = decimal(depth) + "." + base64url(mac[0..16]) (no padding: 22 characters)
//
// PROTOCOL.md §9 is the specification; protocol/vectors/depth-token.json has worked examples.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { nativeHashes } from './ed25519.js';

export const DEPTH_DOMAIN = Buffer.from('agentbus/v1/depth\0');
export const TOPIC_RECIPIENT_PREFIX = 'topic:';
/** Room for the recipient in the MAC input (an agent id, or "topic:" + a topic name ≤ 519). */
export const MAX_DEPTH_RECIPIENT_BYTES = 1024;
/** What a token looks like: depth (1–10 decimal digits, ≤ 2^32 − 1) "." 22 base64url characters. */
export const DEPTH_TOKEN_RE = /^(\d{1,10})\.([A-Za-z0-9_-]{22})$/;
/** Outcomes of `causationDepth` that are not a depth. */
export const NO_DEPTH_TOKEN = -1;
export const BAD_DEPTH_TOKEN = -2;

const NATIVE = nativeHashes();

/** HMAC-SHA-512 truncated to 32 bytes (libsodium's crypto_auth), natively or with node:crypto: the same bytes. */
function hmacSha512_256(out: Buffer, input: Uint8Array, key: Uint8Array): void {
  if (NATIVE && key.length === 32) NATIVE.crypto_auth(out, input, key);
  else createHmac('sha512', key).update(input).digest().copy(out, 0, 0, 32);
}

/**
 * The MAC input of a token, as a fresh buffer (for the specification's vectors and tests; the
 * verifier's hot path writes the same bytes into a scratch buffer).
 */
export function depthMacInput(msgId: Uint8Array, recipient: string, topic: string, depth: number): Uint8Array {
  const r = recipient ? recipient : TOPIC_RECIPIENT_PREFIX + topic;
  const rb = Buffer.from(r, 'latin1');
  if (rb.length >= MAX_DEPTH_RECIPIENT_BYTES) throw new RangeError('depth token: recipient too long');
  const out = Buffer.alloc(DEPTH_DOMAIN.length + 16 + 2 + rb.length + 4);
  let o = DEPTH_DOMAIN.copy(out);
  out.set(msgId.subarray(0, 16), o);
  o += 16;
  o = out.writeUInt16BE(rb.length, o);
  o += rb.copy(out, o);
  out.writeUInt32BE(depth >>> 0, o);
  return out;
}

/** Mints and checks depth tokens under one key, with scratch buffers of its own (no allocation but the token string). */
export class DepthTokens {
  readonly #key: Uint8Array;
  readonly #input: Buffer;
  readonly #mac = Buffer.alloc(32);

  constructor(key: Uint8Array) {
    if (!(key instanceof Uint8Array) || key.length === 0) throw new RangeError('depth key: expected bytes');
    this.#key = Uint8Array.from(key);
    this.#input = Buffer.alloc(DEPTH_DOMAIN.length + 16 + 2 + MAX_DEPTH_RECIPIENT_BYTES + 4);
    DEPTH_DOMAIN.copy(this.#input);
  }

  /**
   * `<depth>.<HMAC-SHA-512-256(key, domain ‖ msg_id ‖ recipient ‖ depth)[0..16] base64url>`:
   * proves that a verifier delivered msg_id to `recipient` (or, recipient '', on `topic`) at that depth.
   */
  mint(msgId: Uint8Array, recipient: string, topic: string, depth: number): string {
    const b = this.#input;
    let o = DEPTH_DOMAIN.length;
    b.fill(0, o, o + 16);
    b.set(msgId.subarray(0, 16), o);
    o += 16;
    const lenAt = o;
    o += 2;
    // ids and topic names are ASCII (AGENT_ID_RE, TOPIC_RE), far below the room left
    let n = recipient ? b.write(recipient, o, 'latin1') : b.write(TOPIC_RECIPIENT_PREFIX, o, 'latin1');
    if (!recipient) n += b.write(topic, o + n, 'latin1');
    if (n >= MAX_DEPTH_RECIPIENT_BYTES) throw new RangeError('depth token: recipient too long');
    b.writeUInt16BE(n, lenAt);
    o += n;
    b.writeUInt32BE(depth >>> 0, o);
    o += 4;
    hmacSha512_256(this.#mac, b.subarray(0, o), this.#key);
    return `${depth}.${this.#mac.toString('base64url', 0, 16)}`;
  }

  /** The depth a valid token (made by any verifier sharing the key) vouches for, or undefined. */
  depthOf(causation: Uint8Array, recipient: string, topic: string, token: string): number | undefined {
    const m = DEPTH_TOKEN_RE.exec(token);
    if (!m) return undefined;
    const depth = Number(m[1]);
    if (depth > 0xffffffff) return undefined;
    const expected = Buffer.from(this.mint(causation, recipient, topic, depth));
    const given = Buffer.from(token);
    return expected.length === given.length && timingSafeEqual(expected, given) ? depth : undefined;
  }

  /**
   * docs/design.md §9: a causation id must name a message a verifier delivered to `sender` — directly, or
   * on one of `topics` (those its manifest lets it subscribe to) — proven by that delivery's depth
   * token. Returns the parent's depth, NO_DEPTH_TOKEN or BAD_DEPTH_TOKEN.
   */
  causationDepth(causation: Uint8Array, sender: string, token: string | undefined, topics: readonly string[]): number {
    if (!token) return NO_DEPTH_TOKEN;
    const direct = this.depthOf(causation, sender, '', token);
    if (direct !== undefined) return direct;
    for (const t of topics) {
      const d = this.depthOf(causation, '', t, token);
      if (d !== undefined) return d;
    }
    return BAD_DEPTH_TOKEN;
  }
}

// Reply routes (workers, docs/design.md §18): when a worker of agent A sends msg_id M, the
// verifier attaches to M's delivery a route naming that worker, under the same shared key; an
// answer to M (causation_id = M, addressed to A) carries it back and is delivered to that worker
// only. The MAC binds the worker to (M, A), so a route cannot be moved to another message or
// another recipient, nor made up.
//
//   mac_input = "agentbus/v1/route\0" ‖ msg_id (16 bytes) ‖ len (2 bytes, big-endian) ‖ asker ‖ worker
//   route     = worker + "." + base64url(HMAC-SHA-512(key, mac_input)[0..16]) (22 characters)

export const ROUTE_DOMAIN = Buffer.from('agentbus/v1/route\0');
/** A reply route: a worker id (WORKER_ID_RE) "." 22 base64url characters. */
export const REPLY_ROUTE_RE = /^([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]{22})$/;

/** The MAC input of a reply route (ids are ASCII: AGENT_ID_RE, WORKER_ID_RE). */
export function routeMacInput(msgId: Uint8Array, asker: string, worker: string): Uint8Array {
  const a = Buffer.from(asker, 'latin1');
  const w = Buffer.from(worker, 'latin1');
  const out = Buffer.alloc(ROUTE_DOMAIN.length + 16 + 2 + a.length + w.length);
  let o = ROUTE_DOMAIN.copy(out);
  out.set(msgId.subarray(0, 16), o);
  o += 16;
  o = out.writeUInt16BE(a.length, o);
  o += a.copy(out, o);
  w.copy(out, o);
  return out;
}

/** Mints and checks reply routes under the verifiers' shared key (the depth key, another domain). */
export class ReplyRoutes {
  readonly #key: Uint8Array;
  readonly #mac = Buffer.alloc(32);

  constructor(key: Uint8Array) {
    if (!(key instanceof Uint8Array) || key.length === 0) throw new RangeError('route key: expected bytes');
    this.#key = Uint8Array.from(key);
  }

  /** The route of msg_id `msgId`, sent by worker `worker` of agent `asker`. */
  mint(msgId: Uint8Array, asker: string, worker: string): string {
    hmacSha512_256(this.#mac, routeMacInput(msgId, asker, worker), this.#key);
    return `${worker}.${this.#mac.toString('base64url', 0, 16)}`;
  }

  /** The worker a route names, if it is valid for an answer to `causation` addressed to `recipient`; else undefined. */
  workerOf(causation: Uint8Array, recipient: string, route: string): string | undefined {
    if (causation.length !== 16) return undefined;
    const m = REPLY_ROUTE_RE.exec(route);
    if (!m) return undefined;
    const expected = Buffer.from(this.mint(causation, recipient, m[1]!));
    const given = Buffer.from(route);
    return expected.length === given.length && timingSafeEqual(expected, given) ? m[1] : undefined;
  }
}
