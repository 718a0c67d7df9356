// Peer public keys for the receiver's end-to-end signature check, read from the same manifest
// files the verifier uses, with the protocol's one manifest-key parser (readManifestKeys: the
// same schema and validity rules as the verifier's). Re-reads the directory when an unknown key
// shows up (at most once a second), so a rotated key is picked up. A manifest that does not
// parse is skipped here (the verifier reports it).
import { readManifestKeys, resolveCompiledKey } from '@agentbus/protocol';
import type { CompiledKey, KeyResolver } from '@agentbus/protocol';

/** The senders' public keys for the end-to-end check, read from a manifests directory (only `agent` and `keys`). */
export class PeerKeys {
  #dir: string;
  #keys = new Map<string, Map<string, CompiledKey>>();
  #loadedAt = 0;

  constructor(dir: string) {
    this.#dir = dir;
    this.#load();
  }

  #load(): void {
    this.#loadedAt = Date.now();
    this.#keys = readManifestKeys(this.#dir, () => undefined);
  }

  resolve: KeyResolver = (sender, keyId, at) => {
    let keys = this.#keys.get(sender);
    if (!keys?.has(keyId) && Date.now() - this.#loadedAt > 1000) {
      this.#load();
      keys = this.#keys.get(sender);
    }
    return resolveCompiledKey(keys, keyId, at);
  };
}
