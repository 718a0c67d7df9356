// Manifests: one per agent (YAML or JSON), zod-validated, compiled at load into lookup tables
// the verifier consults synchronously per message.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { AGENT_ID_RE, TYPE_RE, TOPIC_RE } from './envelope.js';
import { Reason } from './proto.js';
import { compileGlobs } from './glob.js';
import * as D from './constants.js';
import { ToolsSection, compileToolPolicy, ToolPolicyError } from './tools/policy.js';
import type { CompiledToolPolicy } from './tools/policy.js';
import { McpSection, DEFAULT_TOOL_RESULT_MAX_BYTES } from './tools/definition.js';
import {
  ManifestKey,
  ManifestError,
  parseManifestWith as parseWith,
  isManifestFile,
  compileKey,
  resolveCompiledKey,
  type CompiledKey,
} from './manifest-keys.js';
import { GuardPolicy } from './guard/types.js';
import { MemorySection, DEFAULT_MEMORY_SESSION_LIMIT, DEFAULT_MEMORY_WATCH_LIMIT } from './memory/grants.js';
import { A2aSection } from './a2a.js';
import { EnforceMode, loadProjectDefaults, defaultsSignature } from './enforce.js';

const glob = z
  .string()
  .min(1)
  .regex(/^[a-z0-9_.*-]+$/, 'globs use a-z 0-9 _ . - and *');

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
  /**
   * Workers (docs/design.md §18): how many connections this agent may hold at once with its one
   * credential. Each delivery goes to one of them, each answer to the one that asked; the auditor
   * raises identity_reuse past this count (or from a foreign address).
   */
  replicas: z.number().int().min(1).max(D.MAX_REPLICAS).default(1),
  /** Tool calls this agent may make, with constraints on their arguments (docs/design.md §11). */
  tools: ToolsSection.default([]),
  /** This agent is a tool server (`agentbus mcp serve`): its pinned tools. */
  mcp: McpSection.optional(),
  /** Tool servers whose held calls this agent may approve or deny (globs; a person through `agentbus approve`). */
  approve: z.array(glob).default([]),
  /** Content guards for what this agent sends (docs/design.md §12): per kind reject | flag | off; overrides the contract's. */
  guards: GuardPolicy.optional(),
  /** Memory grants (docs/design.md §13): its own namespace, shared ones read or read-write, sessions; quotas. */
  memory: MemorySection.default({
    own: { access: 'read-write' },
    shared: [],
    limits: { sessions: DEFAULT_MEMORY_SESSION_LIMIT, watches: DEFAULT_MEMORY_WATCH_LIMIT },
  }),
  /** The A2A boundary (docs/design.md §17): exposed through the gateway, an external principal, or the gateway itself. */
  a2a: A2aSection.optional(),
  // --- monitor mode (docs/design.md §18; enforce.ts) ---
  /**
   * `monitor`: the verifier decides everything and records "would refuse: <reason>", but delivers
   * what policy alone would refuse; identity, signature, key, replay and freshness are enforced in
   * every mode. Absent: the directory's `_defaults.yaml` decides (itself absent: `enforce`).
   */
  enforce: EnforceMode.optional(),
});
export type Manifest = z.infer<typeof Manifest>;
export type ManifestInput = z.input<typeof Manifest>;

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

/**
 * Load every manifest in a directory. Throws ManifestError on the first bad one. A manifest
 * without `enforce:` gets the directory's project default (`_defaults.yaml`, enforce.ts).
 */
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
  // read (and so checked) whether or not a manifest needs it: a bad file is an error either way
  const defaults = loadProjectDefaults(dir);
  for (const m of out) m.enforce ??= defaults.enforce;
  return out;
}

/** A signature of a directory's manifests and its project defaults file (names, sizes, mtimes) to detect changes cheaply. */
export function dirSignature(dir: string): string {
  try {
    return `${defaultsSignature(dir)}|${readdirSync(dir)
      .filter(isManifestFile)
      .sort()
      .map((n) => {
        const s = statSync(join(dir, n));
        return `${n}:${s.size}:${s.mtimeMs}`;
      })
      .join('|')}`;
  } catch {
    return 'unreadable';
  }
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
  /** Monitor mode (docs/design.md §18): policy refusals are recorded as "would refuse" and the message delivered. */
  monitor: boolean;
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
        monitor: m.enforce === 'monitor',
      });
    }
  }

  /** The key for (sender, keyId) at time `at`, or the reason it cannot be used. */
  resolveKey(sender: string, keyId: string, at: number): Uint8Array | Reason {
    return resolveCompiledKey(this.agents.get(sender)?.keys, keyId, at);
  }
}

export { TYPE_RE };
export * from './enforce.js';
// the key parser and file rules live in manifest-keys.ts (loaded without the tool policy); here too for readers of the whole manifest
export * from './manifest-keys.js';
