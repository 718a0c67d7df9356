// Reading the audit store of a running bus. chDB lets one process open a data directory, and
// the auditor of `agentbus dev` holds it; so that process also serves a read-only query
// endpoint on loopback (bearer token in a 0600 file), and `agentbus audit …` reads through it.
// Every query there runs on a chDB session with readonly = 1: the endpoint cannot change data.
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuditStore, QueryParams } from './store.js';
import { StoreError } from './store.js';

const MAX_BODY = 1 << 20;

export interface QueryServer {
  url: string;
  token: string;
  close(): Promise<void>;
}

interface QueryRequest {
  sql: string;
  params?: QueryParams;
  /** analyst SQL (`audit sql`): the server's own number format, as on a store opened directly */
  analyst?: boolean;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => {
      n += d.length;
      if (n > MAX_BODY) {
        reject(new Error('request too large'));
        req.destroy();
      } else parts.push(d);
    });
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startQueryServer(store: AuditStore, o: { host?: string; port?: number; token?: string } = {}): Promise<QueryServer> {
  const token = o.token ?? randomBytes(24).toString('base64url');
  const want = Buffer.from(`Bearer ${token}`);
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = createServer((req, res) => {
    const got = Buffer.from(req.headers.authorization ?? '');
    if (got.length !== want.length || !timingSafeEqual(got, want))
      return send(res, 401, { error: 'a valid bearer token is required (query.token in the state directory)' });
    if (req.method === 'GET' && req.url === '/ping') return send(res, 200, { ok: true });
    if (req.method !== 'POST' || req.url !== '/query') return send(res, 404, { error: 'POST /query' });
    readBody(req)
      .then(async (text) => {
        const q = JSON.parse(text) as QueryRequest;
        if (typeof q.sql !== 'string') return send(res, 400, { error: 'sql must be a string' });
        const rows = await store.readonlyQuery(q.sql, q.params ?? {}, { numbers: !q.analyst });
        send(res, 200, { rows });
      })
      .catch((e: Error) => send(res, 400, { error: e.message.split('\n')[0] }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => resolve());
  });
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  return {
    url: `http://${o.host ?? '127.0.0.1'}:${port}`,
    token,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** An AuditStore that reads through a running bus's query endpoint; every write is refused. */
export function openLiveStore(o: { url: string; token: string; database: string; holder: string }): AuditStore {
  const post = async (body: QueryRequest): Promise<Record<string, unknown>[]> => {
    let res: Response;
    try {
      res = await fetch(`${o.url}/query`, {
        method: 'POST',
        headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    } catch (e) {
      throw new StoreError(`cannot reach the audit store of ${o.holder} at ${o.url}: ${(e as Error).message}`);
    }
    const json = (await res.json().catch(() => ({}))) as { rows?: Record<string, unknown>[]; error?: string };
    if (!res.ok) throw new StoreError(json.error ?? `query endpoint answered ${res.status}`);
    return json.rows ?? [];
  };
  const refuse = async (): Promise<never> => {
    throw new StoreError(`the audit store is held by ${o.holder}; it can be read here, not written`);
  };
  return {
    get client(): never {
      throw new StoreError('no direct client for a store read through a running bus');
    },
    database: o.database,
    transport: 'bus',
    table: (name) => `${o.database}.${name}`,
    query: async <T>(sql: string, params: QueryParams = {}) => (await post({ sql, params })) as T[],
    readonlyQuery: (sql, params = {}, ro = {}) => post({ sql, params, analyst: !ro.numbers }),
    command: refuse,
    migrate: refuse,
    insertRows: refuse,
    insertBatches: refuse,
    insertDeliveries: refuse,
    insertAlerts: refuse,
    storedBatches: refuse,
    storedPlaces: refuse,
    async ping() {
      try {
        const r = await fetch(`${o.url}/ping`, { headers: { authorization: `Bearer ${o.token}` } });
        return r.ok;
      } catch {
        return false;
      }
    },
    async close() {},
  };
}
