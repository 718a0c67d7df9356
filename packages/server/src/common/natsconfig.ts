// nats-server configuration generated from the manifests (docs/design.md §4):
//   agent X    publishes only agentbus.in.X and its delivery confirmations
//              agentbus.delivered.*.X; subscribes only agentbus.to.X.>, its own inbox
//              agentbus.inbox.X.> and the delivery subjects of the topics its manifest lists.
//   verifier   the only publisher to agentbus.to.>, agentbus.topic.>, agentbus.inbox.> and
//              agentbus.audit.>; subscribes agentbus.in.>.
//   auditor    reads the AUDIT stream, publishes alerts and dead letters.
//   observer   (`agentbus tail`) subscribes agentbus.alert.> and agentbus.audit.> (core
//              subscriptions, live only) and its own inbox; it publishes nothing at all.
//   system     (the auditor's connection follower, `--system-creds`) the only user of the
//              system account $SYS: it subscribes the connect/disconnect events of the bus
//              account and may ask the servers for their connections (CONNZ), nothing else.
// Every bus user is in the account AGENTBUS (JetStream and the partition mapping are enabled
// there), not in nats-server's global account: the server sends no connect/disconnect events
// for the global account's clients (events.go: "Ignore global account activity"), so agents in
// it could not be followed. The system account has no JetStream.
// nats-server reloads this file on SIGHUP without a restart; a user removed from it is
// disconnected and refused from then on, and changed permissions apply to open connections at
// once (2.9: every client is re-authenticated on a reload). A quarantined agent
// (common/quarantine.ts) is left out for its cool-down: disconnected, refused, then let back in.
import type { Manifest } from '@agentbus/protocol/manifest';
import * as D from '@agentbus/protocol';
import { partitionMapping, partitionOf } from './partitions.js';
import { checkKeyEnvName, DEFAULT_JS_KEY_ENV } from './tls.js';

export interface ServiceUsers {
  /** Public nkeys (U...) of the verifier and auditor service users. */
  verifier: string[];
  auditor: string[];
  /** Read-only watchers (`agentbus tail`): alerts and audit events, no publishing. */
  observer?: string[];
  /** The memory service's KV user (docs/design.md §13): JetStream KV only, no agentbus subjects. */
  memory?: string[];
  /** System-account users (the auditor's connection follower): $SYS connect/disconnect events only. */
  system?: string[];
}

/** The account every bus user is in (JetStream and the partition mapping live there). */
export const BUS_ACCOUNT = 'AGENTBUS';
/** nats-server's system account: only the `system` users, no JetStream. */
export const SYSTEM_ACCOUNT = '$SYS';
/** The system user's inbox prefix (its CONNZ replies). */
export const SYSTEM_INBOX_PREFIX = '_INBOX_auditor_sys';

interface User {
  comment: string;
  nkey: string;
  pub: string[];
  sub: string[];
  /** Publish subjects refused even though `pub` allows them (deny wins in nats-server). */
  pubDeny?: string[];
}

const q = (s: string) => JSON.stringify(s);

export function verifierPermissions(): { pub: string[]; sub: string[] } {
  return {
    // held tool calls are announced to approvers; approvals pass between verifiers (agentbus.internal.>)
    pub: [
      'agentbus.to.>',
      'agentbus.topic.>',
      'agentbus.inbox.>',
      'agentbus.audit.>',
      '$JS.API.>',
      '$KV.>',
      `${D.SUBJECT_APPROVAL_PENDING_PREFIX}>`,
      'agentbus.internal.>',
      '_INBOX_verifier.>',
    ],
    // agentbus.in.<sender> arrives as agentbus.part.<p>.<sender> (the partition mapping)
    sub: ['agentbus.part.>', '_INBOX_verifier.>', `${D.SUBJECT_DELIVERED_PREFIX}>`, 'agentbus.internal.>'],
  };
}

export function auditorPermissions(): { pub: string[]; sub: string[] } {
  return {
    pub: ['$JS.API.>', '$JS.ACK.AUDIT.>', '$JS.FC.>', 'agentbus.alert.>', 'agentbus.dlq.>'],
    sub: ['_INBOX_auditor.>', 'agentbus.alert.>'],
  };
}

/**
 * Read-only: live alerts and audit events (a core subscription on the AUDIT stream's subjects
 * receives what the verifier publishes there) and its own inbox. No publish permission at all —
 * not even JetStream's API, which would let it read, and delete, the stream. Rendered as
 * `publish: { deny: [">"] }`.
 */
export function observerPermissions(): { pub: string[]; sub: string[] } {
  return {
    pub: [],
    sub: [`${D.SUBJECT_ALERT_PREFIX}>`, `${D.SUBJECT_AUDIT_PREFIX}>`, '_INBOX_observer.>'],
  };
}

/**
 * The memory service's store credential: JetStream KV (its buckets are agentbus_mem_*) and its
 * own inbox, nothing on agentbus.* — it talks to agents only through its agent identity and the
 * verifier. NATS permissions match whole tokens, so `$JS.API.>` / `$KV.>` cannot be narrowed to
 * the agentbus_mem_ prefix; instead what it must never touch is denied: every JetStream API
 * call that names the AUDIT stream, its dead-letter stream or the verifiers' partition bucket
 * (the stream name is the 3rd or 4th token after $JS.API), that bucket's KV subjects, and
 * purging any stream. Deleting a stream: the service deletes the session buckets whose keys all
 * expired (that frees their creator's `memory.limits.sessions` slot), so delete is denied by name
 * instead — the bucket of every agent's own namespace and of every shared namespace the manifests
 * name (a token cannot be matched by prefix, so `KV_agentbus_mem_s_*` cannot be the one allowed).
 */
export function memoryPermissions(manifests: readonly Manifest[] = []): { pub: string[]; sub: string[]; pubDeny: string[] } {
  const protectedStreams = [D.AUDIT_STREAM, 'AUDIT_DLQ', `KV_${D.PARTITION_BUCKET}`];
  const kept = new Set<string>();
  for (const m of manifests) {
    kept.add(`KV_${D.memoryBucket(`agent/${m.agent}`)}`);
    for (const s of m.memory?.shared ?? []) kept.add(`KV_${D.memoryBucket(s.ns)}`);
  }
  return {
    pub: ['$JS.API.>', '$KV.>', '$JS.FC.>', '_INBOX_memory.>'],
    sub: ['_INBOX_memory.>'],
    pubDeny: [
      ...protectedStreams.flatMap((s) => [`$JS.API.*.*.${s}`, `$JS.API.*.*.${s}.>`, `$JS.API.*.*.*.${s}`, `$JS.API.*.*.*.${s}.>`]),
      `$KV.${D.PARTITION_BUCKET}.>`,
      ...[...kept].sort().map((s) => `$JS.API.STREAM.DELETE.${s}`),
      '$JS.API.STREAM.PURGE.*',
    ],
  };
}

/**
 * The system-account user: the connect and disconnect events of the bus account, and a CONNZ
 * request to every server (the connections that existed before the auditor started). It is in
 * $SYS, so agentbus.* subjects (in AGENTBUS) are out of its reach anyway; its publish list
 * allows the one request subject and nothing else.
 */
export function systemPermissions(): { pub: string[]; sub: string[] } {
  return {
    pub: ['$SYS.REQ.SERVER.PING.CONNZ'],
    sub: [`$SYS.ACCOUNT.${BUS_ACCOUNT}.CONNECT`, `$SYS.ACCOUNT.${BUS_ACCOUNT}.DISCONNECT`, `${SYSTEM_INBOX_PREFIX}.>`],
  };
}

export function agentPermissions(m: Manifest, partitions: number = D.DEFAULT_PARTITIONS): { pub: string[]; sub: string[] } {
  return {
    // nats-server 2.9 checks publish permissions on the subject after the partition mapping,
    // so the mapped subject of the agent's own partition is allowed too (and nothing else).
    // Delivery confirmations name the confirming agent in the last token, so an agent can
    // confirm only its own deliveries (the verifier checks the msg_id was addressed to it).
    pub: [
      `${D.SUBJECT_IN_PREFIX}${m.agent}`,
      `${D.SUBJECT_PART_PREFIX}${partitionOf(m.agent, partitions)}.${m.agent}`,
      `${D.SUBJECT_DELIVERED_PREFIX}*.${m.agent}`,
    ],
    sub: [
      `${D.SUBJECT_TO_PREFIX}${m.agent}.>`,
      `${D.SUBJECT_INBOX_PREFIX}${m.agent}.>`,
      ...m.topics.subscribe.map((t) => `${D.SUBJECT_TOPIC_PREFIX}${t}.>`),
      // an approver sees the held calls of the servers it may approve (a glob: of every server)
      ...(m.approve.length
        ? m.approve.some((g) => g.includes('*'))
          ? [`${D.SUBJECT_APPROVAL_PENDING_PREFIX}*`]
          : m.approve.map((g) => `${D.SUBJECT_APPROVAL_PENDING_PREFIX}${g}`)
        : []),
    ],
  };
}

function renderUsers(users: User[], indent: string): string[] {
  const lines = [`${indent}users = [`];
  for (const u of users) {
    lines.push(`${indent}  # ${u.comment}`);
    lines.push(`${indent}  { nkey: ${q(u.nkey)}, permissions: {`);
    // no publish permission: say so explicitly (deny everything) rather than with an empty allow list
    const deny = u.pubDeny?.length ? `, deny: [${u.pubDeny.map(q).join(', ')}]` : '';
    lines.push(u.pub.length ? `${indent}      publish: { allow: [${u.pub.map(q).join(', ')}]${deny} }` : `${indent}      publish: { deny: [">"] }`);
    lines.push(`${indent}      subscribe: { allow: [${u.sub.map(q).join(', ')}] }`);
    lines.push(`${indent}  } }`);
  }
  lines.push(`${indent}]`);
  return lines;
}

/**
 * The `system_account` line and the `accounts { AGENTBUS { ... } $SYS { ... } }` block: every bus
 * user, JetStream and the partition mapping in AGENTBUS; the system users (if any) in $SYS.
 */
export function authorizationBlock(
  manifests: Manifest[],
  services: ServiceUsers,
  partitions: number = D.DEFAULT_PARTITIONS,
  quarantined: readonly string[] = [],
): string {
  const held = new Set(quarantined);
  const users: User[] = [];
  for (const nkey of services.verifier) users.push({ comment: 'verifier', nkey, ...verifierPermissions() });
  for (const nkey of services.auditor) users.push({ comment: 'auditor', nkey, ...auditorPermissions() });
  for (const nkey of services.memory ?? []) users.push({ comment: 'memory (KV store)', nkey, ...memoryPermissions(manifests) });
  for (const nkey of services.observer ?? []) users.push({ comment: 'observer (read-only)', nkey, ...observerPermissions() });
  const system: User[] = (services.system ?? []).map((nkey) => ({ comment: 'system (auditor: connect/disconnect events)', nkey, ...systemPermissions() }));
  const seen = new Set<string>();
  for (const u of [...users, ...system]) {
    // one nkey, one set of permissions: e.g. the auditor's credential reused as the observer's
    if (seen.has(u.nkey))
      throw new Error(
        `service nkey ${u.nkey} is given to two service users (${[...users, ...system]
          .filter((x) => x.nkey === u.nkey)
          .map((x) => x.comment.split(' ')[0])
          .join(', ')}); each service needs its own credential`,
      );
    seen.add(u.nkey);
  }
  for (const m of [...manifests].sort((a, b) => a.agent.localeCompare(b.agent))) {
    if (seen.has(m.nats_user)) throw new Error(`agent ${m.agent}: nats_user ${m.nats_user} is used by another user`);
    seen.add(m.nats_user);
    // quarantined (common/quarantine.ts): not a user for the cool-down — the reload disconnects it and
    // its reconnects are refused (publish denied alone still cost nats-server ~25% of a core per
    // 20k refused msgs/s: an -ERR and a log line each)
    if (held.has(m.agent)) continue;
    users.push({ comment: `agent ${m.agent}`, nkey: m.nats_user, ...agentPermissions(m, partitions) });
  }
  const lines = [
    `system_account: ${q(SYSTEM_ACCOUNT)}`,
    'accounts {',
    `  ${BUS_ACCOUNT} {`,
    '    jetstream: enabled',
    ...partitionMapping(partitions)
      .split('\n')
      .map((l) => `    ${l}`),
    ...renderUsers(users, '    '),
    '  }',
    // the system account: no JetStream; without --system-creds it has no users at all
    `  ${SYSTEM_ACCOUNT} {`,
    ...(system.length ? renderUsers(system, '    ') : ['    users = []']),
    '  }',
    '}',
  ];
  return lines.join('\n');
}

export interface ServerConfigOptions {
  host?: string;
  port: number;
  storeDir: string;
  serverName?: string;
  maxPayload?: number;
  httpPort?: number;
  /** Sender partitions (docs/design.md §8); verifiers must be started with the same number. */
  partitions?: number;
  /** TLS on client connections (plaintext clients are refused) and, in a cluster, on the routes. */
  tls?: TlsFiles;
  /** JetStream encryption at rest (chachapoly); the key is read from $jsKeyEnv when nats-server starts. */
  encryptStore?: boolean;
  /** The environment variable holding the store key (default AGENTBUS_JS_KEY); only its name is written. */
  jsKeyEnv?: string;
  /** Agents quarantined now (common/quarantine.ts): rendered with no publish permission. */
  quarantined?: readonly string[];
}

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** CA for verifying client certificates (with `verify`) and the other nodes' route certificates. */
  caFile?: string;
  /** Require client certificates signed by caFile (mutual TLS). Default false. */
  verify?: boolean;
  /** TLS handshake timeout, seconds (default 5). */
  timeout?: number;
}

/** A `tls { ... }` block; routes always verify the peer (nats-server), so `verify` is for clients only. */
export function tlsBlock(t: TlsFiles, indent = '', forRoutes = false): string[] {
  return [
    `${indent}tls {`,
    `${indent}  cert_file: ${q(t.certFile)}`,
    `${indent}  key_file: ${q(t.keyFile)}`,
    ...(t.caFile ? [`${indent}  ca_file: ${q(t.caFile)}`] : []),
    ...(forRoutes ? [] : [`${indent}  verify: ${t.verify ? 'true' : 'false'}`]),
    `${indent}  timeout: ${t.timeout ?? 5}`,
    `${indent}}`,
  ];
}

/** `$NAME`: nats-server substitutes the variable from its environment; the key never enters the file. */
function jsKeyRef(name = DEFAULT_JS_KEY_ENV): string {
  checkKeyEnvName(name);
  return `$${name}`;
}

/** A complete single-node nats-server config (or one node of a cluster, with `cluster`). */
export function serverConfig(
  manifests: Manifest[],
  services: ServiceUsers,
  o: ServerConfigOptions & { cluster?: { name: string; host?: string; port: number; routes: string[] } },
): string {
  return [
    '# Generated by `agentbus nats-config` from the manifests. Do not edit: regenerate.',
    `server_name: ${q(o.serverName ?? 'agentbus')}`,
    `listen: ${q(`${o.host ?? '127.0.0.1'}:${o.port}`)}`,
    ...(o.httpPort ? [`http: ${q(`${o.host ?? '127.0.0.1'}:${o.httpPort}`)}`] : []),
    `max_payload: ${o.maxPayload ?? D.DEFAULT_NATS_MAX_PAYLOAD}`,
    'jetstream {',
    `  store_dir: ${q(o.storeDir)}`,
    // encryption at rest: nats-server resolves the variable from its environment at start
    ...(o.encryptStore ? ['  cipher: chachapoly', `  key: ${jsKeyRef(o.jsKeyEnv)}`] : []),
    '}',
    ...(o.tls ? tlsBlock(o.tls) : []),
    ...(o.cluster
      ? [
          'cluster {',
          `  name: ${q(o.cluster.name)}`,
          `  listen: ${q(`${o.cluster.host ?? o.host ?? '127.0.0.1'}:${o.cluster.port}`)}`,
          `  routes: [${o.cluster.routes.map(q).join(', ')}]`,
          ...(o.tls ? tlsBlock(o.tls, '  ', true) : []),
          '}',
        ]
      : []),
    authorizationBlock(manifests, services, o.partitions ?? D.DEFAULT_PARTITIONS, o.quarantined ?? []),
    '',
  ].join('\n');
}

export interface ClusterNode {
  name: string;
  port: number;
  clusterPort: number;
  storeDir: string;
  config: string;
}

/**
 * One config per node of a NATS cluster: routes to every other node, JetStream with its own
 * store directory, and the same generated authorization and partition mapping on every node.
 */
export function clusterConfigs(
  manifests: Manifest[],
  services: ServiceUsers,
  o: {
    nodes: number;
    host?: string;
    ports: number[];
    clusterPorts: number[];
    storeDirs: string[];
    partitions?: number;
    name?: string;
    httpPorts?: number[];
    routeHosts?: string[];
    tls?: TlsFiles;
    encryptStore?: boolean;
    jsKeyEnv?: string;
    quarantined?: readonly string[];
  },
): ClusterNode[] {
  const host = o.host ?? '127.0.0.1';
  // each node's route URL: its own host name when the nodes are separate hosts (containers)
  const routes = o.clusterPorts.map((p, i) => `nats-route://${o.routeHosts?.[i] ?? host}:${p}`);
  return Array.from({ length: o.nodes }, (_, i) => {
    const name = `${o.name ?? 'agentbus'}_n${i + 1}`;
    const config = serverConfig(manifests, services, {
      host,
      port: o.ports[i]!,
      storeDir: o.storeDirs[i]!,
      serverName: name,
      ...(o.partitions ? { partitions: o.partitions } : {}),
      ...(o.httpPorts?.[i] ? { httpPort: o.httpPorts[i] } : {}),
      ...(o.tls ? { tls: o.tls } : {}),
      ...(o.quarantined?.length ? { quarantined: o.quarantined } : {}),
      ...(o.encryptStore ? { encryptStore: true, ...(o.jsKeyEnv ? { jsKeyEnv: o.jsKeyEnv } : {}) } : {}),
      cluster: { name: o.name ?? 'agentbus', host, port: o.clusterPorts[i]!, routes: routes.filter((_, j) => j !== i) },
    });
    return { name, port: o.ports[i]!, clusterPort: o.clusterPorts[i]!, storeDir: o.storeDirs[i]!, config };
  });
}
