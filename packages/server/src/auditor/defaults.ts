// Every default of the auditor, in one place. config.ts builds its zod schema from these.
import { availableParallelism } from 'node:os';

/** JetStream stream the verifier writes audit batches to (the contract with verifier/verifier.ts). */
export const AUDIT_STREAM = 'AUDIT';
export const AUDIT_SUBJECTS = ['agentbus.audit.>'];
/** 7 days, 2 minutes: the stream config the verifier also uses. */
export const AUDIT_STREAM_MAX_AGE_MS = 7 * 24 * 3600 * 1000;
export const AUDIT_STREAM_DUPLICATE_WINDOW_MS = 2 * 60 * 1000;

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
export const DEFAULT_DURABLE = 'auditor';
export const DEFAULT_DLQ_SUBJECT = 'agentbus.dlq.audit';
export const DEFAULT_ALERT_SUBJECT_PREFIX = 'agentbus.alert';

/** Embedded chDB data directory (relative to the working directory) unless a URL is given. */
export const DEFAULT_STORE = './agentbus-audit-db';
export const DEFAULT_DATABASE = 'agentbus';
export const DEFAULT_TTL_DAYS = 90;

/** Size bound of one insert: JetStream messages (each an AuditBatch of 1..N events). */
export const DEFAULT_BATCH_MAX_MESSAGES = 256;
/** Time bound: a fetch returns what arrived within this long (JetStream's minimum is 1 s). */
export const DEFAULT_BATCH_MAX_WAIT_MS = 1000;
/** Consumer ack wait; while an insert is retried the auditor sends +WPI (working) to extend it. */
export const DEFAULT_ACK_WAIT_MS = 60_000;
export const DEFAULT_MAX_ACK_PENDING = 20_000;
export const DEFAULT_BACKOFF_INITIAL_MS = 100;
export const DEFAULT_BACKOFF_MAX_MS = 30_000;

export const DEFAULT_DETECT_INTERVAL_MS = 60_000;
export const DEFAULT_ALERT_COOLDOWN_MS = 15 * 60_000;
/** How often the threshold detectors also run over the open minute (when new rows were stored): first alerts within seconds. */
export const DEFAULT_THRESHOLD_INTERVAL_MS = 2000;
/** How far back detectors look at most (baselines); bounded so each pass reads little. */
export const DEFAULT_DETECT_LOOKBACK_MINUTES = 24 * 60;

/** The alert the auditor raises itself when an audit message cannot be stored as rows (not a detector). */
export const DEAD_LETTER_RULE = 'audit_dead_letter';
/**
 * Fetch → map → insert → ack loops sharing the durable consumer in one auditor: while one waits
 * for the store, another fetches and maps. 2 from 4 cores, else 1: the overlap needs a free core
 * for the store's insert work beside the event loop (on the 2-core bench box two measured no
 * gain that the noise could resolve; docs/decisions.md, issue 30).
 */
export const DEFAULT_PIPELINES = availableParallelism() >= 4 ? 2 : 1;
