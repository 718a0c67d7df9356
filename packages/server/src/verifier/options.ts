// The verifier's options, parsed by one zod schema. A missing option and an option present as
// `undefined` are the same thing: both take the default. (Before this schema the defaults were
// spread under the caller's object, so `{ maxSkewMs: undefined }` replaced the default with
// undefined and every freshness comparison with NaN was false: freshness was off.) A value that is
// present must be valid; nothing here can switch a check off.
import { z } from 'zod';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import type { ContractRegistry } from '@agentbus/sdk/internal';
import type { Ed25519Backend } from '@agentbus/protocol';
import type { ServiceIdentity } from '../common/service-creds.js';
import * as D from '@agentbus/protocol';
import { DEFAULT_QUARANTINE_MS, DEFAULT_QUARANTINE_MAX_MS } from '../common/quarantine.js';

export interface VerifierOptions {
  servers: string | string[];
  credentials?: ServiceIdentity | undefined;
  manifestsDir: string;
  contracts: ContractRegistry;
  id?: string | undefined;
  /** Freshness window: sent_at_ms within now ± maxSkewMs (default 30 s). */
  maxSkewMs?: number | undefined;
  /** How long accepted msg_ids are remembered (≥ 2 × skew; default 2 × skew + 5 s). */
  replayWindowMs?: number | undefined;
  /** Number of sender partitions; must match the nats-server mapping (nats-config --partitions). */
  partitions?: number | undefined;
  /** Shared by all verifiers: MAC key of the depth tokens (32 bytes or more). Random per process if absent. */
  depthKey?: Uint8Array | undefined;
  leaseTtlMs?: number | undefined;
  auditBatchMax?: number | undefined;
  /** Replicas for the AUDIT stream and the replay bucket (3 on a 3-node cluster). */
  replicas?: number | undefined;
  manifestPollMs?: number | undefined;
  logger?: Logger | undefined;
  backend?: Ed25519Backend | undefined;
  /** Extra connection options (tls, ...). */
  connectOptions?: Record<string, unknown> | undefined;
  /** Serve /metrics, /healthz and /readyz on this port (0 or absent: off). */
  metricsPort?: number | undefined;
  /** Re-forward a direct message until its recipient confirms, for this long (default 1000 ms, at least 100). */
  deliveryTimeoutMs?: number | undefined;
  /** Bind address of the metrics server (default 127.0.0.1). */
  metricsHost?: string | undefined;
  /** How long a tool call that needs approval is held before it is refused approval_timeout (default 120 s). */
  approvalTimeoutMs?: number | undefined;
  /**
   * Worker threads that check signatures off the event loop (sodium backend only; 0: inline).
   * Default: 1 on a machine with 4 or more cores, else 0 (on 2 cores nats-server and the
   * clients use the second one: a thread there cost more CPU per message than it saved;
   * docs/decisions.md, issue 19).
   */
  verifyThreads?: number | undefined;
  /**
   * Quarantine at NATS (common/quarantine.ts): a sender the verifier starts shedding gets its publish
   * permission withdrawn by the config followers for a cool-down (default on).
   */
  quarantine?: boolean | undefined;
  /** The first cool-down (default 10 s); it doubles while the flood lasts, up to quarantineMaxMs (default 10 min). */
  quarantineMs?: number | undefined;
  quarantineMaxMs?: number | undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const hasFns =
  (...names: string[]) =>
  (v: unknown) =>
    isObject(v) && names.every((n) => typeof v[n] === 'function');
const positiveInt = () => z.number().int().positive();

export const verifierOptionsSchema = z
  .strictObject({
    servers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    credentials: z.custom<ServiceIdentity>(hasFns('auditKey', 'natsSeed'), 'must be a ServiceIdentity (bus/service-creds.ts)').optional(),
    manifestsDir: z.string().min(1),
    contracts: z.custom<ContractRegistry>(hasFns('get', 'has', 'types'), 'must be a ContractRegistry'),
    id: z.string().min(1).optional(),
    maxSkewMs: positiveInt().default(D.DEFAULT_MAX_SKEW_MS),
    replayWindowMs: positiveInt().optional(),
    partitions: positiveInt().default(D.DEFAULT_PARTITIONS),
    depthKey: z.custom<Uint8Array>((v) => v instanceof Uint8Array && v.length >= 32, 'must be at least 32 bytes').optional(),
    leaseTtlMs: positiveInt().optional(),
    auditBatchMax: positiveInt().optional(),
    replicas: positiveInt().default(1),
    manifestPollMs: positiveInt().default(D.DEFAULT_MANIFEST_POLL_MS),
    logger: z.custom<Logger>(hasFns('child', 'info', 'warn', 'error'), 'must be a pino logger').optional(),
    backend: z.custom<Ed25519Backend>(hasFns('verify', 'sign'), 'must be an Ed25519Backend').optional(),
    connectOptions: z.custom<Record<string, unknown>>(isObject, 'must be an object').optional(),
    metricsPort: z.number().int().min(0).max(65535).optional(),
    deliveryTimeoutMs: z.number().int().min(100).default(D.DEFAULT_DELIVERY_TIMEOUT_MS),
    metricsHost: z.string().min(1).optional(),
    approvalTimeoutMs: z.number().int().min(100).default(D.DEFAULT_APPROVAL_TIMEOUT_MS),
    verifyThreads: z
      .number()
      .int()
      .min(0)
      .max(64)
      .default(() => (availableParallelism() >= 4 ? 1 : 0)),
    quarantine: z.boolean().default(true),
    quarantineMs: z.number().int().min(100).default(DEFAULT_QUARANTINE_MS),
    quarantineMaxMs: z.number().int().min(100).default(DEFAULT_QUARANTINE_MAX_MS),
  })
  .superRefine((o, ctx) => {
    if (o.replayWindowMs !== undefined && o.replayWindowMs < 2 * o.maxSkewMs) {
      ctx.addIssue({ code: 'custom', path: ['replayWindowMs'], message: `must be at least 2 × maxSkewMs (${2 * o.maxSkewMs})` });
    }
  })
  .transform((o) => ({ ...o, replayWindowMs: o.replayWindowMs ?? 2 * o.maxSkewMs + 5000 }));

/** The options with every default filled in. */
export type ResolvedVerifierOptions = z.output<typeof verifierOptionsSchema>;

// the interface above and the schema's input must describe the same options
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameShape: Same<Required<VerifierOptions>, Required<z.input<typeof verifierOptionsSchema>>> = true;
void sameShape;

/** Parse and complete the options; throws RangeError naming the option on a bad value. */
export function parseVerifierOptions(opts: VerifierOptions): ResolvedVerifierOptions {
  const r = verifierOptionsSchema.safeParse(opts);
  if (r.success) return r.data;
  const i = r.error.issues[0]!;
  throw new RangeError(`verifier options: ${i.path.join('.') || '(root)'}: ${i.message}`);
}
