// What a reader of manifests needs without the verifier's policy: the file rules, the error that
// names the file and field, and the one manifest-key parser (the verifier, the SDK's end-to-end
// check and `audit verify`). No tool policy, CEL or guard scanner here: the SDK imports this
// (through @agentbus/protocol), and manifest.ts (@agentbus/protocol/manifest) builds the whole
// manifest on it.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { AGENT_ID_RE } from './envelope.js';
import { Reason } from './proto.js';
import { McpSection } from './tools/definition.js';

const isoDate = z.iso.datetime({ offset: true });

export const ManifestKey = z.strictObject({
  key_id: z.string().min(1).max(128),
  public_key: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a base64url Ed25519 public key (32 bytes)'),
  not_before: isoDate.optional(),
  not_after: isoDate.optional(),
  revoked: z.boolean().default(false),
});

/** A manifest that does not load: names the file and the path of the bad field. */
export class ManifestError extends Error {
  readonly file: string;
  readonly path: string;
  constructor(file: string, path: string, message: string) {
    super(`${file}${path ? ` at ${path}` : ''}: ${message}`);
    this.name = 'ManifestError';
    this.file = file;
    this.path = path;
  }
}

/** YAML or JSON (by extension) through a schema (the whole manifest, or a part a reader needs); a ManifestError names the file and the field. */
export function parseManifestWith<S extends z.ZodType>(schema: S, text: string, file: string): z.infer<S> {
  let raw: unknown;
  try {
    raw = extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new ManifestError(file, '', `not valid ${extname(file) === '.json' ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`);
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ManifestError(file, issue.path.join('.'), issue.message);
  }
  return r.data;
}

/** A manifest file: .yaml, .yml or .json, not hidden, and not a `_` file (`_defaults.yaml`, the project defaults; no agent id starts with `_`). */
export function isManifestFile(name: string): boolean {
  return /\.(ya?ml|json)$/.test(name) && !name.startsWith('.') && !name.startsWith('_');
}

export interface CompiledKey {
  publicKey: Uint8Array;
  notBefore: number;
  notAfter: number;
  revoked: boolean;
}

// --- Manifest keys: the one parser (the verifier, the SDK's end-to-end check and `audit verify`)

/** What a reader that needs only keys takes from a manifest: the agent and its keys, strictly; other fields are not its business. */
export const ManifestKeysOnly = z.object({
  agent: z.string().regex(AGENT_ID_RE, 'must match [a-z0-9][a-z0-9_-]{0,63}'),
  keys: z.array(ManifestKey).min(1),
});

export function compileKey(k: z.infer<typeof ManifestKey>): CompiledKey {
  return {
    publicKey: new Uint8Array(Buffer.from(k.public_key, 'base64url')),
    // validated ISO 8601 by the schema, so Date.parse never gives NaN here
    notBefore: k.not_before ? Date.parse(k.not_before) : -Infinity,
    notAfter: k.not_after ? Date.parse(k.not_after) : Infinity,
    revoked: k.revoked,
  };
}

/** The key (sender, keyId) at time `at` from an agent's compiled keys, or the reason it cannot be used. */
export function resolveCompiledKey(keys: Map<string, CompiledKey> | undefined, keyId: string, at: number): Uint8Array | Reason {
  if (!keys) return Reason.REASON_UNKNOWN_SENDER;
  const k = keys.get(keyId);
  if (!k) return Reason.REASON_UNKNOWN_KEY;
  if (k.revoked) return Reason.REASON_REVOKED_KEY;
  if (!(at >= k.notBefore && at <= k.notAfter)) return Reason.REASON_EXPIRED_KEY;
  return k.publicKey;
}

/**
 * Every agent's keys from the manifests in `dir` (*.yaml, *.yml, *.json; other fields ignored).
 * A file that does not parse, or whose keys break the schema, is reported to `onError` and
 * skipped (the default: throw a ManifestError naming the file and the field).
 */
export function readManifestKeys(
  dir: string,
  onError: (e: ManifestError) => void = (e) => {
    throw e;
  },
): Map<string, Map<string, CompiledKey>> {
  const out = new Map<string, Map<string, CompiledKey>>();
  let names: string[];
  try {
    names = readdirSync(dir).filter(isManifestFile).sort();
  } catch (e) {
    onError(new ManifestError(dir, '', `cannot read manifests directory (${(e as NodeJS.ErrnoException).code ?? 'error'})`));
    return out;
  }
  for (const n of names) {
    const file = join(dir, n);
    try {
      if (!statSync(file).isFile()) continue;
      const m = parseManifestWith(ManifestKeysOnly, readFileSync(file, 'utf8'), file);
      out.set(m.agent, new Map(m.keys.map((k) => [k.key_id, compileKey(k)])));
    } catch (e) {
      if (e instanceof ManifestError) onError(e);
      else throw e;
    }
  }
  return out;
}

/** What a tool server's client takes from a manifest: the agent and its pinned tools (`mcp:`), strictly; other fields are not its business. */
export const ManifestMcpOnly = z.object({
  agent: z.string().regex(AGENT_ID_RE, 'must match [a-z0-9][a-z0-9_-]{0,63}'),
  mcp: McpSection.optional(),
});
