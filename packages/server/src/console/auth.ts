// Who may use the console, and from where (docs/console.md "Security").
//
// - Host and Origin: every request's Host must be one the console answers to, and a request
//   that carries an Origin must come from the console's own origin (or one configured with
//   --allow-origin). A page elsewhere that resolves its own name to 127.0.0.1 (DNS rebinding)
//   sends its own Host; a cross-site form or fetch sends its own Origin. Requests that change
//   anything (POST) must carry an Origin: browsers always send one there.
// - Login: with users configured (required for any bind other than loopback) a person logs in
//   with their name and token (POST, never in a URL) and gets a session id in an HttpOnly,
//   SameSite=Strict cookie (Secure under TLS). Tokens are compared as SHA-256 digests in constant
//   time; neither tokens nor session ids are ever logged.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';

export const SESSION_COOKIE = 'agentbus_console';
export const SESSION_TTL_MS = 12 * 3600_000;
/** A console user's name: what the audit trail records with each decision. */
export const USER_RE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const MIN_TOKEN = 16;

export class ConsoleConfigError extends Error {
  override name = 'ConsoleConfigError';
}

export interface ConsoleUser {
  name: string;
  token: string;
}

/**
 * A users file: one `NAME TOKEN` per line (# comments, blank lines), tokens of 16+ characters.
 * It holds secrets: the console refuses a file other users can read.
 */
export function readUsersFile(file: string, mode?: number): ConsoleUser[] {
  if (mode !== undefined && (mode & 0o077) !== 0)
    throw new ConsoleConfigError(`${file}: other users can read it (mode ${(mode & 0o777).toString(8)}); chmod 600 ${file}`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConsoleConfigError(`${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const users: ConsoleUser[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const [name, token, ...rest] = line.split(/\s+/);
    if (!name || !token || rest.length) throw new ConsoleConfigError(`${file}:${i + 1}: expected "NAME TOKEN"`);
    if (!USER_RE.test(name)) throw new ConsoleConfigError(`${file}:${i + 1}: user name must match ${USER_RE.source}`);
    if (token.length < MIN_TOKEN) throw new ConsoleConfigError(`${file}:${i + 1}: the token of ${name} is shorter than ${MIN_TOKEN} characters`);
    if (users.some((u) => u.name === name)) throw new ConsoleConfigError(`${file}:${i + 1}: user ${name} is listed twice`);
    users.push({ name, token });
  });
  if (!users.length) throw new ConsoleConfigError(`${file}: no users in it (one "NAME TOKEN" per line)`);
  return users;
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** The Host header values and origins the console answers to. */
export class Gate {
  readonly hosts = new Set<string>();
  readonly origins = new Set<string>();
  constructor(o: { scheme: 'http' | 'https'; host: string; port: number; allowedOrigins?: string[] }) {
    // a wildcard bind (0.0.0.0, ::) answers only to the origins named (--allow-origin)
    const wildcard = o.host === '0.0.0.0' || o.host === '::';
    const own = o.host.includes(':') && !o.host.startsWith('[') ? `[${o.host}]` : o.host;
    const names = wildcard ? [] : isLoopbackHost(o.host) ? ['127.0.0.1', 'localhost', '[::1]', own] : [own];
    for (const n of names) {
      this.hosts.add(`${n}:${o.port}`.toLowerCase());
      this.origins.add(`${o.scheme}://${n}:${o.port}`.toLowerCase());
    }
    for (const raw of o.allowedOrigins ?? []) {
      const u = new URL(raw); // checked by the caller
      this.origins.add(u.origin.toLowerCase());
      this.hosts.add(u.host.toLowerCase());
    }
  }
  /** Why this request is refused (its Host or Origin is not the console's), or undefined. */
  refuse(req: IncomingMessage): string | undefined {
    const host = (req.headers.host ?? '').toLowerCase();
    if (!this.hosts.has(host)) return `Host ${JSON.stringify(host.slice(0, 100))} is not this console's (allow it with --allow-origin)`;
    const origin = req.headers.origin;
    if (origin !== undefined && !this.origins.has(origin.toLowerCase()))
      return `Origin ${JSON.stringify(origin.slice(0, 100))} is not this console's (allow it with --allow-origin)`;
    if (req.method !== 'GET' && req.method !== 'HEAD' && origin === undefined) return 'a request that changes something must carry an Origin header';
    return undefined;
  }
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Checks tokens; keeps the sessions (in memory: a restart logs everyone out). */
export class Sessions {
  #users: Map<string, Buffer>;
  #sessions = new Map<string, { user: string; expires: number }>();
  #failures: number[] = [];
  constructor(users: ConsoleUser[] | undefined) {
    this.#users = new Map((users ?? []).map((u) => [u.name, digest(u.token)]));
  }
  get required(): boolean {
    return this.#users.size > 0;
  }
  /** A new session id for this user and token, or undefined (wrong, or too many failures lately). */
  login(user: unknown, token: unknown, now = Date.now()): { id: string; user: string } | 'throttled' | undefined {
    this.#failures = this.#failures.filter((t) => now - t < 60_000);
    if (this.#failures.length >= 10) return 'throttled';
    const want = typeof user === 'string' ? this.#users.get(user) : undefined;
    const got = digest(typeof token === 'string' ? token : '');
    // compare against something even for an unknown user: the time does not tell which names exist
    const ok = timingSafeEqual(want ?? digest(randomBytes(16).toString('hex')), got) && want !== undefined;
    if (!ok) {
      this.#failures.push(now);
      return undefined;
    }
    const id = randomBytes(32).toString('base64url');
    this.#sessions.set(id, { user: user as string, expires: now + SESSION_TTL_MS });
    return { id, user: user as string };
  }
  /** The logged-in user of this request, or undefined. */
  user(req: IncomingMessage, now = Date.now()): string | undefined {
    const id = cookie(req, SESSION_COOKIE);
    if (!id) return undefined;
    const s = this.#sessions.get(id);
    if (!s) return undefined;
    if (s.expires <= now) {
      this.#sessions.delete(id);
      return undefined;
    }
    return s.user;
  }
  logout(req: IncomingMessage): void {
    const id = cookie(req, SESSION_COOKIE);
    if (id) this.#sessions.delete(id);
  }
}

export function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

export function sessionCookie(id: string, secure: boolean, maxAgeS = SESSION_TTL_MS / 1000): string {
  return `${SESSION_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAgeS}${secure ? '; Secure' : ''}`;
}
