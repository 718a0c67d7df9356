// `agentbus tail`: watch the bus live — every verdict the verifier records, one line each, and
// every alert the auditor raises. It connects as the read-only `observer` service user
// (natsconfig.ts observerPermissions: it may subscribe to agentbus.audit.> and agentbus.alert.>
// and publishes nothing), with core subscriptions: what the verifier publishes into the AUDIT
// stream reaches a core subscriber on the same subjects too. It is live only: nothing is read
// back from the stream, events published while tail is disconnected are not shown (the audit
// store has them all: `agentbus audit …`).
//
// The audit batches are decoded exactly as the auditor decodes them (openSignedBatch, then
// rows.ts mapEvent per event), so a line shows what the audit row will say. The signature of the
// batch is not checked here (`agentbus audit verify` does that against the pinned key).
//
// Everything printed that an agent could have put in its header is stripped of control
// characters first: a hostile sender cannot write escape sequences into an operator's terminal.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { AGENT_ID_RE, SUBJECT_ALERT_PREFIX, SUBJECT_AUDIT_PREFIX } from '@agentbus/protocol';
import { openSignedBatch } from '../common/audit-chain.js';
import { mapEvent, timeOrUndefined } from '../auditor/rows.js';
import type { AuditRow } from '../auditor/rows.js';
import { loadServiceCreds } from '../common/service-creds.js';
import type { ServiceIdentity } from '../common/service-creds.js';

/** The inbox prefix the observer's permissions allow (natsconfig.ts observerPermissions). */
export const OBSERVER_INBOX_PREFIX = '_INBOX_observer';
export const DEFAULT_TAIL_STATE_DIR = '.agentbus/dev';
export const DEFAULT_TAIL_NATS = 'nats://127.0.0.1:4222';
/**
 * What `--verdict` accepts: the verifier's verdicts, `shed` (rejected unverified, in bulk), and
 * `would-refuse` (delivered in monitor mode although policy refuses it, docs/design.md §18).
 */
export const TAIL_VERDICTS = ['accepted', 'rejected', 'duplicate', 'shed', 'would-refuse'] as const;

/** A mistake that stops the tail (unreachable server, refused credentials): one line, exit 1. */
export class TailError extends Error {
  override name = 'TailError';
}

export interface TailOptions {
  servers: string | string[];
  credentials: ServiceIdentity;
  /** Only events whose sender or recipient is this agent (alerts: that name this agent). */
  agent?: string;
  /** Only these verdicts (TAIL_VERDICTS); `rejected` includes shed messages. */
  verdicts?: string[];
  alertsOnly?: boolean;
  /** One JSON object per line instead of text. */
  json?: boolean;
  /** ANSI colours (text mode only). */
  color?: boolean;
  /** Receives each output line, without its newline. */
  write: (line: string) => void;
  /** Receives each verdict that passes the filters, instead of a line (the console). */
  onVerdict?: (row: AuditRow) => void;
  /** Receives each alert that passes the filters (a JSON object), instead of a line (the console). */
  onAlert?: (alert: AlertMessage) => void;
  /** Connection notes (disconnected, reconnected): stderr in the CLI. */
  note?: (line: string) => void;
  /** Extra nats.js options (e.g. `tls: { caFile }`). */
  connectOptions?: Record<string, unknown>;
}

export interface TailStats {
  /** Audit events received (after de-duplication of re-published batches). */
  events: number;
  /** Lines printed for events. */
  shown: number;
  alerts: number;
  /** Audit messages that do not decode as a signed batch, and alerts that are not JSON. */
  undecodable: number;
}

export interface Tail {
  readonly stats: TailStats;
  /** Resolves when the connection has closed: undefined after stop(), the error otherwise. */
  readonly closed: Promise<Error | undefined>;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// formatting

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** Printable: control characters (ESC included) and bidi overrides become '?'. */
export function printable(s: string, max = 200): string {
  const t = s.replace(CONTROL, '?');
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

const ansi = (code: string) => (s: string) => `\u001b[${code}m${s}\u001b[0m`;
const paint = { green: ansi('32'), red: ansi('31'), yellow: ansi('33'), dim: ansi('2'), boldRed: ansi('1;31') };

function clock(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function size(n: number): string {
  if (n < 1024) return `${n}B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)}KiB`;
  return `${(n / 1024 / 1024).toFixed(1)}MiB`;
}

/** The verdict as tail shows and filters it: a rejected row standing for shed messages is `shed`. */
export function tailVerdict(row: Pick<AuditRow, 'verdict' | 'shed_count'>): string {
  return row.verdict === 'rejected' && row.shed_count > 0 ? 'shed' : row.verdict;
}

/** One text line for an audit row: time, verdict, reason, sender → recipient/topic, type, msg_id, size. */
export function formatRow(row: AuditRow, color = false): string {
  const v = tailVerdict(row);
  const verdictText = (v === 'shed' ? `shed×${row.shed_count}` : v).padEnd(9);
  const tint = !color ? (s: string) => s : v === 'accepted' ? paint.green : v === 'rejected' ? paint.red : paint.yellow;
  const dest = row.recipient || (row.topic ? `topic:${row.topic}` : '?');
  // monitor mode delivered it although policy refuses it: marked, in yellow, with what enforcing would say
  const would = row.would_refuse;
  const parts = [
    clock(row.time),
    tint(verdictText),
    would ? (color ? paint.yellow : (s: string) => s)(`WOULD REFUSE ${printable(would, 40)}`.padEnd(25)) : (row.reason || '-').padEnd(25),
    `${printable(row.sender || '?', 64)} → ${printable(dest, 70)}`.padEnd(26),
    printable(row.type || '-', 80).padEnd(16),
    row.msg_id ? row.msg_id.slice(0, 8) : '-',
    size(row.raw_size || row.payload_size),
  ];
  let line = parts.join('  ');
  if ((v !== 'accepted' || would) && row.detail) line += `  ${color ? paint.dim(`(${printable(row.detail, 120)})`) : `(${printable(row.detail, 120)})`}`;
  return line;
}

/** The JSON object of an audit row (--json): the row's own column names, without the raw bytes. */
export function rowJson(row: AuditRow): Record<string, unknown> {
  return {
    kind: 'verdict',
    time: new Date(row.time).toISOString(),
    verdict: tailVerdict(row),
    reason: row.reason,
    mode: row.mode,
    ...(row.would_refuse ? { would_refuse: row.would_refuse } : {}),
    detail: row.detail,
    sender: row.sender,
    header_sender: row.header_sender,
    recipient: row.recipient,
    topic: row.topic,
    type: row.type,
    msg_id: row.msg_id,
    trace_id: row.trace_id,
    causation_id: row.causation_id,
    depth: row.depth,
    payload_size: row.payload_size,
    raw_size: row.raw_size,
    shed_count: row.shed_count,
    verifier_id: row.verifier_id,
    event_id: row.event_id,
    batch_id: row.batch_id,
    ...(row.malformed ? { malformed: row.malformed } : {}),
  };
}

export interface AlertMessage {
  rule?: unknown;
  severity?: unknown;
  agents?: unknown;
  evidence?: unknown;
  detected_at?: unknown;
  window_start?: unknown;
  window_end?: unknown;
  sentence?: unknown;
  trail?: unknown;
}

function evidenceText(e: unknown): string {
  if (!e || typeof e !== 'object') return '';
  return Object.entries(e as Record<string, unknown>)
    .map(([k, v]) => `${k}=${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`)
    .join(' ');
}

const agentsOf = (a: AlertMessage): string[] => (Array.isArray(a.agents) ? a.agents.filter((x): x is string => typeof x === 'string') : []);

/** One text line for an alert: time, ALERT, severity, rule, agents, and its sentence (else its evidence), then the first trail command. */
export function formatAlert(a: AlertMessage, color = false, now = Date.now()): string {
  const sev = typeof a.severity === 'string' ? a.severity : '?';
  const rule = typeof a.rule === 'string' ? a.rule : '?';
  const at = typeof a.detected_at === 'string' && Number.isFinite(Date.parse(a.detected_at)) ? Date.parse(a.detected_at) : now;
  const head = `ALERT ${sev} ${rule}`;
  const tint = !color ? (s: string) => s : sev === 'high' || sev === 'critical' ? paint.boldRed : paint.yellow;
  const agents = agentsOf(a);
  const what = typeof a.sentence === 'string' && a.sentence ? a.sentence : evidenceText(a.evidence);
  const trail = Array.isArray(a.trail) && typeof a.trail[0] === 'string' ? `  → ${a.trail[0]}` : '';
  return `${clock(at)}  ${tint(printable(head, 100))}  ${printable(agents.length ? agents.join(', ') : '(no agent)', 200)}: ${printable(what, 400)}${printable(trail, 120)}`;
}

// ---------------------------------------------------------------------------------------------
// the subscriber

/** Event ids seen lately: a batch the verifier re-published after a lost ack is shown once. */
class RecentIds {
  #set = new Set<string>();
  constructor(private readonly max: number) {}
  /** True the first time. */
  add(id: string): boolean {
    if (this.#set.has(id)) return false;
    this.#set.add(id);
    if (this.#set.size > this.max) this.#set.delete(this.#set.values().next().value as string);
    return true;
  }
}

function connectError(servers: string[], e: unknown): TailError {
  const msg = String((e as Error)?.message ?? e);
  const where = servers.join(',');
  if (/authoriz|authentic|permission/i.test(msg)) {
    return new TailError(
      `nats-server at ${where} refused the observer credential (${msg}); is the observer in its config? (agentbus dev adds it; else agentbus nats-config --observer-creds F)`,
    );
  }
  return new TailError(`cannot connect to NATS at ${where}: ${msg}`);
}

export async function startTail(o: TailOptions): Promise<Tail> {
  const servers = (Array.isArray(o.servers) ? o.servers : o.servers.split(',')).map((s) => s.trim()).filter(Boolean);
  const verdicts = o.verdicts?.length ? new Set(o.verdicts) : undefined;
  const note = o.note ?? (() => {});
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers,
      name: 'agentbus-tail',
      authenticator: nkeyAuthenticator(o.credentials.natsSeed()),
      inboxPrefix: OBSERVER_INBOX_PREFIX,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      ...(o.connectOptions ?? {}),
    });
  } catch (e) {
    throw connectError(servers, e);
  }
  const stats: TailStats = { events: 0, shown: 0, alerts: 0, undecodable: 0 };
  const seen = new RecentIds(50_000);
  const emit = (line: string) => o.write(line);
  let failed: Error | undefined;
  let stopping = false;

  const onAudit = (data: Uint8Array, subject: string) => {
    const opened = openSignedBatch(data);
    if (!opened.ok) {
      stats.undecodable++;
      if (!o.alertsOnly)
        emit(
          o.json
            ? JSON.stringify({ kind: 'undecodable', subject, detail: opened.detail })
            : `${clock(Date.now())}  ?  undecodable audit message on ${printable(subject)}: ${printable(opened.detail)}`,
        );
      return;
    }
    const b = opened.value;
    const createdAt = timeOrUndefined(b.batch.createdAtMs) ?? Date.now();
    b.batch.events.forEach((ev, pos) => {
      const row = mapEvent(ev, { batchId: b.batchId, pos, createdAt });
      if (!seen.add(row.event_id)) return;
      stats.events++;
      if (o.alertsOnly) return;
      if (o.agent && row.sender !== o.agent && row.recipient !== o.agent) return;
      const v = tailVerdict(row);
      if (verdicts && !verdicts.has(v) && !(v === 'shed' && verdicts.has('rejected')) && !(row.would_refuse && verdicts.has('would-refuse'))) return;
      stats.shown++;
      if (o.onVerdict) o.onVerdict(row);
      else emit(o.json ? JSON.stringify(rowJson(row)) : formatRow(row, o.color));
    });
  };

  const onAlert = (data: Uint8Array, subject: string) => {
    let a: AlertMessage;
    try {
      a = JSON.parse(new TextDecoder().decode(data)) as AlertMessage;
      if (!a || typeof a !== 'object') throw new Error('not an object');
    } catch {
      stats.undecodable++;
      emit(
        o.json
          ? JSON.stringify({ kind: 'undecodable', subject, detail: 'alert is not a JSON object' })
          : `${clock(Date.now())}  ALERT ?  on ${printable(subject)}: not a JSON object (${data.length} bytes)`,
      );
      return;
    }
    if (o.agent && !agentsOf(a).includes(o.agent)) return;
    stats.alerts++;
    if (o.onAlert) o.onAlert(a);
    else emit(o.json ? JSON.stringify({ ...a, kind: 'alert' }) : formatAlert(a, o.color));
  };

  const subs: Subscription[] = [];
  const watch = (subject: string, handle: (data: Uint8Array, subject: string) => void) => {
    const sub = nc.subscribe(subject, {
      callback: (err, m) => {
        if (err) return;
        try {
          handle(m.data, m.subject);
        } catch (e) {
          note(`tail: cannot show a message on ${printable(m.subject)}: ${(e as Error).message}`);
        }
      },
    });
    subs.push(sub);
    // a refused subscription (permissions) ends the tail: watching half the bus silently is worse
    void sub.closed.then((e) => {
      if (e instanceof Error && !stopping) {
        failed ??= new TailError(`nats-server refused the subscription to ${subject}: ${e.message}`);
        void nc.close();
      }
    });
  };
  if (!o.alertsOnly) watch(`${SUBJECT_AUDIT_PREFIX}>`, onAudit);
  watch(`${SUBJECT_ALERT_PREFIX}>`, onAlert);
  try {
    await nc.flush(); // the subscriptions are registered (or refused) before startTail resolves
  } catch (e) {
    await nc.close().catch(() => {});
    throw connectError(servers, e);
  }

  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect')
        note(`tail: disconnected from ${s.server}; reconnecting (what happens meanwhile is not shown here; the audit store keeps it)`);
      else if (s.type === 'reconnect') note(`tail: reconnected to ${s.server}`);
      else if (s.type === 'error' && /permission/i.test(String(s.error))) note(`tail: ${String(s.error)}`);
    }
  })().catch(() => {});

  const closed = nc.closed().then((e) => {
    if (stopping && !failed) return undefined;
    return failed ?? (e instanceof Error ? e : stopping ? undefined : new TailError('the NATS connection closed'));
  });
  // a permission failure found by the flush above
  await new Promise((r) => setImmediate(r));
  if (failed) {
    await closed;
    throw failed;
  }
  return {
    stats,
    closed,
    async stop() {
      stopping = true;
      if (!nc.isClosed()) await nc.close().catch(() => {});
      await closed;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// the command

export interface TailCliOptions {
  agent?: string;
  verdict?: string[];
  alertsOnly?: boolean;
  json?: boolean;
  nats?: string;
  creds?: string;
  stateDir: string;
  tlsCa?: string;
}

/**
 * The NATS URL(s) to use: --nats, else `servers` from <state-dir>/bus.json (written by a dev
 * bus that records where it listens), else nats://127.0.0.1:4222.
 */
export function resolveServers(o: { nats?: string; stateDir: string }): { servers: string; from: string } {
  if (o.nats) return { servers: o.nats, from: '--nats' };
  const file = join(o.stateDir, 'bus.json');
  if (!existsSync(file)) return { servers: DEFAULT_TAIL_NATS, from: 'default' };
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new TailError(`${file}: not valid JSON (${(e as Error).message.split('\n')[0]}); pass --nats URL`);
  }
  const s = (doc as { servers?: unknown } | null)?.servers;
  const list = typeof s === 'string' ? [s] : Array.isArray(s) && s.every((x) => typeof x === 'string') ? (s as string[]) : [];
  const servers = list.join(',').trim();
  if (!servers) throw new TailError(`${file}: no "servers" URL in it; pass --nats URL`);
  return { servers, from: file };
}

/** Check and normalise the --agent and --verdict values (usage errors: thrown as a RangeError). */
export function checkTailArguments(o: { agent?: string; verdict?: string[] }): void {
  if (o.agent !== undefined && !AGENT_ID_RE.test(o.agent))
    throw new RangeError(`--agent must be an agent id ([a-z0-9][a-z0-9_-]{0,63}), got ${JSON.stringify(o.agent)}`);
  for (const v of o.verdict ?? []) {
    if (!(TAIL_VERDICTS as readonly string[]).includes(v))
      throw new RangeError(`--verdict must be one of ${TAIL_VERDICTS.join(', ')} (comma-separated), got ${JSON.stringify(v)}`);
  }
}

/** `agentbus tail`: run until SIGINT/SIGTERM (resolves) or the connection fails (rejects with TailError). */
export async function runTail(o: TailCliOptions, io: { out?: NodeJS.WriteStream; err?: NodeJS.WriteStream } = {}): Promise<void> {
  const out = io.out ?? process.stdout;
  const err = io.err ?? process.stderr;
  const credsPath = o.creds ?? join(o.stateDir, 'creds', 'observer.creds.json');
  if (!o.creds && !existsSync(credsPath))
    throw new TailError(
      `no observer credential at ${credsPath} (agentbus dev writes it there; else pass --creds F, made with: agentbus keygen observer --service)`,
    );
  const credentials = loadServiceCreds(credsPath);
  if (o.tlsCa && !existsSync(o.tlsCa)) throw new TailError(`${o.tlsCa} not found`);
  const { servers, from } = resolveServers(o);
  const color = !o.json && out.isTTY === true && !('NO_COLOR' in process.env && process.env.NO_COLOR !== '');
  let broken = false;
  const write = (line: string) => {
    if (!broken) out.write(line + '\n');
  };
  // `agentbus tail | head`: a closed pipe ends the tail quietly
  const onPipeError = (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') broken = true;
  };
  out.on('error', onPipeError);
  const tail = await startTail({
    servers,
    credentials,
    write,
    color,
    note: (l) => err.write(l + '\n'),
    ...(o.agent ? { agent: o.agent } : {}),
    ...(o.verdict?.length ? { verdicts: o.verdict } : {}),
    ...(o.alertsOnly ? { alertsOnly: true } : {}),
    ...(o.json ? { json: true } : {}),
    ...(o.tlsCa ? { connectOptions: { tls: { caFile: o.tlsCa } } } : {}),
  });
  const what = [o.alertsOnly ? 'alerts' : 'verdicts and alerts', o.agent ? `of ${o.agent}` : '', o.verdict?.length ? `(${o.verdict.join(', ')})` : '']
    .filter(Boolean)
    .join(' ');
  err.write(`tail: watching ${what} on ${servers}${from === '--nats' ? '' : ` (from ${from === 'default' ? 'the default URL' : from})`}; Ctrl-C to stop\n`);
  const result = await new Promise<Error | undefined>((resolve) => {
    let pipeTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      clearInterval(pipeTimer);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void tail.stop().then(
        () => resolve(undefined),
        () => resolve(undefined),
      );
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    pipeTimer = setInterval(() => broken && stop(), 200);
    void tail.closed.then((e) => {
      if (!e) return;
      clearInterval(pipeTimer);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(e);
    });
  });
  out.off('error', onPipeError);
  if (result) throw result instanceof TailError ? result : new TailError(`the NATS connection closed: ${result.message}`);
}
