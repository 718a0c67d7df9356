// The ClickHouse schema as versioned migrations. Each migration is a list of statements that
// are each safe to run again (IF NOT EXISTS), so a crash half-way through a migration, or two
// auditors starting at once, cannot leave the schema broken: the next start re-runs the
// migration and records it in schema_migrations. Only SQL that ClickHouse 24.3 accepts.
//
// `{db}` and `{ttl}` are the only substitutions: the database is a validated identifier and the
// TTL a validated integer from the config (DDL cannot take query parameters). Values from
// users never reach DDL.

export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

/** Tables with a TTL, and the time expression the TTL applies to. */
export const TTL_TABLES: Record<string, string> = {
  audit_events: 'toDateTime(time)',
  alerts: 'toDateTime(detected_at)',
  agg_minute: 'minute',
  agg_payload_minute: 'minute',
  audit_batches: 'toDateTime(created_at)',
  audit_deliveries: 'toDateTime(at)',
  agg_shed_minute: 'minute',
  audit_connections: 'toDateTime(time)',
  agg_would_refuse_minute: 'minute',
};

/**
 * Messages per group of `cols` from the per-minute aggregates, as a subquery with columns
 * `cols…, n, f, l` (count, first and last seen): each event once (uniqExact over event_id), and a
 * row that stands for shed messages as all of them. `where` filters on minute (and on the cols).
 */
export function messageCounts(table: (name: string) => string, cols: string[], where: string): string {
  const c = cols.join(', ');
  return `(SELECT ${c}, sum(n0) AS n, min(f0) AS f, max(l0) AS l FROM (
      SELECT ${c}, uniqExactMerge(events) AS n0, min(first_seen) AS f0, max(last_seen) AS l0 FROM ${table('agg_minute')} WHERE ${where} GROUP BY ${c}
      UNION ALL
      SELECT ${c}, sum(extra) AS n0, min(first_seen) AS f0, max(last_seen) AS l0 FROM ${table('agg_shed_minute')} WHERE ${where} GROUP BY ${c}
    ) GROUP BY ${c})`;
}

/** Which migrations ran (created before any of them). */
export const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS {db}.schema_migrations (
        version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
      ) ENGINE = ReplacingMergeTree ORDER BY version`;

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'audit_events',
    statements: [
      `CREATE TABLE IF NOT EXISTS {db}.audit_events (
        event_id FixedString(32) COMMENT 'hex of the 16-byte id the verifier assigned: the row identity',
        time DateTime64(3, 'UTC') COMMENT 'verified_at_ms: when the verifier decided',
        sent_at DateTime64(3, 'UTC') COMMENT 'header sent_at_ms (sender clock); 1970 when no header',
        verifier_id LowCardinality(String),
        verdict LowCardinality(String) COMMENT 'accepted | rejected | duplicate',
        reason LowCardinality(String) COMMENT 'rejection reason, e.g. bad_signature; empty when accepted',
        detail String,
        subject_sender LowCardinality(String) COMMENT 'sender token of the NATS subject (authenticated by NATS)',
        sender LowCardinality(String) COMMENT 'subject_sender, or the header sender when the subject had none',
        header_sender LowCardinality(String) COMMENT 'sender claimed in the signed header',
        recipient LowCardinality(String),
        topic LowCardinality(String),
        destination LowCardinality(String) COMMENT 'recipient, or topic:<name>',
        type LowCardinality(String),
        msg_id String COMMENT 'hex, 32 chars; empty when the header did not decode',
        key_id LowCardinality(String),
        trace_id String,
        span_id String,
        causation_id String,
        content_type LowCardinality(String),
        header_depth UInt32 COMMENT 'depth the sender claimed',
        depth UInt32 COMMENT 'depth the verifier enforced',
        payload_size UInt32,
        payload_sha256 FixedString(64) COMMENT 'hex SHA-256 of the payload as received (computed by the verifier)',
        header_payload_sha256 String COMMENT 'hex SHA-256 the header claims',
        raw_size UInt32,
        prompt_version LowCardinality(String),
        rationale String,
        metadata Map(String, String),
        header_valid UInt8 COMMENT '1 when the verifier checked the sender signature over this header (else its fields are an unverified claim)',
        header_hex String COMMENT 'the signed header bytes as received, hex',
        signature_hex String COMMENT 'the 64-byte signature, hex',
        ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
        INDEX idx_msg_id msg_id TYPE bloom_filter GRANULARITY 4,
        INDEX idx_trace_id trace_id TYPE bloom_filter GRANULARITY 4
      ) ENGINE = ReplacingMergeTree
      PARTITION BY toYYYYMMDD(time)
      ORDER BY (sender, time, event_id)
      TTL toDateTime(time) + toIntervalDay({ttl})
      SETTINGS ttl_only_drop_parts = 1`,
    ],
  },
  {
    version: 2,
    name: 'alerts',
    statements: [
      `CREATE TABLE IF NOT EXISTS {db}.alerts (
        alert_id FixedString(32),
        rule LowCardinality(String),
        severity LowCardinality(String),
        agents Array(String),
        dedup_key String,
        window_start DateTime64(3, 'UTC'),
        window_end DateTime64(3, 'UTC'),
        detected_at DateTime64(3, 'UTC'),
        evidence String COMMENT 'JSON'
      ) ENGINE = ReplacingMergeTree
      PARTITION BY toYYYYMM(detected_at)
      ORDER BY (rule, detected_at, alert_id)
      TTL toDateTime(detected_at) + toIntervalDay({ttl})`,
    ],
  },
  {
    version: 3,
    name: 'agg_minute',
    statements: [
      // uniqExact over event_id: a row inserted twice (redelivery before the replacing merge)
      // is counted once, so the aggregates are as idempotent as the table they come from.
      `CREATE TABLE IF NOT EXISTS {db}.agg_minute (
        minute DateTime('UTC'),
        sender LowCardinality(String),
        destination LowCardinality(String),
        verdict LowCardinality(String),
        reason LowCardinality(String),
        events AggregateFunction(uniqExact, FixedString(32)),
        first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
        last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
      ) ENGINE = AggregatingMergeTree
      PARTITION BY toYYYYMMDD(minute)
      ORDER BY (minute, sender, destination, verdict, reason)
      TTL minute + toIntervalDay({ttl})`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.agg_minute_mv TO {db}.agg_minute AS
      SELECT toDateTime(toStartOfMinute(time), 'UTC') AS minute, sender, destination, verdict, reason,
             uniqExactState(event_id) AS events, min(time) AS first_seen, max(time) AS last_seen
      FROM {db}.audit_events
      GROUP BY minute, sender, destination, verdict, reason`,
    ],
  },
  {
    version: 4,
    name: 'agg_payload_minute',
    statements: [
      `CREATE TABLE IF NOT EXISTS {db}.agg_payload_minute (
        minute DateTime('UTC'),
        payload_sha256 FixedString(64),
        sender LowCardinality(String),
        destination LowCardinality(String),
        events AggregateFunction(uniqExact, FixedString(32)),
        first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
        last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
      ) ENGINE = AggregatingMergeTree
      PARTITION BY toYYYYMMDD(minute)
      ORDER BY (minute, payload_sha256, sender, destination)
      TTL minute + toIntervalDay({ttl})`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.agg_payload_minute_mv TO {db}.agg_payload_minute AS
      SELECT toDateTime(toStartOfMinute(time), 'UTC') AS minute, payload_sha256, sender, destination,
             uniqExactState(event_id) AS events, min(time) AS first_seen, max(time) AS last_seen
      FROM {db}.audit_events
      WHERE verdict = 'accepted' AND payload_size > 0
      GROUP BY minute, payload_sha256, sender, destination`,
    ],
  },
  {
    version: 5,
    name: 'signed_batches',
    statements: [
      // docs/design.md §10: each row names the signed batch that carried it; the batches themselves are
      // kept, so `audit verify` can re-check every column of every row against the signature.
      `ALTER TABLE {db}.audit_events
        ADD COLUMN IF NOT EXISTS batch_id String COMMENT '<chain_id hex>:<seq> of the signed audit batch that carried the event',
        ADD COLUMN IF NOT EXISTS batch_pos UInt32 COMMENT 'index of the event in that batch',
        ADD COLUMN IF NOT EXISTS malformed String COMMENT 'fields that could not be mapped as they were (comma-separated); empty when none',
        ADD COLUMN IF NOT EXISTS shed_count UInt32 COMMENT 'messages this row stands for, shed unverified past the rejection budget of the sender (0: one message)',
        ADD COLUMN IF NOT EXISTS window_start DateTime64(3, 'UTC') COMMENT 'for shed_count > 0: first message of the interval'`,
      `CREATE TABLE IF NOT EXISTS {db}.audit_batches (
        batch_id String,
        chain_id FixedString(32) COMMENT 'hex of the 16 random bytes the verifier process chose',
        seq UInt64 COMMENT 'position in the chain, from 1',
        verifier_id LowCardinality(String),
        key_id LowCardinality(String) COMMENT 'the verifier audit key that signed the batch',
        created_at DateTime64(3, 'UTC'),
        prev_hash String COMMENT 'hex SHA-256 of the previous batch of the chain (zeros for seq 1)',
        batch_hash FixedString(64) COMMENT 'hex SHA-256 of batch_hex',
        events UInt32,
        deliveries UInt32,
        subject LowCardinality(String),
        batch_hex String COMMENT 'the encoded AuditBatch exactly as signed',
        signature_hex String COMMENT 'Ed25519 by the verifier audit key over the domain and batch_hex (docs/audit.md)',
        ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
      ) ENGINE = ReplacingMergeTree
      PARTITION BY toYYYYMMDD(created_at)
      ORDER BY (chain_id, seq)
      TTL toDateTime(created_at) + toIntervalDay({ttl})`,
      `CREATE TABLE IF NOT EXISTS {db}.audit_deliveries (
        batch_id String,
        batch_pos UInt32,
        verifier_id LowCardinality(String),
        msg_id String,
        recipient LowCardinality(String),
        delivery LowCardinality(String) COMMENT 'confirmed | unconfirmed | refused | approved | denied',
        at DateTime64(3, 'UTC'),
        malformed String,
        ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
      ) ENGINE = ReplacingMergeTree
      PARTITION BY toYYYYMMDD(at)
      ORDER BY (msg_id, batch_id, batch_pos)
      TTL toDateTime(at) + toIntervalDay({ttl})`,
    ],
  },
  {
    version: 6,
    name: 'agg_shed_minute',
    statements: [
      // A row with shed_count > 0 stands for shed_count messages (shed unverified past the
      // sender's rejection budget); agg_minute counts it once, this table adds the rest.
      `CREATE TABLE IF NOT EXISTS {db}.agg_shed_minute (
        minute DateTime('UTC'),
        sender LowCardinality(String),
        destination LowCardinality(String),
        verdict LowCardinality(String),
        reason LowCardinality(String),
        extra SimpleAggregateFunction(sum, UInt64),
        first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
        last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
      ) ENGINE = AggregatingMergeTree
      PARTITION BY toYYYYMMDD(minute)
      ORDER BY (minute, sender, destination, verdict, reason)
      TTL minute + toIntervalDay({ttl})`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.agg_shed_minute_mv TO {db}.agg_shed_minute AS
      SELECT toDateTime(toStartOfMinute(time), 'UTC') AS minute, sender, destination, verdict, reason,
             sum(toUInt64(shed_count) - 1) AS extra, min(if(window_start > toDateTime64(0, 3, 'UTC'), window_start, time)) AS first_seen, max(time) AS last_seen
      FROM {db}.audit_events
      WHERE shed_count > 0
      GROUP BY minute, sender, destination, verdict, reason`,
    ],
  },
  {
    version: 7,
    name: 'delivery_refusals',
    statements: [
      // a recipient that could not verify or decode a message refuses it: its reason and detail
      `ALTER TABLE {db}.audit_deliveries ADD COLUMN IF NOT EXISTS reason LowCardinality(String) DEFAULT '' COMMENT 'refused: the reason the recipient gave' AFTER malformed`,
      `ALTER TABLE {db}.audit_deliveries ADD COLUMN IF NOT EXISTS detail String DEFAULT '' COMMENT 'refused: the detail the recipient gave' AFTER reason`,
    ],
  },
  {
    version: 8,
    name: 'tool_calls',
    statements: [
      // a tool call is the type tool.<server>.<tool>: its server and tool as columns of their own;
      // its argument hash is payload_sha256, its policy decision verdict and reason
      `ALTER TABLE {db}.audit_events ADD COLUMN IF NOT EXISTS tool_server LowCardinality(String) MATERIALIZED if(match(type, '^tool[.][a-z0-9][a-z0-9_-]*[.][a-z0-9][a-z0-9_-]*$'), splitByChar('.', type)[2], '') COMMENT 'tool calls: the server'`,
      `ALTER TABLE {db}.audit_events ADD COLUMN IF NOT EXISTS tool_name LowCardinality(String) MATERIALIZED if(match(type, '^tool[.][a-z0-9][a-z0-9_-]*[.][a-z0-9][a-z0-9_-]*$'), splitByChar('.', type)[3], '') COMMENT 'tool calls: the tool'`,
      // the approver of a held call, from its decision record (approved or denied by <agent> ...)
      `ALTER TABLE {db}.audit_deliveries ADD COLUMN IF NOT EXISTS approver LowCardinality(String) MATERIALIZED if(delivery IN ('approved', 'denied'), extract(detail, '^(?:approved|denied) by ([a-z0-9][a-z0-9_-]*)'), '') COMMENT 'held tool calls: who decided'`,
    ],
  },
  {
    version: 9,
    name: 'content_guards',
    statements: [
      // what the content guards found, one array element per finding (never the secret: a rule and a hash)
      `ALTER TABLE {db}.audit_events
        ADD COLUMN IF NOT EXISTS guard_kinds Array(LowCardinality(String)) COMMENT 'content guard findings: credential, invisible_text, control_chars',
        ADD COLUMN IF NOT EXISTS guard_paths Array(String) COMMENT 'their JSON paths',
        ADD COLUMN IF NOT EXISTS guard_rules Array(String) COMMENT 'the rule that matched',
        ADD COLUMN IF NOT EXISTS guard_hashes Array(String) COMMENT 'first 12 hex of the SHA-256 of a matched credential',
        ADD COLUMN IF NOT EXISTS guard_actions Array(LowCardinality(String)) COMMENT 'reject or flag',
        ADD COLUMN IF NOT EXISTS guard_details Array(String) COMMENT 'bounded and secret-free: the ASCII hidden in tag characters'`,
    ],
  },
  {
    version: 10,
    name: 'memory_access',
    statements: [
      // memory requests and the memory service's answers: hashes, never keys or values in clear
      `ALTER TABLE {db}.audit_events
        ADD COLUMN IF NOT EXISTS memory_op LowCardinality(String) COMMENT 'memory: get, put, delete, list, watch, unwatch',
        ADD COLUMN IF NOT EXISTS memory_ns LowCardinality(String) COMMENT 'memory: the namespace',
        ADD COLUMN IF NOT EXISTS memory_key_hash String COMMENT 'memory: SHA-256 hex of the key',
        ADD COLUMN IF NOT EXISTS memory_value_hash String COMMENT 'memory: SHA-256 hex of the value JSON',
        ADD COLUMN IF NOT EXISTS memory_value_size UInt32 COMMENT 'memory: bytes of the value JSON',
        ADD COLUMN IF NOT EXISTS memory_revision UInt64 COMMENT 'memory: if_revision of a request, revision of a result',
        ADD COLUMN IF NOT EXISTS memory_status LowCardinality(String) COMMENT 'memory: request, ok or the service error code, event'`,
    ],
  },
  {
    version: 11,
    name: 'audit_connections',
    statements: [
      // nats-server's connect and disconnect events of the bus account (the auditor's system
      // user follows them), and the connections CONNZ listed when the auditor (re)started
      `CREATE TABLE IF NOT EXISTS {db}.audit_connections (
        time DateTime64(3, 'UTC') COMMENT 'connect: the client start; disconnect: its stop; present: when CONNZ listed it',
        event LowCardinality(String) COMMENT 'connect | disconnect | present (listed by CONNZ at the auditor start)',
        agent LowCardinality(String) COMMENT 'the agent whose manifest names this nats_user; empty for service users',
        nkey String COMMENT 'the NATS user (public nkey U...)',
        client_id UInt64 COMMENT 'nats-server client id (cid), unique per server',
        host String COMMENT 'client IP address as the server saw it',
        server LowCardinality(String) COMMENT 'the nats-server (name) the client is connected to',
        name String COMMENT 'the connection name the client gave',
        start DateTime64(3, 'UTC') COMMENT 'when this connection started',
        reason LowCardinality(String) COMMENT 'disconnect: the server reason (Client Closed, Stale Connection, ...)'
      ) ENGINE = MergeTree
      ORDER BY (agent, time)
      TTL toDateTime(time) + toIntervalDay({ttl})`,
    ],
  },
  {
    version: 12,
    name: 'monitor_mode',
    statements: [
      // docs/design.md §18: the mode that decided, and what enforcing would have refused a message
      // monitor mode delivered with (rows from before: enforce, nothing)
      `ALTER TABLE {db}.audit_events
        ADD COLUMN IF NOT EXISTS mode LowCardinality(String) DEFAULT 'enforce' COMMENT 'enforce | monitor: the mode of the sender that decided (monitor: policy refusals recorded in would_refuse, the message delivered)',
        ADD COLUMN IF NOT EXISTS would_refuse LowCardinality(String) DEFAULT '' COMMENT 'monitor mode: the reason enforcing would have refused this delivered message with; empty when none'`,
      // what the refusal detectors (tool, memory, content guard) count besides rejections: the
      // messages monitor mode delivered with a would-refuse reason, per minute
      `CREATE TABLE IF NOT EXISTS {db}.agg_would_refuse_minute (
        minute DateTime('UTC'),
        sender LowCardinality(String),
        destination LowCardinality(String),
        reason LowCardinality(String) COMMENT 'would_refuse',
        events AggregateFunction(uniqExact, FixedString(32)),
        first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
        last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
      ) ENGINE = AggregatingMergeTree
      PARTITION BY toYYYYMMDD(minute)
      ORDER BY (minute, sender, destination, reason)
      TTL minute + toIntervalDay({ttl})`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.agg_would_refuse_minute_mv TO {db}.agg_would_refuse_minute AS
      SELECT toDateTime(toStartOfMinute(time), 'UTC') AS minute, sender, destination, would_refuse AS reason,
             uniqExactState(event_id) AS events, min(time) AS first_seen, max(time) AS last_seen
      FROM {db}.audit_events
      WHERE would_refuse != ''
      GROUP BY minute, sender, destination, reason`,
    ],
  },
];

/**
 * The statement for a ClickHouse cluster: `ON CLUSTER <name>` on every CREATE and ALTER, and the
 * Replicated variant of every MergeTree engine, its ZooKeeper/Keeper path keyed by the server's
 * {shard} and {replica} macros and ClickHouse's own {database}/{table} (left for the server to
 * expand). `cluster` is a validated identifier.
 */
export function forCluster(sql: string, cluster: string | undefined): string {
  if (!cluster) return sql;
  return sql
    .replace(/^(\s*CREATE (?:TABLE|MATERIALIZED VIEW|DATABASE) IF NOT EXISTS \S+)/, `$1 ON CLUSTER ${cluster}`)
    .replace(/^(\s*ALTER TABLE \S+)/, `$1 ON CLUSTER ${cluster}`)
    .replace(
      /ENGINE = (Replacing|Aggregating|)MergeTree\b/g,
      (_m, kind: string) => `ENGINE = Replicated${kind}MergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')`,
    );
}
