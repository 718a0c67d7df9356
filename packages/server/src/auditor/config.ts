// The auditor's configuration: one zod schema, which is also the type. Defaults come from
// defaults.ts. `parseAuditorConfig` reports every problem as "path: message".
import { z } from 'zod';
import * as D from './defaults.js';
import { rulesSchema } from './detectors/index.js';
import { connectionsConfigSchema } from './connections.js';

const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'must be an SQL identifier ([A-Za-z_][A-Za-z0-9_]*)');

export const storeConfigSchema = z
  .object({
    /** A chDB data directory (embedded, the default) or an http(s):// ClickHouse server URL. */
    url: z.string().min(1).default(D.DEFAULT_STORE),
    database: identifier.default(D.DEFAULT_DATABASE),
    username: z.string().optional(),
    password: z.string().optional(),
    /** Rows (and aggregates) older than this are dropped by ClickHouse's TTL. */
    // at most ~68 years: time + the TTL must stay within DateTime (2106), or every row expires at once
    ttlDays: z.number().int().min(1).max(25_000).default(D.DEFAULT_TTL_DAYS),
    /**
     * A ClickHouse cluster (a name from the server's remote_servers): migrations run ON CLUSTER and
     * every table is Replicated* (one shard, its replicas). Only with a server URL.
     */
    cluster: identifier.optional(),
  })
  .refine((s) => !s.cluster || /^https?:\/\//i.test(s.url), {
    message: 'cluster needs an http(s):// ClickHouse server url (chDB is a single embedded engine)',
    path: ['cluster'],
  });
export type StoreConfig = z.infer<typeof storeConfigSchema>;

export const natsConfigSchema = z.object({
  url: z.string().min(1).default(D.DEFAULT_NATS_URL),
  /** An nkey seed file ("SU..."), optional. */
  credsFile: z.string().optional(),
  /**
   * The system-account user's credential (nats-config --system-creds): the auditor follows the
   * connect/disconnect events with it (identity_reuse, new_address). Absent: not followed.
   */
  systemCredsFile: z.string().optional(),
  name: z.string().default('agentbus-auditor'),
  /** TLS to NATS: the CA that signed the server certificate (and a client certificate if the server verifies clients). */
  tls: z
    .object({ caFile: z.string().min(1).optional(), certFile: z.string().min(1).optional(), keyFile: z.string().min(1).optional() })
    .strict()
    .optional(),
});
export type NatsConfig = z.infer<typeof natsConfigSchema>;

export const consumerConfigSchema = z.object({
  stream: z.string().default(D.AUDIT_STREAM),
  durable: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default(D.DEFAULT_DURABLE),
  batchMaxMessages: z.number().int().min(1).max(10_000).default(D.DEFAULT_BATCH_MAX_MESSAGES),
  batchMaxWaitMs: z.number().int().min(1000).max(60_000).default(D.DEFAULT_BATCH_MAX_WAIT_MS),
  ackWaitMs: z.number().int().min(1000).default(D.DEFAULT_ACK_WAIT_MS),
  maxAckPending: z.number().int().min(1).default(D.DEFAULT_MAX_ACK_PENDING),
  /** Fetch → map → insert → ack loops at once on the durable consumer (one process; issue 30). */
  pipelines: z.number().int().min(1).max(16).default(D.DEFAULT_PIPELINES),
  backoffInitialMs: z.number().int().min(1).default(D.DEFAULT_BACKOFF_INITIAL_MS),
  backoffMaxMs: z.number().int().min(1).default(D.DEFAULT_BACKOFF_MAX_MS),
  dlqSubject: z.string().default(D.DEFAULT_DLQ_SUBJECT),
});
export type ConsumerConfig = z.infer<typeof consumerConfigSchema>;

export const detectConfigSchema = z.object({
  enabled: z.boolean().default(true),
  intervalMs: z.number().int().min(1000).default(D.DEFAULT_DETECT_INTERVAL_MS),
  /** The threshold detectors (detectors/plugin.ts `thresholdRule`) also run this often over the open minute; 0: only every intervalMs. */
  thresholdIntervalMs: z
    .number()
    .int()
    .refine((n) => n === 0 || n >= 250, 'must be 0 (off) or at least 250')
    .default(D.DEFAULT_THRESHOLD_INTERVAL_MS),
  cooldownMs: z.number().int().min(0).default(D.DEFAULT_ALERT_COOLDOWN_MS),
  alertSubjectPrefix: z.string().default(D.DEFAULT_ALERT_SUBJECT_PREFIX),
  rules: rulesSchema.prefault({}),
});
export type DetectConfig = z.infer<typeof detectConfigSchema>;

export const auditorConfigSchema = z.object({
  nats: natsConfigSchema.prefault({}),
  store: storeConfigSchema.prefault({}),
  consumer: consumerConfigSchema.prefault({}),
  detect: detectConfigSchema.prefault({}),
  /** Connect/disconnect events (identity_reuse, new_address): needs nats.systemCredsFile. */
  connections: connectionsConfigSchema.prefault({}),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});
export type AuditorConfig = z.infer<typeof auditorConfigSchema>;
export type AuditorConfigInput = z.input<typeof auditorConfigSchema>;

export class AuditorConfigError extends Error {
  override readonly name = 'AuditorConfigError';
  constructor(
    message: string,
    readonly issues: { path: string; message: string }[],
  ) {
    super(message);
  }
}

/** Parse and default a config; throws AuditorConfigError naming each bad path. */
export function parseAuditorConfig(input: unknown): AuditorConfig {
  const r = auditorConfigSchema.safeParse(input ?? {});
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message }));
  throw new AuditorConfigError(`invalid auditor config: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
}
