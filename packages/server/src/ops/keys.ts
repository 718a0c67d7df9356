// Live key rotation: add a new signing key to an agent's credential file and manifest (both
// keys verify during the overlap), revoke an old key in the manifest (every verifier stops
// accepting it within a second: they poll the manifests directory).
import { readFileSync, writeFileSync, renameSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument, YAMLSeq } from 'yaml';
import { loadCredentials, saveCredentials } from '@agentbus/sdk/internal';
import { ManifestError } from '@agentbus/protocol';
import { parseManifest } from '@agentbus/protocol/manifest';

export const DEFAULT_ROTATION_GRACE_MS = 5000;

function manifestPath(dir: string, agent: string): string {
  for (const ext of ['yaml', 'yml', 'json']) {
    const p = join(dir, `${agent}.${ext}`);
    if (existsSync(p)) return p;
  }
  throw new ManifestError(join(dir, `${agent}.yaml`), '', 'no manifest for this agent');
}

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Edit the manifest's keys list, keeping comments and layout (YAML) and validating the result. */
function editKeys(path: string, edit: (keys: Record<string, unknown>[]) => void): void {
  const text = readFileSync(path, 'utf8');
  let out: string;
  if (path.endsWith('.json')) {
    const doc = JSON.parse(text) as { keys: Record<string, unknown>[] };
    edit(doc.keys);
    out = JSON.stringify(doc, null, 2) + '\n';
  } else {
    const doc = parseDocument(text);
    const keys = (doc.toJS() as { keys: Record<string, unknown>[] }).keys;
    edit(keys);
    doc.set('keys', doc.createNode(keys) as YAMLSeq);
    out = doc.toString();
  }
  parseManifest(out, path); // never write a manifest the verifier would refuse
  writeAtomic(path, out);
}

export interface RotateResult {
  keyId: string;
  notBefore: Date;
  oldKeys: string[];
}

/**
 * Rotate: the new key goes into the manifest first (valid from now + grace, so verifiers know
 * it before the agent signs with it), then into the credential file. Old keys stay valid
 * (overlap) until revoked, or until `oldNotAfter` when given.
 */
export function rotateKey(opts: { credsPath: string; manifestsDir: string; graceMs?: number; oldNotAfter?: Date }): RotateResult {
  const id = loadCredentials(opts.credsPath);
  const path = manifestPath(opts.manifestsDir, id.agentId);
  const notBefore = new Date(Date.now() + (opts.graceMs ?? DEFAULT_ROTATION_GRACE_MS));
  const oldKeys = id.keys.map((k) => k.keyId);
  const fresh = id.rotate({ notBefore });
  editKeys(path, (keys) => {
    if (opts.oldNotAfter) for (const k of keys) if (oldKeys.includes(String(k.key_id)) && !k.not_after) k.not_after = opts.oldNotAfter.toISOString();
    keys.push({ ...fresh.publicInfo() });
  });
  saveCredentials(id, opts.credsPath);
  id.destroy();
  return { keyId: fresh.keyId, notBefore, oldKeys };
}

/** Revoke a key in the manifest; with credsPath, also drop it from the credential file. */
export function revokeKey(opts: { agent: string; keyId: string; manifestsDir: string; credsPath?: string }): void {
  const path = manifestPath(opts.manifestsDir, opts.agent);
  let found = false;
  editKeys(path, (keys) => {
    for (const k of keys) {
      if (k.key_id === opts.keyId) {
        k.revoked = true;
        found = true;
      }
    }
  });
  if (!found) throw new ManifestError(path, 'keys', `no key ${opts.keyId}`);
  if (opts.credsPath && existsSync(opts.credsPath)) {
    const id = loadCredentials(opts.credsPath);
    if (id.keys.length > 1 && id.removeKey(opts.keyId)) saveCredentials(id, opts.credsPath);
    id.destroy();
  }
}
