// `agentbus a2a pin URL`: fetch a remote Agent Card, check its signature (A2A 1.0 §8.4) against the
// key its `jku` serves (same origin as the card only) or a key file given by the operator, and
// write it into the gateway's manifest (`a2a.gateway.pins`: the URL, the SHA-256 of the
// canonical card, the verifying keys). The gateway then calls that agent only while its card
// hashes to the pin and verifies against a pinned key. Pinning again replaces the pin for that URL
// and says what changed. YAML keeps its comments; the result is validated before it is
// written, and written atomically.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { PublicJwk } from '@agentbus/protocol';
import type { A2aPin } from '@agentbus/protocol';
import { parseManifest } from '@agentbus/protocol/manifest';
import { cardSha256, signatureKeys, verifyCard } from './card.js';
import { fetchCard, normalizeBaseUrl, noRedirectFetch, OutboundRefusal } from './outbound.js';

export class A2aPinError extends Error {
  override name = 'A2aPinError';
}

function manifestFile(dir: string, agent: string): string {
  for (const ext of ['yaml', 'yml', 'json']) {
    const p = join(dir, `${agent}.${ext}`);
    if (existsSync(p)) return p;
  }
  throw new A2aPinError(`no manifest for the gateway ${agent} in ${dir} (agentbus a2a init)`);
}

export interface A2aPinResult {
  file: string;
  pin: A2aPin;
  /** The pin this one replaced (same URL), if any. */
  previous?: A2aPin;
  written: boolean;
}

/** The public keys the card's signatures name: from a JWK (Set) file, or from the jku (same origin as the card). */
async function keysFor(base: string, kids: { kid: string; jku?: string }[], keyFile: string | undefined, fetchImpl: typeof fetch): Promise<A2aPin['keys']> {
  let set: unknown;
  if (keyFile) {
    try {
      set = JSON.parse(readFileSync(keyFile, 'utf8'));
    } catch {
      throw new A2aPinError(`${keyFile} is not a JWK or JWK Set (JSON)`);
    }
  } else {
    const jku = kids.find((k) => k.jku)?.jku;
    if (!jku) throw new A2aPinError(`the card at ${base} names no jku for its key: give the key with --key FILE (a JWK or JWK Set)`);
    let at: URL;
    try {
      at = new URL(jku, base);
    } catch {
      throw new A2aPinError(`the card's jku ${jku} is not a URL`);
    }
    if (at.origin !== new URL(base).origin)
      throw new A2aPinError(`the card's jku ${at.href} is on another origin than the card (${new URL(base).origin}): give the key with --key FILE`);
    const res = await fetchImpl(at, { signal: AbortSignal.timeout(10_000) }).catch((e: Error) => {
      throw new A2aPinError(`cannot fetch ${at.href}: ${e.message}`);
    });
    if (!res.ok) throw new A2aPinError(`${at.href} answered HTTP ${res.status}`);
    set = await res.json().catch(() => {
      throw new A2aPinError(`${at.href} is not JSON`);
    });
  }
  const list = (set as { keys?: unknown[] }).keys ?? [set];
  const out: A2aPin['keys'] = [];
  for (const raw of list) {
    const r = raw as Record<string, unknown>;
    if (typeof r !== 'object' || r === null) continue;
    const { d: _private, key_ops: _o, ext: _e, ...pub } = r;
    const kid = typeof pub.kid === 'string' ? pub.kid : kids.length === 1 ? kids[0]!.kid : undefined;
    if (!kid || !kids.some((k) => k.kid === kid)) continue;
    const jwk = PublicJwk.safeParse(pub);
    if (jwk.success) out.push({ kid, jwk: jwk.data });
  }
  if (out.length === 0) throw new A2aPinError(`no public key for the card's signature (kid ${kids.map((k) => k.kid).join(', ')}) in ${keyFile ?? 'its jku'}`);
  return out;
}

/** Fetch, verify and pin the card at `url` in the gateway's manifest. */
export async function pinCard(o: { url: string; manifestsDir: string; gateway: string; keyFile?: string; fetchImpl?: typeof fetch }): Promise<A2aPinResult> {
  let base: string;
  try {
    base = normalizeBaseUrl(o.url);
  } catch {
    throw new A2aPinError(`${o.url} is not a URL`);
  }
  if (!/^https?:$/.test(new URL(base).protocol)) throw new A2aPinError(`${base}: only http and https cards are pinned`);
  const fetchImpl = o.fetchImpl ?? noRedirectFetch;
  const file = manifestFile(o.manifestsDir, o.gateway);
  let card: Awaited<ReturnType<typeof fetchCard>>;
  try {
    card = await fetchCard(base, fetchImpl);
  } catch (e) {
    throw new A2aPinError(e instanceof OutboundRefusal ? e.detail : (e as Error).message);
  }
  const kids = signatureKeys(card);
  if (kids.length === 0) throw new A2aPinError(`the card at ${base} is not signed: only signed cards are pinned (A2A 1.0 §8.4)`);
  const keys = await keysFor(base, kids, o.keyFile, fetchImpl);
  try {
    await verifyCard(card, keys);
  } catch (e) {
    throw new A2aPinError(`the card at ${base} does not verify against ${o.keyFile ?? 'the key its jku serves'}: ${(e as Error).message}`);
  }
  const pin: A2aPin = { url: base, name: card.name.slice(0, 200), sha256: cardSha256(card), keys, pinned_at: new Date().toISOString() };
  const text = readFileSync(file, 'utf8');
  const current = parseManifest(text, file);
  if (current.agent !== o.gateway) throw new A2aPinError(`${file} is the manifest of ${current.agent}, not ${o.gateway}`);
  if (!current.a2a?.gateway) throw new A2aPinError(`${o.gateway}'s manifest has no a2a.gateway section (agentbus a2a init)`);
  const pins = current.a2a.gateway.pins;
  const previous = pins.find((p) => p.url === base);
  if (previous && previous.sha256 === pin.sha256 && JSON.stringify(previous.keys) === JSON.stringify(pin.keys))
    return { file, pin: previous, previous, written: false };
  const next = [...pins.filter((p) => p.url !== base), pin];
  let out: string;
  if (file.endsWith('.json')) {
    const raw = JSON.parse(text) as { a2a: { gateway: { pins?: unknown } } };
    raw.a2a.gateway.pins = next;
    out = `${JSON.stringify(raw, null, 2)}\n`;
  } else {
    const doc = parseDocument(text);
    doc.setIn(['a2a', 'gateway', 'pins'], doc.createNode(next, { aliasDuplicateObjects: false }));
    out = doc.toString();
  }
  parseManifest(out, file); // never write a manifest the verifier would refuse
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, out);
  renameSync(tmp, file);
  return { file, pin, ...(previous ? { previous } : {}), written: true };
}

/** What `agentbus a2a pin` prints. */
export function pinSummary(r: A2aPinResult): string {
  const what = !r.written ? 'unchanged' : r.previous ? `replaced the pin of sha256 ${r.previous.sha256.slice(0, 16)}…` : 'new';
  return `${r.pin.url}: "${r.pin.name}" pinned in ${r.file} (${what}); card sha256 ${r.pin.sha256}, key(s) ${r.pin.keys.map((k) => k.kid).join(', ')}`;
}
