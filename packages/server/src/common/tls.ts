// TLS and JetStream encryption at rest for the bus (issue 8).
//
// TLS: nats-server gets a `tls {}` block (clients) and `cluster { tls {} }` (routes) from
// common/natsconfig.ts; clients trust the CA with nats.js `tls: { caFile }`. For development,
// `makeDevCertificates` makes a throwaway CA and a server certificate for the loopback names
// with the system `openssl` binary (no npm dependency). The CA key is deleted once the server
// certificate is signed: the throwaway CA can sign nothing else.
//
// Encryption at rest: nats-server's own `jetstream { cipher: chachapoly, key: $VAR }`. The key
// lives only in nats-server's environment; the config file names the variable, never the key.
import { spawnSync } from 'node:child_process';
import { randomBytes, X509Certificate, createPrivateKey } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';

export class TlsSetupError extends Error {
  override name = 'TlsSetupError';
}

export interface DevCertificates {
  /** The throwaway CA certificate: what clients trust. */
  caFile: string;
  /** The server certificate (clients and cluster routes), signed by the CA. */
  certFile: string;
  /** Its private key (mode 0600). */
  keyFile: string;
}

/** Names every dev server certificate carries: the loopback addresses and localhost. */
export const DEV_CERT_NAMES = ['127.0.0.1', '::1', 'localhost'];
const CA_FILE = 'ca.pem';
const CERT_FILE = 'server.pem';
const KEY_FILE = 'server-key.pem';
/** Regenerate a certificate that expires within this. */
const RENEW_BEFORE_MS = 7 * 24 * 3600 * 1000;

/** The `openssl` binary: present, or a one-line error saying how to get it. */
export function checkOpenssl(bin = 'openssl'): void {
  const r = spawnSync(bin, ['version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new TlsSetupError(
      'openssl not found on PATH (needed to make the dev TLS certificates); install it (Debian/Ubuntu: sudo apt-get install -y openssl) or pass your own --tls-cert/--tls-key/--tls-ca',
    );
  }
}

function openssl(args: string[], cwd: string): string {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new TlsSetupError(`openssl ${args[0]} failed: ${(r.stderr || r.error?.message || '').trim().split('\n')[0]}`);
  return r.stdout;
}

/** Why the files in `dir` are not a usable dev certificate set for `names`, or undefined if they are. */
export function devCertificateProblem(files: DevCertificates, names: string[] = DEV_CERT_NAMES, now = Date.now()): string | undefined {
  for (const f of [files.caFile, files.certFile, files.keyFile]) if (!existsSync(f)) return `${f} missing`;
  try {
    const ca = new X509Certificate(readFileSync(files.caFile));
    const cert = new X509Certificate(readFileSync(files.certFile));
    const key = createPrivateKey(readFileSync(files.keyFile));
    if (!ca.ca) return 'the CA certificate is not a CA';
    if (!cert.verify(ca.publicKey) || cert.checkIssued(ca) === false) return 'the server certificate is not signed by the CA';
    if (!cert.checkPrivateKey(key)) return 'the key does not match the server certificate';
    for (const c of [ca, cert]) {
      if (Date.parse(c.validFrom) > now) return 'a certificate is not valid yet';
      if (Date.parse(c.validTo) - RENEW_BEFORE_MS < now) return 'a certificate expires soon';
    }
    for (const n of names) {
      const ok = isIP(n) ? cert.checkIP(n) !== undefined : cert.checkHost(n) !== undefined;
      if (!ok) return `the server certificate does not name ${n}`;
    }
  } catch (e) {
    return `unreadable: ${(e as Error).message}`;
  }
  return undefined;
}

/**
 * A throwaway local CA and a server certificate (SAN: 127.0.0.1, ::1, localhost and `hosts`)
 * in `dir` (mode 0700; keys 0600), made with openssl. Idempotent: valid existing files are
 * reused; anything missing, mismatched or near expiry makes a fresh set (a new CA too).
 */
export function makeDevCertificates(dir: string, o: { hosts?: string[] } = {}): DevCertificates {
  const d = resolve(dir);
  const files: DevCertificates = { caFile: join(d, CA_FILE), certFile: join(d, CERT_FILE), keyFile: join(d, KEY_FILE) };
  const names = [...new Set([...DEV_CERT_NAMES, ...(o.hosts ?? []).filter((h) => h && h !== '0.0.0.0' && h !== '::')])];
  for (const n of names) if (!/^[A-Za-z0-9.:*-]+$/.test(n)) throw new TlsSetupError(`cannot put ${JSON.stringify(n)} in a certificate`);
  if (!devCertificateProblem(files, names)) {
    chmodSync(files.keyFile, 0o600);
    return files;
  }
  checkOpenssl();
  mkdirSync(d, { recursive: true, mode: 0o700 });
  chmodSync(d, 0o700);
  // build in a private temp dir next to the files, then move into place
  const tmp = join(d, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp, { mode: 0o700 });
  try {
    const tag = randomBytes(4).toString('hex');
    const san = names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
    // our own config: independent of the system openssl.cnf defaults
    writeFileSync(
      join(tmp, 'openssl.cnf'),
      [
        '[req]',
        'distinguished_name = dn',
        'prompt = no',
        '[dn]',
        `CN = agentbus dev CA ${tag}`,
        '[v3_ca]',
        'basicConstraints = critical,CA:TRUE,pathlen:0',
        'keyUsage = critical,keyCertSign,cRLSign',
        'subjectKeyIdentifier = hash',
        // serverAuth and clientAuth: nats-server presents the same certificate on both ends of a route
        '[v3_server]',
        'basicConstraints = critical,CA:FALSE',
        'keyUsage = critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage = serverAuth,clientAuth',
        `subjectAltName = ${san}`,
        'subjectKeyIdentifier = hash',
        'authorityKeyIdentifier = keyid',
        '',
      ].join('\n'),
    );
    const key = (name: string) =>
      writeFileSync(join(tmp, name), openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], tmp), { mode: 0o600 });
    key('ca-key.pem');
    openssl(['req', '-x509', '-new', '-config', 'openssl.cnf', '-extensions', 'v3_ca', '-key', 'ca-key.pem', '-sha256', '-days', '3650', '-out', CA_FILE], tmp);
    key(KEY_FILE);
    openssl(['req', '-new', '-config', 'openssl.cnf', '-key', KEY_FILE, '-subj', '/CN=localhost', '-out', 'server.csr'], tmp);
    const serial = `0x${(randomBytes(16)[0]! & 0x7f).toString(16).padStart(2, '0')}${randomBytes(15).toString('hex')}`;
    openssl(
      [
        'x509',
        '-req',
        '-in',
        'server.csr',
        '-CA',
        CA_FILE,
        '-CAkey',
        'ca-key.pem',
        '-set_serial',
        serial,
        '-sha256',
        '-days',
        '825',
        '-extfile',
        'openssl.cnf',
        '-extensions',
        'v3_server',
        '-out',
        CERT_FILE,
      ],
      tmp,
    );
    const made = { caFile: join(tmp, CA_FILE), certFile: join(tmp, CERT_FILE), keyFile: join(tmp, KEY_FILE) };
    const problem = devCertificateProblem(made, names);
    if (problem) throw new TlsSetupError(`openssl made an unusable certificate: ${problem}`);
    chmodSync(made.keyFile, 0o600);
    renameSync(made.keyFile, files.keyFile);
    renameSync(made.certFile, files.certFile);
    renameSync(made.caFile, files.caFile);
  } finally {
    rmSync(tmp, { recursive: true, force: true }); // the CA key goes with it
  }
  return files;
}

/** nats.js connection options that trust `caFile` (and present a client certificate if given). */
export function natsTlsOptions(t: { caFile?: string; certFile?: string; keyFile?: string }): { tls: { caFile?: string; certFile?: string; keyFile?: string } } {
  return { tls: { ...(t.caFile ? { caFile: t.caFile } : {}), ...(t.certFile ? { certFile: t.certFile } : {}), ...(t.keyFile ? { keyFile: t.keyFile } : {}) } };
}

// ---------------------------------------------------------------------------------------------
// JetStream encryption at rest

export const DEFAULT_JS_KEY_ENV = 'AGENTBUS_JS_KEY';
/** Marker in a store directory encrypted with a generated key (no key material): unreadable once that process ends. */
export const GENERATED_KEY_MARKER = 'agentbus-generated-key';

export function checkKeyEnvName(name: string): void {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new TlsSetupError(`--js-key-env ${JSON.stringify(name)} is not an environment variable name`);
}

/**
 * nats-server parses the value of a `$VAR` reference as config text: a number, a boolean or a
 * value with spaces is refused, and `#` or `;` silently cut the key short. So a store key is
 * 32+ letters and digits, starting with a letter.
 */
export function checkStoreKey(name: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new TlsSetupError(`$${name} is not set (the JetStream encryption key)`);
  if (!/^[A-Za-z][A-Za-z0-9]{31,}$/.test(value))
    throw new TlsSetupError(`$${name} must be 32 or more letters and digits, starting with a letter (nats-server reads the value as config text)`);
  return value;
}

/** A fresh store key: "k" + 64 hex digits (256 bits). */
export function generateStoreKey(): string {
  return `k${randomBytes(32).toString('hex')}`;
}

/**
 * Run `fn` with `vars` added to process.env, restored as soon as `fn` returns (synchronously):
 * a child process spawned synchronously inside `fn` — spawnNatsServer spawns before its first
 * await — gets them in its environment, and this process's environment is left as it was.
 */
export function withEnv<T>(vars: Record<string, string>, fn: () => T): T {
  const saved = new Map<string, string | undefined>();
  for (const [k, v] of Object.entries(vars)) {
    saved.set(k, process.env[k]);
    process.env[k] = v;
  }
  try {
    return fn();
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
