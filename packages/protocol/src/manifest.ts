// Manifests: one per agent (YAML or JSON), zod-validated, compiled at load into lookup tables
// the verifier consults synchronously per message.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { AGENT_ID_RE, TYPE_RE, TOPIC_RE } from './envelope.js';
import { Reason } from './proto.js';
import { compileGlobs } from './glob.js';
import * as D from './constants.js';
import { ToolsSection, compileToolPolicy, ToolPolicyError } from './tools/policy.js';
import type { CompiledToolPolicy } from './tools/policy.js';
import { McpSection, DEFAULT_TOOL_RESULT_MAX_BYTES } from './tools/definition.js';
import { GuardPolicy } from './guard/types.js';
import { MemorySection, DEFAULT_MEMORY_SESSION_LIMIT, DEFAULT_MEMORY_WATCH_LIMIT } from './memory/grants.js';

const glob = z.string().min(1).regex(/^[a-z0-9_.*-]+$/, 'globs use a-z 0-9 _ . - and *');
const isoDate = z.iso.datetime({ offset: true });

export const ManifestKey = z.strictObject({
  key_id: z.string().min(1).max(128),
  public_key: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a base64url Ed25519 public key (32 bytes)'),
  not_before: isoDate.optional(),
  not_after: isoDate.optional(),
  revoked: z.boolean().default(false),
});

export const Manifest = z.strictObject({
  agent: z.string().regex(AGENT_ID_RE, 'must match [a-z0-9][a-z0-9_-]{0,63}'),
  description: z.string().optional(),
  /** The agent's NATS user nkey (public, starts with U). */
  nats_user: z.string().regex(/^U[A-Z2-7]{55}$/, 'must be a NATS user public nkey (U...)'),
  keys: z.array(ManifestKey).min(1),
  /** Whom this agent may message, and which types: [{ to: "reviewer", types: ["review.*"] }]. */
  send: z.array(z.strictObject({ to: glob, types: z.array(glob).min(1) })).default([]),
  topics: z
    .strictObject({
      publish: z.array(z.strictObject({ topic: z.string().regex(TOPIC_RE), types: z.array(glob).min(1) })).default([]),
      subscribe: z.array(z.string().regex(TOPIC_RE)).default([]),
    })
    .default({ publish: [], subscribe: [] }),
  rate: z
    .strictObject({ per_second: z.number().positive().max(1e6), burst: z.number().int().positive().max(1e7) })
    .default({ per_second: D.DEFAULT_RATE_PER_SECOND, burst: D.DEFAULT_BURST }),
  /** Budget for rejected messages; past it the verifier sheds this sender's messages unverified. */
  rejections: z
    .strictObject({ per_second: z.number().positive().max(1e6), burst: z.number().int().positive().max(1e7) })
    .default({ per_second: D.DEFAULT_REJECTIONS_PER_SECOND, burst: D.DEFAULT_REJECTION_BURST }),
  /** Payload plus header metadata (keys and values, UTF-8). */
  max_payload_bytes: z.number().int().positive().max(D.DEFAULT_NATS_MAX_PAYLOAD).default(D.DEFAULT_MAX_PAYLOAD_BYTES),
  max_depth: z.number().int().min(0).max(1000).default(D.DEFAULT_MAX_DEPTH),
  /** Tool calls this agent may make, with constraints on their arguments (docs/design.md §11). */
  tools: ToolsSection.default([]),
  /** This agent is a tool server (`agentbus mcp serve`): its pinned tools. */
  mcp: McpSection.optional(),
  /** Tool servers whose held calls this agent may approve or deny (globs; a person through `agentbus approve`). */
  approve: z.array(glob).default([]),
  /** Content guards for what this agent sends (docs/design.md §12): per kind reject | flag | off; overrides the contract's. */
  guards: GuardPolicy.optional(),
  /** Memory grants (docs/design.md §13): its own namespace, shared ones read or read-write, sessions; quotas. */
  memory: MemorySection.default({ own: { access: 'read-write' }, shared: [], limits: { sessions: DEFAULT_MEMORY_SESSION_LIMIT, watches: DEFAULT_MEMORY_WATCH_LIMIT } }),
});
export type Manifest = z.infer<typeof Manifest>;
export type ManifestInput = z.input<typeof Manifest>;

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

/** YAML or JSON (by extension) through a schema; a ManifestError names the file and the field. */
function parseWith<S extends z.ZodType>(schema: S, text: string, file: string): z.infer<S> {
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

export function parseManifest(text: string, file: string): Manifest {
  const m = parseWith(Manifest, text, file);
  // the tools policy compiles (regexes, CEL, URL rules) or the manifest is refused, naming the field
  try {
    compileToolPolicy(m.tools);
  } catch (e) {
    if (e instanceof ToolPolicyError) throw new ManifestError(file, e.path, e.message.replace(/^.*?: /, ''));
    throw e;
  }
  return m;
}

export function isManifestFile(name: string): boolean {
  return /\.(ya?ml|json)$/.test(name) && !name.startsWith('.');
}

/** Load every manifest in a directory. Throws ManifestError on the first bad one. */
export function loadManifestDir(dir: string): Manifest[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter(isManifestFile).sort();
  } catch (e) {
    throw new ManifestError(dir, '', `cannot read manifests directory (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const out: Manifest[] = [];
  const seen = new Map<string, string>();
  for (const n of names) {
    const file = join(dir, n);
    const m = parseManifest(readFileSync(file, 'utf8'), file);
    const prev = seen.get(m.agent);
    if (prev) throw new ManifestError(file, 'agent', `agent ${m.agent} is already defined in ${prev}`);
    seen.set(m.agent, file);
    out.push(m);
  }
  return out;
}

/** A signature of a directory's manifests (names, sizes, mtimes) to detect changes cheaply. */
export function dirSignature(dir: string): string {
  try {
    return readdirSync(dir)
      .filter(isManifestFile)
      .sort()
      .map((n) => {
        const s = statSync(join(dir, n));
        return `${n}:${s.size}:${s.mtimeMs}`;
      })
      .join('|');
  } catch {
    return 'unreadable';
  }
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
export function readManifestKeys(dir: string, onError: (e: ManifestError) => void = (e) => { throw e; }): Map<string, Map<string, CompiledKey>> {
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
      const m = parseWith(ManifestKeysOnly, readFileSync(file, 'utf8'), file);
      out.set(m.agent, new Map(m.keys.map((k) => [k.key_id, compileKey(k)])));
    } catch (e) {
      if (e instanceof ManifestError) onError(e);
      else throw e;
    }
  }
  return out;
}

export interface CompiledAgent {
  agent: string;
  manifest: Manifest;
  keys: Map<string, CompiledKey>;
  canSendTo: (recipient: string) => boolean;
  canSendType: (recipient: string, type: string) => boolean;
  canPublishTopic: (topic: string) => boolean;
  canPublishTopicType: (topic: string, type: string) => boolean;
  ratePerMs: number;
  burst: number;
  /** Rejection budget: tokens per ms and bucket size. */
  rejectPerMs: number;
  rejectBurst: number;
  /** Topics it may subscribe to (a reply may name a message delivered on one of them). */
  subscribeTopics: readonly string[];
  maxPayload: number;
  maxDepth: number;
  /** Its `tools:` section compiled: the tool calls it may make (docs/design.md §11). */
  toolPolicy: CompiledToolPolicy;
  /** A tool server's pinned tools by name (empty for other agents). */
  mcpTools: ReadonlyMap<string, McpSection['tools'][number]>;
  /** A tool server's result size limit. */
  toolResultMaxBytes: number;
  /** May it approve held calls of this tool server? */
  canApprove: (server: string) => boolean;
}

/** Manifests compiled to lookup tables; immutable, swapped whole on reload. */
export class Policy {
  readonly agents: Map<string, CompiledAgent>;
  readonly topics: Set<string>;
  constructor(manifests: Manifest[]) {
    this.agents = new Map();
    this.topics = new Set();
    for (const m of manifests) {
      const keys = new Map(m.keys.map((k) => [k.key_id, compileKey(k)]));
      const sendRules = m.send.map((r) => ({ to: compileGlobs([r.to]), types: compileGlobs(r.types) }));
      const topicRules = m.topics.publish.map((r) => ({ topic: r.topic, types: compileGlobs(r.types) }));
      for (const t of m.topics.publish) this.topics.add(t.topic);
      for (const t of m.topics.subscribe) this.topics.add(t);
      this.agents.set(m.agent, {
        agent: m.agent,
        manifest: m,
        keys,
        canSendTo: (r) => sendRules.some((x) => x.to(r)),
        canSendType: (r, t) => sendRules.some((x) => x.to(r) && x.types(t)),
        canPublishTopic: (t) => topicRules.some((x) => x.topic === t),
        canPublishTopicType: (t, ty) => topicRules.some((x) => x.topic === t && x.types(ty)),
        ratePerMs: m.rate.per_second / 1000,
        burst: m.rate.burst,
        rejectPerMs: m.rejections.per_second / 1000,
        rejectBurst: m.rejections.burst,
        subscribeTopics: Object.freeze([...new Set(m.topics.subscribe)]),
        maxPayload: m.max_payload_bytes,
        maxDepth: m.max_depth,
        toolPolicy: compileToolPolicy(m.tools),
        mcpTools: new Map((m.mcp?.tools ?? []).map((t) => [t.name, t])),
        toolResultMaxBytes: m.mcp?.result_max_bytes ?? DEFAULT_TOOL_RESULT_MAX_BYTES,
        canApprove: compileGlobs(m.approve),
      });
    }
  }

  /** The key for (sender, keyId) at time `at`, or the reason it cannot be used. */
  resolveKey(sender: string, keyId: string, at: number): Uint8Array | Reason {
    return resolveCompiledKey(this.agents.get(sender)?.keys, keyId, at);
  }
}

export { TYPE_RE };
