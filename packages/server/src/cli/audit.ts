// `agentbus auditor` (run the service) and `agentbus audit …` (analyst reports). Registered
// into the main CLI by cli/index.ts (a static import: a broken auditor is a broken CLI, never a silently missing command). Bad options: CommanderError 'agentbus.invalidArgument'
// (one line, exit 2); an unreachable store or NATS: one-line Error (exit 1).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { dirname, join, resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import * as D from '../auditor/defaults.js';
import { openMigratedStore, startAuditor } from '../auditor/service.js';
import { isUrl } from '../auditor/store.js';
import { openLiveStore } from '../auditor/live-store.js';
import { runningBus } from '../common/bus-state.js';
import { layout } from '../common/project.js';
import type { AuditStore, RowSink } from '../auditor/store.js';
import { storeConfigSchema } from '../auditor/config.js';
import { alerts, edges, readOnlySql, rejections, topTalkers, trail, wouldRefuse } from '../auditor/reports.js';
import type { TimeRange } from '../auditor/reports.js';
import {
  bundleLines,
  checkEvidence,
  loadManifestKeys,
  loadVerifierKeys,
  lookupFromManifests,
  readBundle,
  readEvidence,
  SERVICE_KEYS_DIR,
  verifierKeyMap,
  verifyStore,
} from '../auditor/verify.js';
import type { BundleKeys, TrustedKeys, VerifyReport, VerifySelector } from '../auditor/verify.js';
import { writeHtmlReport } from '../auditor/report/index.js';
import { THRESHOLD_RULES } from '../auditor/detectors/index.js';
import { ALERT_RULES, alertSentence } from '../auditor/sentence.js';
import { CheckFailed } from './shared.js';

const bad = (msg: string) => new CommanderError(2, 'agentbus.invalidArgument', msg);

function int(name: string, min = 0) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw bad(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
}

function time(name: string) {
  return (v: string) => {
    const rel = /^(\d+)([smhd])$/.exec(v);
    if (rel) return Date.now() - Number(rel[1]) * { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 }[rel[2] as 's' | 'm' | 'h' | 'd'];
    const t = Date.parse(v);
    if (Number.isNaN(t)) throw bad(`${name} must be an ISO 8601 time or a duration ago like 90m, 24h, 7d; got ${JSON.stringify(v)}`);
    return t;
  };
}

function hex32(name: string) {
  return (v: string) => {
    if (!/^[0-9a-fA-F]{32}$/.test(v)) throw bad(`${name} must be 32 hex characters, got ${JSON.stringify(v)}`);
    return v.toLowerCase();
  };
}

/** Plain aligned table; nested values as compact JSON. */
/** A table; cells are cut at 80 characters, except in the last column when `fullLast` (a sentence). */
export function renderTable(rows: Record<string, unknown>[], o: { fullLast?: boolean } = {}): string {
  if (rows.length === 0) return '(no rows)';
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const cells = rows.map((r) => cols.map((c) => cell(r[c]).replace(/\s+/g, ' ')));
  const width = cols.map((c, i) => (o.fullLast && i === cols.length - 1 ? Infinity : Math.min(80, Math.max(c.length, ...cells.map((r) => r[i]!.length)))));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => (v.length > width[i]! ? v.slice(0, width[i]! - 1) + '…' : width[i] === Infinity ? v : v.padEnd(width[i]!)))
      .join('  ')
      .trimEnd();
  return [line(cols), line(width.map((w, i) => '-'.repeat(w === Infinity ? cols[i]!.length : w))), ...cells.map(line)].join('\n');
}

interface StoreOpts {
  store?: string;
  database: string;
  json?: boolean;
  stateDir?: string;
}
interface RangeOpts extends StoreOpts {
  since?: number;
  until?: number;
  limit: number;
}

function addStoreOptions(c: Command): Command {
  return c
    .option(
      '--store <path|url>',
      `chDB data directory, or http(s):// URL of a ClickHouse server (default: the store of the bus in this project or --state-dir — read through the bus while it runs —, else ${D.DEFAULT_STORE})`,
    )
    .option('--state-dir <dir>', "the dev bus whose store to read (default: the project's, or .agentbus/dev)")
    .option('--database <name>', 'ClickHouse database', D.DEFAULT_DATABASE)
    .option('--json', 'print JSON instead of a table');
}
function addRangeOptions(c: Command): Command {
  return addStoreOptions(c)
    .addOption(new Option('--since <time>', 'start: ISO 8601 or a duration ago (90m, 24h, 7d); default 24h').argParser(time('--since')))
    .addOption(new Option('--until <time>', 'end: ISO 8601 or a duration ago; default now').argParser(time('--until')))
    .addOption(new Option('--limit <n>', 'at most this many rows').default(20).argParser(int('--limit', 1)));
}

/**
 * Which store a command reads: --store as given (a directory a running dev bus holds is read
 * through that bus), else the store of the bus of this project / --state-dir (live or not),
 * else the auditor's default directory. Never a new, empty one.
 */
export function resolveStore(o: {
  store?: string;
  stateDir?: string;
}): { kind: 'open'; url: string } | { kind: 'live'; url: string; token: string; holder: string } {
  const live = (stateDir: string) => {
    const bus = runningBus(stateDir);
    if (!bus || !bus.query_url) return undefined;
    if (!bus.token)
      throw new Error(`the bus in ${stateDir} (pid ${bus.pid}) holds its store, and ${join(stateDir, 'query.token')} cannot be read by this user`);
    return { kind: 'live' as const, url: bus.query_url, token: bus.token, holder: `agentbus dev (pid ${bus.pid})`, store: bus.store };
  };
  if (o.store) {
    if (isUrl(o.store)) return { kind: 'open', url: o.store };
    // a mistyped path must not quietly become a new, empty store that answers every question with nothing
    if (!existsSync(o.store))
      throw new Error(`--store ${o.store}: no audit store there (a chDB directory the auditor or \`agentbus dev\` wrote, or an http(s):// ClickHouse URL)`);
    const l = live(dirname(resolve(o.store)));
    if (l && resolve(l.store) === resolve(o.store)) return l;
    return { kind: 'open', url: o.store };
  }
  let where: ReturnType<typeof layout>;
  try {
    where = layout(o.stateDir ? { stateDir: o.stateDir } : {});
  } catch (e) {
    throw new Error((e as Error).message);
  }
  const l = live(where.stateDir);
  if (l) return l;
  const own = join(where.stateDir, 'audit-db');
  if (existsSync(own)) return { kind: 'open', url: own };
  if (existsSync(D.DEFAULT_STORE)) return { kind: 'open', url: D.DEFAULT_STORE };
  throw new Error(
    `no audit store found: no bus in ${where.stateDir} and no ${D.DEFAULT_STORE} here; give --store DIR|URL (\`agentbus demo\` prints its store's path)`,
  );
}

async function withStore<T>(o: StoreOpts, fn: (s: AuditStore) => Promise<T>): Promise<T> {
  const where = resolveStore(o);
  const cfg = storeConfigSchema.safeParse({ url: where.url, database: o.database });
  if (!cfg.success) throw bad(`--database: ${cfg.error.issues[0]!.message}`);
  let store: AuditStore;
  if (where.kind === 'live') store = openLiveStore({ url: where.url, token: where.token, database: cfg.data.database, holder: where.holder });
  else {
    try {
      store = await openMigratedStore(cfg.data);
    } catch (e) {
      const m = (e as Error).message;
      if (/lock/i.test(m))
        throw new Error(
          `${where.url}: the store is held by another process (a running \`agentbus auditor\`? read it through a ClickHouse server, or stop that process)`,
        );
      throw e;
    }
  }
  try {
    return await fn(store);
  } finally {
    await store.close().catch(() => {});
  }
}

function print(o: { json?: boolean }, rows: unknown): void {
  if (o.json) console.log(JSON.stringify(rows, null, 2));
  else console.log(Array.isArray(rows) ? renderTable(rows as Record<string, unknown>[]) : renderTable([rows as Record<string, unknown>]));
}

const rangeOf = (o: RangeOpts): TimeRange => ({
  limit: o.limit,
  ...(o.since !== undefined ? { since: o.since } : {}),
  ...(o.until !== undefined ? { until: o.until } : {}),
});

/** Chaos hook: a sink whose inserts fail while `file` exists (a store outage on demand). */
function faultInjectingSink(file: string) {
  const fault = () => {
    if (existsSync(file)) throw new Error('injected store fault (chaos)');
  };
  return (store: AuditStore): RowSink => ({
    insertRows: async (rows) => (fault(), store.insertRows(rows)),
    insertBatches: async (rows) => (fault(), store.insertBatches(rows)),
    insertDeliveries: async (rows) => (fault(), store.insertDeliveries(rows)),
    storedBatches: async (ids) => (fault(), store.storedBatches(ids)),
    storedPlaces: async (ids) => (fault(), store.storedPlaces(ids)),
    ping: async () => !existsSync(file) && store.ping(),
  });
}

export function registerAuditorCommands(program: Command): void {
  registerDetectCommands(program);
  program
    .command('auditor')
    .description('run the auditor: audit stream (JetStream) → ClickHouse, anomaly detectors, alerts')
    .option('--nats <url>', 'NATS server URL', D.DEFAULT_NATS_URL)
    .option('--creds <file>', 'NATS credentials: an nkey seed file, or an agentbus service credential (JSON)')
    .option(
      '--system-creds <file>',
      "the system-account user's credential (nats-config --system-creds): follow connects and disconnects (identity_reuse, new_address alerts)",
    )
    .option('--manifests <dir>', 'manifests directory: maps a connection nkey to its agent (with --system-creds)')
    .addOption(
      new Option('--overlap-ms <ms>', 'identity_reuse: two live connections of one agent for longer than this (a reconnect hands over within it)')
        .default(15_000)
        .argParser(int('--overlap-ms', 0)),
    )
    .addOption(
      new Option('--learning-ms <ms>', 'new_address: addresses are learned silently for this long after the first connection event ever recorded')
        .default(5 * 60_000)
        .argParser(int('--learning-ms', 0)),
    )
    .option('--store <path|url>', 'chDB data directory (embedded, default), or http(s):// URL of a ClickHouse server', D.DEFAULT_STORE)
    .option('--database <name>', 'ClickHouse database', D.DEFAULT_DATABASE)
    .option('--store-user <name>', 'ClickHouse user (server only)')
    .option('--store-password-env <var>', 'environment variable holding the ClickHouse password (server only)')
    .option('--store-cluster <name>', 'ClickHouse cluster (remote_servers name): migrations ON CLUSTER, Replicated tables (server only)')
    .addOption(
      new Option('--ttl-days <n>', 'keep audit rows, aggregates and alerts this many days').default(D.DEFAULT_TTL_DAYS).argParser(int('--ttl-days', 1)),
    )
    .addOption(
      new Option('--batch-max-messages <n>', 'size bound of one insert, in JetStream messages')
        .default(D.DEFAULT_BATCH_MAX_MESSAGES)
        .argParser(int('--batch-max-messages', 1)),
    )
    .addOption(
      new Option('--pipelines <n>', 'fetch → insert → ack loops at once on the durable consumer (1-16)').default(D.DEFAULT_PIPELINES).argParser((v) => {
        const n = int('--pipelines', 1)(v);
        if (n > 16) throw bad(`--pipelines must be 1-16, got ${JSON.stringify(v)}`);
        return n;
      }),
    )
    .addOption(
      new Option('--batch-max-wait-ms <ms>', 'time bound of one insert (≥ 1000)')
        .default(D.DEFAULT_BATCH_MAX_WAIT_MS)
        .argParser(int('--batch-max-wait-ms', 1000)),
    )
    .addOption(
      new Option('--ack-wait-ms <ms>', 'JetStream ack wait of the durable consumer').default(D.DEFAULT_ACK_WAIT_MS).argParser(int('--ack-wait-ms', 1000)),
    )
    .addOption(
      new Option('--backoff-max-ms <ms>', 'longest pause between insert retries while the store is down')
        .default(D.DEFAULT_BACKOFF_MAX_MS)
        .argParser(int('--backoff-max-ms', 1)),
    )
    .option('--durable <name>', 'durable consumer name', D.DEFAULT_DURABLE)
    .addOption(
      new Option('--detect-interval-ms <ms>', 'how often every detector runs')
        .default(D.DEFAULT_DETECT_INTERVAL_MS)
        .argParser(int('--detect-interval-ms', 1000)),
    )
    .addOption(
      new Option(
        '--threshold-interval-ms <ms>',
        `how often the threshold detectors (${THRESHOLD_RULES.join(', ')}) also run over the open minute, when rows were stored; 0: off`,
      )
        .default(D.DEFAULT_THRESHOLD_INTERVAL_MS)
        .argParser((v: string) => {
          const n = int('--threshold-interval-ms', 0)(v);
          if (n !== 0 && n < 250) throw bad('--threshold-interval-ms: 0 (off) or at least 250');
          return n;
        }),
    )
    .addOption(
      new Option('--cooldown-ms <ms>', 'the same alert is raised at most once per cooldown')
        .default(D.DEFAULT_ALERT_COOLDOWN_MS)
        .argParser(int('--cooldown-ms', 0)),
    )
    .option('--no-detect', 'store only; do not run detectors')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent', 'info')
    .option('--tls-ca <file>', 'CA certificate to trust for a TLS nats-server')
    .addOption(
      new Option('--metrics-port <n>', 'serve Prometheus /metrics, /healthz and /readyz on this port (0: off)').default(0).argParser((v) => {
        const n = int('--metrics-port')(v);
        if (n > 65535) throw bad(`--metrics-port must be a TCP port (0-65535), got ${JSON.stringify(v)}`);
        return n;
      }),
    )
    .option('--metrics-host <host>', 'bind address of the metrics server', '127.0.0.1')
    // chaos testing (npm run chaos): while this file exists, every insert fails like a store outage
    .addOption(new Option('--fault-file <file>', 'chaos testing: inserts fail while this file exists').hideHelp())
    .action(
      async (o: {
        nats: string;
        creds?: string;
        systemCreds?: string;
        manifests?: string;
        overlapMs: number;
        learningMs: number;
        store: string;
        database: string;
        storeUser?: string;
        storePasswordEnv?: string;
        storeCluster?: string;
        ttlDays: number;
        batchMaxMessages: number;
        pipelines: number;
        batchMaxWaitMs: number;
        ackWaitMs: number;
        backoffMaxMs: number;
        durable: string;
        detectIntervalMs: number;
        thresholdIntervalMs: number;
        cooldownMs: number;
        detect: boolean;
        logLevel: string;
        faultFile?: string;
        tlsCa?: string;
        metricsPort: number;
        metricsHost: string;
      }) => {
        const password = o.storePasswordEnv ? process.env[o.storePasswordEnv] : undefined;
        if (o.storePasswordEnv && password === undefined) throw bad(`--store-password-env: ${o.storePasswordEnv} is not set`);
        const { AuditorConfigError } = await import('../auditor/config.js');
        let auditor: Awaited<ReturnType<typeof startAuditor>>;
        try {
          auditor = await startAuditor(
            {
              nats: {
                url: o.nats,
                ...(o.creds ? { credsFile: o.creds } : {}),
                ...(o.systemCreds ? { systemCredsFile: o.systemCreds } : {}),
                ...(o.tlsCa ? { tls: { caFile: o.tlsCa } } : {}),
              },
              store: {
                url: o.store,
                database: o.database,
                ttlDays: o.ttlDays,
                ...(o.storeUser ? { username: o.storeUser } : {}),
                ...(password !== undefined ? { password } : {}),
                ...(o.storeCluster ? { cluster: o.storeCluster } : {}),
              },
              consumer: {
                durable: o.durable,
                batchMaxMessages: o.batchMaxMessages,
                pipelines: o.pipelines,
                batchMaxWaitMs: o.batchMaxWaitMs,
                ackWaitMs: o.ackWaitMs,
                backoffMaxMs: o.backoffMaxMs,
              },
              detect: { enabled: o.detect, intervalMs: o.detectIntervalMs, thresholdIntervalMs: o.thresholdIntervalMs, cooldownMs: o.cooldownMs },
              connections: { enabled: o.detect, overlapMs: o.overlapMs, learningMs: o.learningMs, ...(o.manifests ? { manifestsDir: o.manifests } : {}) },
              logLevel: o.logLevel as never,
            },
            {
              ...(o.faultFile ? { wrapSink: faultInjectingSink(o.faultFile) } : {}),
              ...(o.metricsPort ? { metricsPort: o.metricsPort, metricsHost: o.metricsHost } : {}),
            },
          );
        } catch (e) {
          if (e instanceof AuditorConfigError) throw bad(e.message);
          throw e;
        }
        await new Promise<void>((res) => {
          const stop = () => void auditor.stop().then(res, res);
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      },
    );

  const audit = program.command('audit').description('analyst reports over the audit store (table by default, --json for JSON)');

  addRangeOptions(audit.command('top').description('top talkers: senders by messages, with accepted/rejected/duplicate')).action((o: RangeOpts) =>
    withStore(o, async (s) => print(o, await topTalkers(s, rangeOf(o)))),
  );

  addRangeOptions(audit.command('edges').description('communication edges (sender → recipient or topic) with rejected counts')).action((o: RangeOpts) =>
    withStore(o, async (s) => print(o, await edges(s, rangeOf(o)))),
  );

  addRangeOptions(audit.command('rejections').description('rejections by reason')).action((o: RangeOpts) =>
    withStore(o, async (s) => print(o, await rejections(s, rangeOf(o)))),
  );

  addRangeOptions(
    audit
      .command('would-refuse')
      .description('monitor mode (enforce: monitor): what enforcing would have refused, per agent and reason — delivered messages policy refuses'),
  )
    .option('--agent <agent>', 'only this agent')
    .action((o: RangeOpts & { agent?: string }) =>
      withStore(o, async (s) => {
        const rows = await wouldRefuse(s, { ...rangeOf(o), ...(o.agent ? { agent: o.agent } : {}) });
        if (o.json) console.log(JSON.stringify(rows, null, 2));
        else
          console.log(
            rows.length
              ? renderTable(rows as unknown as Record<string, unknown>[], { fullLast: true })
              : '(nothing: no agent in monitor mode sent anything policy refuses in this range)',
          );
      }),
    );

  addRangeOptions(audit.command('alerts').description('alerts raised by the auditor, each with its sentence (what tail and the report show)'))
    .option('--rule <rule>', `only this rule (${ALERT_RULES.join(', ')})`)
    .action((o: RangeOpts & { rule?: string }) =>
      withStore(o, async (s) => {
        const rows = await alerts(s, { ...rangeOf(o), ...(o.rule ? { rule: o.rule } : {}) });
        // each alert's sentence, as tail and the report show it: in --json a field, in the table the last column, uncut
        const out = rows.map((a) => ({ ...a, sentence: alertSentence(a) }));
        if (o.json) console.log(JSON.stringify(out, null, 2));
        else console.log(renderTable(out, { fullLast: true }));
      }),
    );

  addStoreOptions(
    audit
      .command('report')
      .description(
        'write a self-contained HTML report (delivery outcomes, alerts by severity with their evidence trails, graph, messages over time, rejections) for analysts',
      ),
  )
    .option('--html <file>', 'write the HTML page to this file')
    .addOption(new Option('--since <time>', 'start: ISO 8601 or a duration ago (90m, 24h, 7d); default 24h').argParser(time('--since')))
    .addOption(new Option('--until <time>', 'end: ISO 8601 or a duration ago; default now').argParser(time('--until')))
    .addOption(new Option('--limit <n>', 'at most this many edges, senders, reasons and alerts').default(500).argParser(int('--limit', 1)))
    .action((o: RangeOpts & { html?: string }) => {
      if (!o.html) throw bad('report: give --html FILE');
      if (o.since !== undefined && o.until !== undefined && o.since >= o.until) throw bad('report: --since must be before --until');
      // the page's trail commands name the store read: --store (a path made absolute), else --state-dir, else none
      const where = o.store ? { store: isUrl(o.store) ? o.store : resolve(o.store) } : o.stateDir ? { stateDir: resolve(o.stateDir) } : {};
      return withStore(o, async (s) => print(o, await writeHtmlReport(s, o.html!, { ...rangeOf(o), ...where })));
    });

  addStoreOptions(audit.command('trail').description("one message's trail (its rows and what it caused) by msg_id, or a whole trace"))
    .addOption(new Option('--msg-id <hex>', 'msg_id, 32 hex chars').argParser(hex32('--msg-id')))
    .addOption(new Option('--trace-id <hex>', 'trace_id, 32 hex chars').argParser(hex32('--trace-id')))
    .action((o: StoreOpts & { msgId?: string; traceId?: string }) => {
      if (!o.msgId === !o.traceId) throw bad('trail: give exactly one of --msg-id or --trace-id');
      return withStore(o, async (s) => print(o, await trail(s, o.msgId ? { msgId: o.msgId } : { traceId: o.traceId! })));
    });

  addStoreOptions(audit.command('sql').description('read-only SQL (SELECT, WITH, SHOW, DESCRIBE), run with readonly = 1'))
    .argument('<query>', 'the query')
    .action((query: string, o: StoreOpts) => withStore(o, async (s) => print(o, await readOnlySql(s, query))));

  addStoreOptions(
    audit.command('verify').description("prove the audit trail: every row against the signed audit batches and the senders' keys; exit 1 on any finding"),
  )
    .addOption(new Option('--since <time>', 'rows from this time: ISO 8601 or a duration ago (24h); default: everything stored').argParser(time('--since')))
    .addOption(new Option('--until <time>', 'rows before this time (default now)').argParser(time('--until')))
    .option('--manifests <dir>', "agents' manifests (*.json|*.yaml): the senders' public keys (default: the bus's, as for --store; with --bundle: none)")
    .option('--verifier-keys <file|dir>', "the verifiers' audit public keys (default <manifests>/services/)")
    .option('--bundle <file>', 'check an exported bundle offline, with no store (keys from the bundle unless --manifests/--verifier-keys pin them)')
    .action((o: StoreOpts & { since?: number; until?: number; manifests?: string; verifierKeys?: string; bundle?: string }) => {
      if (o.since !== undefined && o.until !== undefined && o.since >= o.until) throw bad('verify: --since must be before --until');
      if (!o.bundle && !o.manifests) o.manifests = defaultManifests(o);
      if (!o.bundle && !o.manifests) throw bad('verify: give --manifests DIR (or --bundle FILE)');
      if (o.bundle && (o.since !== undefined || o.until !== undefined)) throw bad('verify: --since/--until select rows of a store; a bundle is checked whole');
      const report = async (r: VerifyReport, note?: string) => {
        if (o.json) console.log(JSON.stringify({ ...r, ...(note ? { note } : {}) }, null, 2));
        else {
          console.log(`batches ${r.batches}, rows ${r.rows}, deliveries ${r.deliveries}, verified ${r.verified}, findings ${r.findings.length}`);
          if (note) console.log(note);
          if (r.findings.length) console.log(renderTable(r.findings as unknown as Record<string, unknown>[]));
        }
        if (r.findings.length) throw new CheckFailed();
      };
      if (o.bundle) {
        let b: ReturnType<typeof readBundle>;
        try {
          b = readBundle(o.bundle);
        } catch (e) {
          throw new Error(`--bundle: ${(e as Error).message}`);
        }
        const pinned = o.manifests || o.verifierKeys ? trustedKeys(o.manifests, o.verifierKeys) : undefined;
        const keys = pinned ?? {
          verifiers: verifierKeyMap(b.keys.verifiers),
          agents: (
            (m) => (s: string, k: string) =>
              m.get(`${s}\u0000${k}`)
          )(new Map(b.keys.agents.map((k) => [`${k.agent}\u0000${k.key_id}`, new Uint8Array(Buffer.from(k.public_key, 'base64url'))]))),
        };
        return report(
          checkEvidence(b.evidence, keys),
          pinned ? undefined : 'keys: from the bundle itself (pin them with --manifests and --verifier-keys to prove who signed)',
        );
      }
      const keys = trustedKeys(o.manifests!, o.verifierKeys);
      return withStore(o, async (s) => report(await verifyStore(s, selector(o), keys)));
    });

  addStoreOptions(
    audit
      .command('export')
      .description(
        'write an audit bundle (rows, signed batches, delivery records, public keys) that `audit verify --bundle` checks offline, or (--jsonl) the audit_events rows alone',
      ),
  )
    .option('--bundle <file>', 'write the bundle (JSON lines) to this file')
    .option('--jsonl <file>', 'write the audit_events rows, one JSON object per line with the documented column names (what `agentbus detect replay` reads)')
    .option('--connections', 'with --jsonl: also the audit_connections rows (connect/disconnect events, an `event` field each), after the audit rows')
    .addOption(new Option('--since <time>', 'rows from this time: ISO 8601 or a duration ago (24h); default: everything stored').argParser(time('--since')))
    .addOption(new Option('--until <time>', 'rows before this time (default now)').argParser(time('--until')))
    .option('--manifests <dir>', "agents' manifests: their public keys go into the bundle (default: the bus's, as for --store)")
    .option('--verifier-keys <file|dir>', "the verifiers' audit public keys (default <manifests>/services/)")
    .action(
      (
        o: StoreOpts & { bundle?: string; jsonl?: string; connections?: boolean; since?: number; until?: number; manifests?: string; verifierKeys?: string },
      ) => {
        if (o.since !== undefined && o.until !== undefined && o.since >= o.until) throw bad('export: --since must be before --until');
        if (!o.bundle === !o.jsonl) throw bad('export: give exactly one of --bundle FILE or --jsonl FILE');
        if (o.jsonl) {
          const file = o.jsonl;
          return withStore(o, async (s) => {
            const rows = await s.query<Record<string, unknown>>(
              `SELECT * EXCEPT (ingested_at) FROM ${s.table('audit_events')} FINAL WHERE time >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') AND time < fromUnixTimestamp64Milli({until:Int64}, 'UTC') ORDER BY time, event_id`,
              { since: o.since ?? 0, until: o.until ?? Date.now() + 86_400_000 },
            );
            const conns = o.connections
              ? await s.query<Record<string, unknown>>(
                  `SELECT * FROM ${s.table('audit_connections')} WHERE time >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') AND time < fromUnixTimestamp64Milli({until:Int64}, 'UTC') ORDER BY time`,
                  { since: o.since ?? 0, until: o.until ?? Date.now() + 86_400_000 },
                )
              : [];
            const all = [...rows, ...conns];
            writeFileSync(file, all.map((r) => JSON.stringify(r)).join('\n') + (all.length ? '\n' : ''));
            print(o, { jsonl: file, rows: rows.length, ...(o.connections ? { connections: conns.length } : {}) });
          });
        }
        o.manifests ??= defaultManifests(o);
        if (!o.manifests) throw bad('export: give --manifests DIR');
        const bundle = o.bundle!;
        const manifests = o.manifests;
        let keys: BundleKeys;
        try {
          keys = {
            verifiers: loadVerifierKeys(o.verifierKeys ?? join(manifests, SERVICE_KEYS_DIR)),
            agents: [...loadManifestKeys(manifests).values()].map((k) => ({
              agent: k.agent,
              key_id: k.keyId,
              public_key: Buffer.from(k.publicKey).toString('base64url'),
              revoked: k.revoked,
            })),
          };
        } catch (e) {
          throw new Error(`keys: ${(e as Error).message}`);
        }
        return withStore(o, async (s) => {
          const sel = selector(o);
          const ev = await readEvidence(s, sel);
          const lines = bundleLines(ev, keys, { window: ev.window, database: o.database });
          writeFileSync(bundle, lines.join('\n') + '\n');
          const summary = {
            bundle,
            batches: ev.batches.length,
            rows: ev.rows.length,
            deliveries: ev.deliveries.length,
            verifier_keys: keys.verifiers.length,
            agent_keys: keys.agents.length,
          };
          print(o, summary);
        });
      },
    );
}

/** `agentbus detect replay`: the detectors over a recorded trace, in simulated time. */
function registerDetectCommands(program: Command): void {
  const detect = program.command('detect').description('run the detectors outside the auditor');
  detect
    .command('replay')
    .description(
      'run the detectors over recorded audit events in simulated time (one audit_events row per JSON line, as `audit export --jsonl` writes them) and print every alert',
    )
    .requiredOption('--events <file>', 'the recorded events (JSON lines)')
    .option('--config <file>', "detector settings (JSON or YAML): the auditor's `detect` object (rules, cooldownMs), or { detect: {...} }")
    .option('--json', 'one JSON object per alert: rule, severity, agents, window, detected_at, sentence, evidence (with msg_ids)')
    .option(
      '--manifests <dir>',
      "map the nkey of connection events without an agent to the agent whose manifest names it, and read each agent's declared workers (replicas; default 1)",
    )
    .action(async (o: { events: string; config?: string; json?: boolean; manifests?: string }) => {
      const { readReplayTrace, replay, ReplayError } = await import('../auditor/replay.js');
      let cfg: Record<string, unknown> | undefined;
      let connCfg: Record<string, unknown> | undefined;
      if (o.config) {
        let text: string;
        try {
          text = readFileSync(o.config, 'utf8');
        } catch {
          throw new Error(`--config ${o.config}: cannot read it`);
        }
        try {
          const raw = (o.config.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) as Record<string, unknown>;
          cfg = (raw && typeof raw === 'object' && 'detect' in raw ? raw['detect'] : raw) as Record<string, unknown>;
          // the connection rules' settings (overlapMs, learningMs, …): { connections: {...} } beside detect
          if (raw && typeof raw === 'object' && 'connections' in raw) {
            connCfg = raw['connections'] as Record<string, unknown>;
            if (!('detect' in raw)) cfg = Object.fromEntries(Object.entries(raw).filter(([k]) => k !== 'connections'));
          }
        } catch (e) {
          throw new Error(`--config ${o.config}: ${(e as Error).message.split('\n')[0]}`);
        }
        const { detectConfigSchema } = await import('../auditor/config.js');
        const r = detectConfigSchema.safeParse(cfg);
        if (!r.success) throw new Error(`--config ${o.config} at ${r.error.issues[0]!.path.join('.') || '(root)'}: ${r.error.issues[0]!.message}`);
        if (connCfg) {
          const { connectionsConfigSchema } = await import('../auditor/connections.js');
          const c = connectionsConfigSchema.safeParse(connCfg);
          if (!c.success) throw new Error(`--config ${o.config} at connections.${c.error.issues[0]!.path.join('.')}: ${c.error.issues[0]!.message}`);
        }
      }
      let alerts: Awaited<ReturnType<typeof replay>>;
      try {
        const trace = readReplayTrace(o.events, o.manifests ? { manifestsDir: o.manifests } : {});
        alerts = await replay(trace.rows, {
          ...(cfg ? { detect: cfg as never } : {}),
          connections: trace.connections,
          replicas: trace.replicas,
          ...(connCfg ? { connectionsConfig: connCfg } : {}),
        });
      } catch (e) {
        if (e instanceof ReplayError) throw new Error(e.message);
        throw e;
      }
      for (const a of alerts) {
        if (o.json) console.log(JSON.stringify(a));
        else
          console.log(
            `${a.detected_at}  ${a.severity.padEnd(8)} ${a.rule}  ${a.sentence ?? a.agents.join(', ')}${a.evidence.msg_ids.length ? `  (msg_ids: ${a.evidence.msg_ids.slice(0, 5).join(' ')}${a.evidence.msg_ids.length > 5 ? ' …' : ''})` : ''}`,
          );
      }
      if (!o.json && alerts.length === 0) console.log('no alerts');
    });
}

const selector = (o: { since?: number; until?: number }): VerifySelector => ({
  ...(o.since !== undefined ? { since: o.since } : {}),
  ...(o.until !== undefined ? { until: o.until } : {}),
});

/** With no --store: the manifests of the bus whose store is read (running, or its layout). */
function defaultManifests(o: { store?: string; stateDir?: string }): string | undefined {
  if (o.store) return undefined;
  try {
    const where = layout(o.stateDir ? { stateDir: o.stateDir } : {});
    const m = runningBus(where.stateDir)?.manifests_dir ?? where.manifestsDir;
    return existsSync(m) ? m : undefined;
  } catch {
    return undefined;
  }
}

function trustedKeys(manifests: string | undefined, verifierKeys: string | undefined): TrustedKeys {
  try {
    const vk = verifierKeys ?? (manifests ? join(manifests, SERVICE_KEYS_DIR) : undefined);
    if (!vk) throw new Error('give --verifier-keys with --bundle when no --manifests');
    return { verifiers: verifierKeyMap(loadVerifierKeys(vk)), agents: manifests ? lookupFromManifests(manifests) : () => undefined };
  } catch (e) {
    throw new Error(`keys: ${(e as Error).message}`);
  }
}
