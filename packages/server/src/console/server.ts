// `agentbus console`: a live web console for a running bus (docs/console.md, docs/design.md §19).
//
// It reads the bus as the read-only observer (ops/tail.ts: NATS refuses that user every publish),
// the audit store for what happened before it started (graph, alerts, trails), and acts only
// through signed approval.decision messages sent as an approver agent whose credentials it holds
// (console/approvals.ts) — decided by the verifier like any other message.
//
// One HTTP(S) server: the page and its script and style (same origin, no CDN), a small JSON API,
// and one server-sent event stream per open page that carries every verdict, alert and held call
// as it happens. Loopback by default; any other bind needs TLS and users (console/auth.ts).
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { loadManifestDir } from '@agentbus/protocol/manifest';
import type { AuditStore } from '../auditor/store.js';
import { alerts as storeAlerts, edges as storeEdges, trail as storeTrail } from '../auditor/reports.js';
import { alertSentence } from '../auditor/sentence.js';
import type { AuditRow } from '../auditor/rows.js';
import type { ServiceIdentity } from '../common/service-creds.js';
import { rowJson, startTail } from '../ops/tail.js';
import type { AlertMessage, Tail } from '../ops/tail.js';
import { ApproveError } from '../ops/approver.js';
import { ApprovalDesk } from './approvals.js';
import { ConsoleConfigError, cookie, Gate, isLoopbackHost, SESSION_COOKIE, Sessions, sessionCookie, USER_RE } from './auth.js';
import type { ConsoleUser } from './auth.js';
import { consoleCss, consoleScript } from './assets.js';

export { ConsoleConfigError } from './auth.js';

export const DEFAULT_CONSOLE_PORT = 4280;
const MAX_BODY = 16 * 1024;
/** Verdicts a page that opens gets at once (the latest). */
const RECENT_VERDICTS = 500;
const RECENT_ALERTS = 100;
/** A page that does not keep up with the stream is cut off (it reconnects and reloads). */
const MAX_BUFFERED = 4 << 20;
const MSG_ID = /^[0-9a-f]{32}$/;
/** Verdicts go out in batches, at most this often and this many: a flood does not flood the page. */
const VERDICT_FLUSH_MS = 100;
const VERDICT_BATCH = 500;

export interface ConsoleOptions {
  /** NATS server URL(s). */
  servers: string | string[];
  /** The read-only observer's service credential. */
  observer: ServiceIdentity;
  /** nats.js options every client of this bus needs (e.g. `tls: { caFile }`). */
  connectOptions?: Record<string, unknown>;
  manifestsDir: string;
  /** The audit store (history: graph, alerts, trails); without it those views show live data only. */
  store?: AuditStore;
  /** The approver agent whose credentials the console holds; without it approvals are read-only… absent. */
  approverCredsFile?: string;
  /** Bind address (default 127.0.0.1). Anything but loopback needs `tls` and `users`. */
  host?: string;
  /** Port (default 0: any free port; the CLI defaults to 4280). */
  port?: number;
  tls?: { certFile: string; keyFile: string };
  /** People who may log in; with none, nobody logs in (loopback only) and decisions name the local OS user. */
  users?: ConsoleUser[];
  /** Further origins the console answers to (e.g. behind a reverse proxy): https://console.example.com */
  allowedOrigins?: string[];
  /** Operational lines (started, refused requests, connection notes); never a token or session id. */
  log?: (line: string) => void;
}

export interface Console {
  /** The console's own URL (what a browser opens). */
  url: string;
  /** The approver agent, if approvals are on. */
  approver: string | undefined;
  close(): Promise<void>;
}

interface Client {
  res: ServerResponse;
  /** The session the stream belongs to (closed when it logs out); '' without logins. */
  session: string;
}

const sessionId = (req: IncomingMessage) => cookie(req, SESSION_COOKIE);

const json = (res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...extra });
  res.end(JSON.stringify(body));
};

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return reject(new RangeError('the body must be application/json'));
    let n = 0;
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => {
      n += d.length;
      if (n > MAX_BODY) {
        reject(new RangeError('the body is too large'));
        req.destroy();
      } else parts.push(d);
    });
    req.on('end', () => {
      try {
        const v = JSON.parse(Buffer.concat(parts).toString('utf8')) as unknown;
        if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
        resolve(v as Record<string, unknown>);
      } catch {
        reject(new RangeError('the body must be a JSON object'));
      }
    });
    req.on('error', reject);
  });
}

/** ClickHouse DateTime64 text ('2025-01-01 12:00:00.000', UTC) → ISO 8601. */
const chToIso = (s: string) => (/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/.test(s) ? `${s.replace(' ', 'T')}${s.includes('.') ? '' : '.000'}Z` : s);

const HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>agentbus console</title>
<link rel="stylesheet" href="/app.css">
</head>
<body>
<div id="app"><p class="boot">Loading the console…</p></div>
<script src="/app.js"></script>
</body>
</html>
`;

export async function startConsole(o: ConsoleOptions): Promise<Console> {
  const host = o.host ?? '127.0.0.1';
  const log = o.log ?? (() => undefined);
  if (!isLoopbackHost(host)) {
    if (!o.tls) throw new ConsoleConfigError(`--host ${host} is not loopback: the console then needs TLS (--tls-cert and --tls-key)`);
    if (!o.users?.length) throw new ConsoleConfigError(`--host ${host} is not loopback: the console then needs a login (--users FILE)`);
    // every address: no Host is its own until someone names the one people open
    if ((host === '0.0.0.0' || host === '::') && !o.allowedOrigins?.length)
      throw new ConsoleConfigError(`--host ${host} listens on every address: name the origin people open with --allow-origin https://NAME:PORT`);
  }
  for (const a of o.allowedOrigins ?? []) {
    let u: URL;
    try {
      u = new URL(a);
    } catch {
      throw new ConsoleConfigError(`--allow-origin ${JSON.stringify(a)}: not a URL (e.g. https://console.example.com)`);
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new ConsoleConfigError(`--allow-origin ${a}: http(s) origins only`);
    if (u.origin !== a.replace(/\/$/, '')) throw new ConsoleConfigError(`--allow-origin ${a}: an origin only (scheme://host[:port]), no path`);
  }
  const tls = o.tls ? { cert: readFileSync(o.tls.certFile), key: readFileSync(o.tls.keyFile) } : undefined;
  const sessions = new Sessions(o.users);
  const localUser = `local:${(() => {
    try {
      return userInfo().username;
    } catch {
      return 'unknown';
    }
  })()}`;

  // ---- the live state every page shares
  const clients = new Set<Client>();
  const recentVerdicts: Record<string, unknown>[] = [];
  const recentAlerts: Record<string, unknown>[] = [];
  let natsUp = true;
  const broadcast = (event: string, data: unknown) => {
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const c of clients) {
      if (c.res.writableLength > MAX_BUFFERED) {
        clients.delete(c);
        c.res.destroy();
        continue;
      }
      c.res.write(frame);
    }
  };
  // verdicts: one `verdicts` event per 100 ms with what arrived (at most 500; the rest counted as skipped)
  let pending: Record<string, unknown>[] = [];
  let skipped = 0;
  const flush = setInterval(() => {
    if (!pending.length && !skipped) return;
    broadcast('verdicts', { verdicts: pending, skipped });
    pending = [];
    skipped = 0;
  }, VERDICT_FLUSH_MS);
  flush.unref();
  const onVerdict = (row: AuditRow) => {
    const v = rowJson(row);
    recentVerdicts.push(v);
    if (recentVerdicts.length > RECENT_VERDICTS) recentVerdicts.shift();
    if (pending.length < VERDICT_BATCH) pending.push(v);
    else skipped++;
  };
  const onAlert = (a: AlertMessage) => {
    const v = { ...(a as Record<string, unknown>), kind: 'alert' };
    recentAlerts.push(v);
    if (recentAlerts.length > RECENT_ALERTS) recentAlerts.shift();
    broadcast('alert', v);
  };

  // ---- the observer (read-only) and the approver
  const tail: Tail = await startTail({
    servers: o.servers,
    credentials: o.observer,
    write: () => undefined, // undecodable audit messages: the audit store's dead letters say more
    onVerdict,
    onAlert,
    note: (line) => {
      log(line.replace(/^tail:/, 'console:'));
      const up = !/disconnected/.test(line);
      if (up !== natsUp) {
        natsUp = up;
        broadcast('status', { nats: up ? 'connected' : 'disconnected' });
      }
    },
    ...(o.connectOptions ? { connectOptions: o.connectOptions } : {}),
  }).catch((e: unknown) => {
    clearInterval(flush);
    throw e;
  });
  let desk: ApprovalDesk | undefined;
  try {
    if (o.approverCredsFile)
      desk = await ApprovalDesk.start(
        { servers: o.servers, credsFile: o.approverCredsFile, manifestsDir: o.manifestsDir, ...(o.connectOptions ? { connectOptions: o.connectOptions } : {}) },
        { held: (v) => broadcast('held', v), gone: (g) => broadcast('gone', g), note: log },
      );
  } catch (e) {
    clearInterval(flush);
    await tail.stop();
    throw e instanceof ApproveError ? new ConsoleConfigError(`approvals: ${e.message}`) : e;
  }
  const heartbeat = setInterval(() => {
    for (const c of clients) c.res.write(': ping\n\n');
  }, 15_000);
  heartbeat.unref();

  // ---- the API
  const agents = () => {
    try {
      return loadManifestDir(o.manifestsDir).map((m) => ({ id: m.agent, description: m.description ?? '', approve: m.approve ?? [] }));
    } catch {
      return [];
    }
  };
  const needStore = (res: ServerResponse): AuditStore | undefined => {
    if (!o.store) json(res, 503, { error: 'this console has no audit store (live data only): start it with the bus, or give --store' });
    return o.store;
  };
  const who = (req: IncomingMessage): string | undefined => (sessions.required ? sessions.user(req) : localUser);

  const handle = async (req: IncomingMessage, res: ServerResponse, gate: Gate) => {
    for (const [k, v] of Object.entries(HEADERS)) res.setHeader(k, v);
    const path = (req.url ?? '/').split('?')[0]!;
    const refused = gate.refuse(req);
    if (refused) {
      log(`console: refused ${req.method} ${path}: ${refused}`);
      return json(res, 403, { error: refused });
    }
    if (req.method === 'GET' && path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      return res.end(PAGE);
    }
    if (req.method === 'GET' && path === '/app.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' });
      return res.end(consoleScript());
    }
    if (req.method === 'GET' && path === '/app.css') {
      res.writeHead(200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'no-cache' });
      return res.end(consoleCss());
    }
    if (path === '/api/session' && req.method === 'GET') {
      const user = who(req);
      return json(res, 200, { user: user ?? null, login_required: sessions.required, approver: desk?.agent ?? null });
    }
    if (path === '/api/login' && req.method === 'POST') {
      const body = await readJson(req);
      const r = sessions.login(body['user'], body['token']);
      if (r === 'throttled') return json(res, 429, { error: 'too many failed logins in the last minute; wait' });
      if (!r) {
        log(`console: login refused${typeof body['user'] === 'string' && USER_RE.test(body['user']) ? ` for ${body['user']}` : ''}`);
        return json(res, 401, { error: 'wrong user name or token' });
      }
      log(`console: ${r.user} logged in`);
      return json(res, 200, { user: r.user }, { 'set-cookie': sessionCookie(r.id, !!tls) });
    }
    if (path === '/api/logout' && req.method === 'POST') {
      const id = sessionId(req);
      sessions.logout(req);
      // the session's open streams end with it
      for (const c of clients)
        if (id && c.session === id) {
          clients.delete(c);
          c.res.end();
        }
      return json(res, 200, { ok: true }, { 'set-cookie': sessionCookie('', !!tls, 0) });
    }
    const user = who(req);
    if (!user) return json(res, 401, { error: 'log in first' });
    if (path === '/api/events' && req.method === 'GET') {
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write(`retry: 1000\n\n`);
      const snapshot = {
        now: new Date().toISOString(),
        user,
        approver: desk?.agent ?? null,
        nats: natsUp ? 'connected' : 'disconnected',
        verdicts: recentVerdicts,
        alerts: recentAlerts,
        held: desk?.list() ?? [],
      };
      res.write(`event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`);
      const c: Client = { res, session: sessions.required ? (sessionId(req) ?? '') : '' };
      clients.add(c);
      req.on('close', () => clients.delete(c));
      return;
    }
    if (path === '/api/agents' && req.method === 'GET') return json(res, 200, { agents: agents() });
    if (path === '/api/would-refuse' && req.method === 'GET') {
      // monitor mode (docs/design.md §18): what it delivered although policy refuses it, the last 24 h
      const store = needStore(res);
      if (!store) return;
      const rows = await store.query<Record<string, unknown>>(
        `SELECT toString(time) AS time, would_refuse, detail, sender, destination, type, msg_id, event_id
         FROM ${store.table('audit_events')} FINAL
         WHERE would_refuse != '' AND time >= now() - INTERVAL 1 DAY ORDER BY time DESC LIMIT 500`,
      );
      return json(res, 200, { rows: rows.map((r) => ({ ...r, time: chToIso(String(r['time'])) })) });
    }
    if (path === '/api/graph' && req.method === 'GET') {
      const store = o.store;
      const rows = store ? await storeEdges(store, { limit: 500 }) : [];
      return json(res, 200, { agents: agents(), edges: rows, history: !!store });
    }
    if (path === '/api/alerts' && req.method === 'GET') {
      const store = needStore(res);
      if (!store) return;
      const rows = await storeAlerts(store, { limit: 100 });
      return json(res, 200, {
        alerts: rows.map((a) => {
          const view = { ...a, window_start: chToIso(a.window_start), window_end: chToIso(a.window_end), detected_at: chToIso(a.detected_at) };
          const ids = Array.isArray(a.evidence['msg_ids']) ? (a.evidence['msg_ids'] as unknown[]).filter((x): x is string => typeof x === 'string') : [];
          return { ...view, sentence: alertSentence(view), msg_ids: ids };
        }),
      });
    }
    const trailMatch = /^\/api\/trail\/([^/]+)$/.exec(path);
    if (trailMatch && req.method === 'GET') {
      const id = decodeURIComponent(trailMatch[1]!).toLowerCase();
      if (!MSG_ID.test(id)) return json(res, 400, { error: 'msg_id must be 32 hex characters' });
      const store = needStore(res);
      if (!store) return;
      return json(res, 200, { msg_id: id, rows: await storeTrail(store, { msgId: id, limit: 500 }) });
    }
    const decideMatch = /^\/api\/approvals\/([0-9a-f]{32})$/.exec(path);
    if (decideMatch && req.method === 'POST') {
      if (!desk) return json(res, 409, { error: 'approvals are off: this console holds no approver credentials (--approver)' });
      const body = await readJson(req);
      const approve = body['approve'];
      if (typeof approve !== 'boolean') return json(res, 400, { error: 'approve must be true or false' });
      const reason = body['reason'];
      if (reason !== undefined && (typeof reason !== 'string' || reason.length > 400))
        return json(res, 400, { error: 'reason: a string of at most 400 characters' });
      const sha = body['args_sha256'];
      if (approve && (typeof sha !== 'string' || !/^[0-9a-f]{64}$/.test(sha)))
        return json(res, 400, { error: 'args_sha256: approving needs the sha256 (64 hex) of the arguments the screen showed' });
      try {
        const r = await desk.decide({
          msgId: decideMatch[1]!,
          approve,
          person: user,
          ...(typeof reason === 'string' ? { reason } : {}),
          ...(approve ? { argsSha256: sha as string } : {}),
        });
        log(`console: ${user} ${r.decision} ${r.msg_id} (approval ${r.approval_msg_id}${r.applied ? '' : ', not applied'})`);
        return json(res, 200, r);
      } catch (e) {
        if (e instanceof ApproveError) return json(res, 409, { error: e.message });
        if ((e as Error).name === 'RejectedError') return json(res, 409, { error: `the verifier refused the decision: ${(e as Error).message}` });
        throw e;
      }
    }
    return json(res, 404, { error: `no ${req.method} ${path} here` });
  };

  let gate: Gate | undefined;
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res, gate!).catch((e: Error) => {
      if (res.headersSent) return void res.destroy();
      if (e instanceof RangeError) return json(res, 400, { error: e.message });
      log(`console: ${req.method} ${(req.url ?? '').split('?')[0]} failed: ${e.message.split('\n')[0]}`);
      json(res, 500, { error: e.message.split('\n')[0] });
    });
  };
  const server: Server = tls ? createHttpsServer(tls, onRequest) : createHttpServer(onRequest);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port ?? 0, host, () => resolve());
    });
  } catch (e) {
    clearInterval(flush);
    clearInterval(heartbeat);
    await desk?.close();
    await tail.stop();
    const err = e as NodeJS.ErrnoException;
    throw new ConsoleConfigError(
      err.code === 'EADDRINUSE'
        ? `port ${o.port} on ${host} is in use; pick another (agentbus console --port N, agentbus dev --console-port N; 0: any free port)`
        : `cannot listen on ${host}:${o.port}: ${err.message}`,
    );
  }
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const scheme = tls ? 'https' : 'http';
  gate = new Gate({ scheme, host, port, ...(o.allowedOrigins ? { allowedOrigins: o.allowedOrigins } : {}) });
  const urlHost = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const wildcard = host === '0.0.0.0' || host === '::';
  return {
    url: wildcard ? `${o.allowedOrigins![0]!.replace(/\/$/, '')}/` : `${scheme}://${urlHost}:${port}/`,
    approver: desk?.agent,
    async close() {
      clearInterval(heartbeat);
      clearInterval(flush);
      for (const c of clients) c.res.end();
      clients.clear();
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
      await desk?.close();
      await tail.stop();
    },
  };
}
