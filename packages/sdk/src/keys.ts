// Peer public keys for the receiver's end-to-end signature check, read from the same manifest
// files the verifier uses (only the `agent` and `keys` fields). Re-reads the directory when an
// unknown key shows up (at most once a second), so a rotated key is picked up.
import { readFileSync, readdirSync } from 'node:fs';
import { join, extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { Reason } from '@agentbus/protocol';
import type { KeyResolver } from '@agentbus/protocol';

interface PeerKey {
  publicKey: Uint8Array;
  notBefore: number;
  notAfter: number;
  revoked: boolean;
}

export class PeerKeys {
  #dir: string;
  #keys = new Map<string, Map<string, PeerKey>>();
  #loadedAt = 0;

  constructor(dir: string) {
    this.#dir = dir;
    this.#load();
  }

  #load(): void {
    this.#loadedAt = Date.now();
    const next = new Map<string, Map<string, PeerKey>>();
    for (const n of readdirSync(this.#dir).filter((f) => /\.(ya?ml|json)$/.test(f)).sort()) {
      let doc: { agent?: unknown; keys?: unknown };
      try {
        const text = readFileSync(join(this.#dir, n), 'utf8');
        doc = (extname(n) === '.json' ? JSON.parse(text) : parseYaml(text)) ?? {};
      } catch {
        continue; // the verifier reports bad manifests; a receiver just skips them
      }
      if (typeof doc.agent !== 'string' || !Array.isArray(doc.keys)) continue;
      const m = new Map<string, PeerKey>();
      for (const k of doc.keys as Array<Record<string, unknown>>) {
        if (typeof k.key_id !== 'string' || typeof k.public_key !== 'string') continue;
        m.set(k.key_id, {
          publicKey: new Uint8Array(Buffer.from(k.public_key, 'base64url')),
          notBefore: typeof k.not_before === 'string' ? Date.parse(k.not_before) : -Infinity,
          notAfter: typeof k.not_after === 'string' ? Date.parse(k.not_after) : Infinity,
          revoked: k.revoked === true,
        });
      }
      next.set(doc.agent, m);
    }
    this.#keys = next;
  }

  resolve: KeyResolver = (sender, keyId, at) => {
    let k = this.#keys.get(sender)?.get(keyId);
    if (!k && Date.now() - this.#loadedAt > 1000) {
      this.#load();
      k = this.#keys.get(sender)?.get(keyId);
    }
    if (!k) return this.#keys.has(sender) ? Reason.REASON_UNKNOWN_KEY : Reason.REASON_UNKNOWN_SENDER;
    if (k.revoked) return Reason.REASON_REVOKED_KEY;
    if (at < k.notBefore || at > k.notAfter) return Reason.REASON_EXPIRED_KEY;
    return k.publicKey;
  };
}
