// Every default of the broker side, in one place.
export const SUBJECT_IN_PREFIX = 'agentbus.in.';
export const SUBJECT_TO_PREFIX = 'agentbus.to.';
export const SUBJECT_TOPIC_PREFIX = 'agentbus.topic.';
export const SUBJECT_INBOX_PREFIX = 'agentbus.inbox.';
export const SUBJECT_AUDIT_PREFIX = 'agentbus.audit.';
export const SUBJECT_ALERT_PREFIX = 'agentbus.alert.';
export const AUDIT_STREAM = 'AUDIT';
export const VERIFIER_QUEUE = 'agentbus-verifier';
export const DEPTH_HEADER = 'Agentbus-Depth';

export const DEFAULT_MAX_SKEW_MS = 30_000;
export const DEFAULT_RATE_PER_SECOND = 50;
export const DEFAULT_BURST = 100;
export const DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024;
export const DEFAULT_MAX_DEPTH = 16;
/**
 * Budget for a sender's *rejected* messages (manifest `rejections`): a token bucket per subject
 * sender, one token per rejection. Once it is empty the verifier sheds that sender's messages
 * unparsed and unverified until it refills (docs/decisions.md).
 */
export const DEFAULT_REJECTIONS_PER_SECOND = 5;
export const DEFAULT_REJECTION_BURST = 20;
/** Shed messages are counted in one audit event per sender per interval of this length. */
export const SHED_AUDIT_INTERVAL_MS = 1000;
/**
 * A shed message is answered this many ms after it arrived (a tarpit: a sender that waits for
 * its answers gets at most its window of messages through per delay, spread evenly)...
 */
export const SHED_ANSWER_DELAY_MS = 100;
/** ...at most this many held at once; beyond it shed messages are answered at once. */
export const SHED_ANSWER_MAX_HELD = 8192;
export const DEFAULT_AUDIT_BATCH_MAX = 256;
export const DEFAULT_AUDIT_MAX_AGE_MS = 7 * 24 * 3600_000;
export const DEFAULT_MANIFEST_POLL_MS = 250;
/** The NATS max_payload we configure; envelopes above it cannot travel. */
export const DEFAULT_NATS_MAX_PAYLOAD = 1024 * 1024;
export const SUBJECT_PART_PREFIX = 'agentbus.part.';
export const PARTITION_BUCKET = 'AGENTBUS_PARTITIONS';
export const DEFAULT_PARTITIONS = 8;
/** A partition whose owner stops renewing is taken over after this long. */
export const DEFAULT_LEASE_TTL_MS = 5000;
export const DEPTH_TOKEN_HEADER = 'Agentbus-Depth-Token';
/** Metadata key in which a reply carries the depth token of the message it answers (one home: sdk/metadata.ts). */
export { DEPTH_TOKEN_METADATA } from './metadata.js';
/** Receivers confirm deliveries on agentbus.delivered.<verifier>.<recipient> (msg_ids, 16 bytes each). */
export const SUBJECT_DELIVERED_PREFIX = 'agentbus.delivered.';
/** How long the verifier re-forwards a direct message before answering "unconfirmed". */
export const DEFAULT_DELIVERY_TIMEOUT_MS = 1000;
/** At most this many msg_ids (16 bytes each) in one delivery confirmation message. */
export const MAX_CONFIRM_IDS = 1024;
/**
 * A refusal instead of a confirmation: on the same subject, data = the one msg_id (16 bytes),
 * this NATS header = the recipient's reason (the Reason enum's number), and the detail header
 * (at most MAX_REFUSAL_DETAIL_BYTES, UTF-8). The verifier answers the sender DELIVERY_REFUSED.
 */
export const REFUSAL_HEADER = 'Agentbus-Refused';
export const REFUSAL_DETAIL_HEADER = 'Agentbus-Refused-Detail';
export const MAX_REFUSAL_DETAIL_BYTES = 256;
/**
 * Workers (several connections of one agent, docs/design.md §18). A connection that runs as a
 * worker sends each envelope with this NATS header = its worker id (WORKER_ID_RE) and a reply
 * subject under agentbus.inbox.<self>.<worker id>.; deliveries of its messages then carry
 * REPLY_ROUTE_HEADER, which an answer copies back unchanged, and the verifier delivers that
 * answer on agentbus.inbox.<asker>.<worker id>.to.<type> (WORKER_ANSWER_TOKEN) — to the worker
 * that asked, not to the agent's queue group.
 */
export const WORKER_HEADER = 'Agentbus-Worker';
export const REPLY_ROUTE_HEADER = 'Agentbus-Reply-Route';
export const WORKER_ANSWER_TOKEN = 'to';
/** A worker id: one NATS subject token. */
export const WORKER_ID_RE = /^[A-Za-z0-9_-]{1,32}$/;
/** The most workers a manifest may declare (`replicas`). */
export const MAX_REPLICAS = 1024;
