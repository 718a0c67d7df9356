// Credentials in text (docs/design.md §12). Three layers, in this order of precedence for overlapping
// matches in one string:
//  1. secretlint's recommended preset (@secretlint/secretlint-rule-preset-recommend): its
//     scanner rules, created once with a minimal synchronous context and run on each string.
//     The filter rule (secretlint-disable comments) is never loaded: text an agent writes does
//     not get to switch the scanner off.
//  2. agentbus rules for families the preset misses or matches too narrowly for a bus (AWS key
//     ids including AWS's documented example, Stripe, Google API keys, JWTs, PGP and other PEM
//     private keys, Authorization headers, DB URLs with a password, npm and Azure secrets, …).
//  3. `key = value` assignments in text whose key is secret-like (`password`, `api_key`, …),
//     and (scan.ts) JSON members and metadata entries with such keys: the value must look like
//     a secret (length, no spaces, not a placeholder or reference, Shannon entropy).
// A match is only ever a range: findings carry the rule id and a hash, never the text.
import { rules as presetRules } from '@secretlint/secretlint-rule-preset-recommend';
import { needleGate } from './needles.js';
import { candidateTable, surrogateCandidate } from './unicode.js';

export interface CredentialMatch {
  rule: string;
  start: number;
  end: number;
  /** What it is, for the finding's detail (never the secret). */
  what: string;
}

// ---------------------------------------------------------------------------------- secretlint

interface SecretlintReport {
  message?: unknown;
  range?: readonly number[];
}
interface SecretlintRuleCreator {
  meta?: { id?: string; type?: string };
  create(context: unknown, options: unknown): { file?: (source: unknown) => unknown } | void;
}

let sink: CredentialMatch[] | undefined;
const handlers: { id: string; file: (source: unknown) => unknown; needle: RegExp | undefined; also: string | undefined }[] = [];
const SKIPPED_RULES = new Set(['@secretlint/secretlint-rule-filter-comments']);

/**
 * For speed: a literal each rule's patterns cannot match without (read from the pinned
 * version's source), tested before the rule runs. A rule not listed here always runs; the
 * GCP rule only reads .json/.p12 files by name, so it never runs on a string. test/guard.test.ts
 * checks that the needles change no result on the corpora.
 */
const SECRETLINT_NEEDLES: Record<string, RegExp | null> = {
  aws: /secret_?access_?key/i,
  gcp: null,
  npm: /x-oauth-basic|npm_/,
  slack: /xox|xapp|hooks\.slack/i,
  basicauth: /:\/\//,
  openai: /sk-/,
  anthropic: /sk-ant-/,
  groq: /gsk_/,
  huggingface: /hf_/,
  linear: /lin_api_/,
  notion: /ntn_/,
  privatekey: /PRIVATE KEY/,
  sendgrid: /SG\./,
  shopify: /shp(?:pa|ca|at|ss)_/,
  github: /gh[pousr]_|github_pat_/,
  gitlab: /glpat-/,
  grafana: /gl(?:c|sa)_/,
  '1password': /ops_/,
  'database-connection-string': /mongodb|mysql|postgres/i,
  'hashicorp-vault': /hv[sbr]\./,
  vercel: /v(?:cp|ci|ca|cr|ck)_/,
  databricks: /dapi/,
  docker: /dckr_pat_/,
  figma: /figd_/,
};
/**
 * A second literal a rule's patterns cannot match without, checked (String.includes) after the
 * needle: a URL's credentials end with "@" (the basicauth rule's URL_PATTERN).
 */
const SECRETLINT_ALSO: Record<string, string> = { basicauth: '@' };
let useNeedles = true;
/** Tests only: run every rule on every string, no prefilter (to check that the prefilters lose nothing). */
export function setCredentialPrefilters(on: boolean): void {
  useNeedles = on;
}

for (const creator of presetRules as unknown as SecretlintRuleCreator[]) {
  const id = creator.meta?.id;
  if (!id || creator.meta?.type !== 'scanner' || SKIPPED_RULES.has(id)) continue;
  const short = id.replace('@secretlint/secretlint-rule-', '');
  const context = {
    // The translator returns the message id only: the rule's message would embed the secret.
    createTranslator: () => (messageId: string) => messageId,
    report(d: SecretlintReport) {
      const r = d.range;
      if (!sink || !r || typeof r[0] !== 'number' || typeof r[1] !== 'number') return;
      const messageId = typeof d.message === 'string' ? d.message : 'match';
      sink.push({ rule: `secretlint:${short}/${messageId}`, start: r[0], end: r[1], what: `${messageId} (secretlint ${short})` });
    },
    ignore() {},
    sharedOptions: {},
  };
  const h = creator.create(context, {});
  const needle = SECRETLINT_NEEDLES[short];
  if (h && typeof h.file === 'function' && needle !== null) handlers.push({ id, file: h.file.bind(h), needle, also: SECRETLINT_ALSO[short] });
}

/** The secretlint rules in use (ids), for docs and tests. */
export const SECRETLINT_RULES: readonly string[] = handlers.map((h) => h.id);

function runSecretlint(s: string, out: CredentialMatch[], cand?: Uint8Array): void {
  const source = { content: s, filePath: undefined, ext: '', contentType: 'text' };
  sink = out;
  try {
    for (let i = 0; i < handlers.length; i++) {
      const h = handlers[i]!;
      // the gate's candidates say which needles may match (a superset: case-folded, literals
      // only); a flagged one is confirmed by the needle's own test before the rule runs
      if (useNeedles && h.needle && ((cand !== undefined && !cand[HANDLER_GATE[i]!]) || !h.needle.test(s))) continue;
      if (useNeedles && h.also !== undefined && !s.includes(h.also)) continue;
      try {
        const r = h.file(source);
        // a rule that answers asynchronously (the GCP rule does, for .p12 files only) is not used
        if (r && typeof (r as Promise<unknown>).then === 'function') (r as Promise<unknown>).catch(() => {});
      } catch {
        /* a rule that throws on odd input finds nothing there */
      }
    }
  } finally {
    sink = undefined;
  }
}

// ---------------------------------------------------------------------------- value heuristics

/** Shannon entropy of a string, bits per UTF-16 unit. */
export function shannonEntropy(s: string): number {
  if (!s.length) return 0;
  const counts = new Map<number, number>();
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

function charClasses(s: string): number {
  let lower = 0,
    upper = 0,
    digit = 0,
    other = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 97 && c <= 122) lower = 1;
    else if (c >= 65 && c <= 90) upper = 1;
    else if (c >= 48 && c <= 57) digit = 1;
    else other = 1;
  }
  return lower + upper + digit + other;
}

/** Random-looking: long enough, letters and digits mixed, high entropy. */
export function tokenish(v: string, minLength = 16, minEntropy = 3.0): boolean {
  return v.length >= minLength && /[0-9]/.test(v) && /[A-Za-z]/.test(v) && charClasses(v) >= 2 && shannonEntropy(v) >= minEntropy;
}

const PLACEHOLDER_RE =
  /^(?:x+|\*+|•+|\.+|-+|_+|#+|0+|redacted|\[redacted\]|<redacted>|hidden|masked|none|null|nil|undefined|true|false|yes|no|on|off|changeme|change_me|placeholder|example|sample|dummy|secret|password|passwd|token|apikey|api_key|your[_-]?[a-z_-]*|my[_-]?(?:password|secret|token|key)|string|str|text|value|required|optional|todo|tbd|env|default|empty|n\/a)$/i;
/** Templates, masks and references to where a secret lives, rather than a secret. */
export function isPlaceholder(v: string): boolean {
  if (PLACEHOLDER_RE.test(v)) return true;
  if (/\$\{|\{\{|\$\(|%\(|<%|\*\*\*|xxxx|XXXX|\.\.\.|…/.test(v)) return true;
  if (/^<[^>]*>$|^\[[^\]]*\]$|^%[A-Za-z_]+%$|^\$[A-Za-z_][A-Za-z0-9_]*$|^:[a-z_]+$/.test(v)) return true;
  if (/^(?:env|vault|secret|secrets|op|aws-sm|gcp-sm|azure-kv|ssm|keychain|file|ref):/i.test(v)) return true;
  if (/^arn:aws:(?:secretsmanager|ssm|kms):/.test(v)) return true;
  return false;
}

/** Secret-like keys: `password`-ish ones hold short secrets, the others long random ones. */
export type SecretKeyClass = 'password' | 'secret' | 'authorization';

const PASSWORD_WORDS = new Set(['password', 'passwd', 'passwort', 'pwd', 'passphrase', 'pass', 'pw', 'pswd', 'pword']);
const SECRET_WORDS = new Set([
  'secret',
  'secrets',
  'token',
  'apikey',
  'apitoken',
  'accesstoken',
  'refreshtoken',
  'authtoken',
  'idtoken',
  'bearertoken',
  'sessiontoken',
  'credential',
  'credentials',
  'creds',
  'jwt',
  'privatekey',
  'secretkey',
  'accesskey',
  'clientsecret',
  'apisecret',
  'passkey',
  'webhooksecret',
  'signingkey',
  'encryptionkey',
  'masterkey',
]);
const KEY_QUALIFIERS = new Set([
  'api',
  'access',
  'secret',
  'private',
  'signing',
  'encryption',
  'master',
  'auth',
  'account',
  'app',
  'consumer',
  'subscription',
  'service',
  'session',
  'shared',
  'client',
  'license',
  'admin',
  'root',
  'deploy',
  'ssh',
  'gpg',
  'pgp',
  'hmac',
  'jwt',
  'storage',
  'write',
  'read',
]);
const TOKEN_NOT_SECRET = new Set([
  'page',
  'next',
  'prev',
  'previous',
  'continuation',
  'sync',
  'resume',
  'cancel',
  'cancellation',
  'pagination',
  'cursor',
  'continue',
  'start',
  'end',
  'max',
  'min',
  'num',
  'count',
  'stop',
  'eos',
  'bos',
  'pad',
  'unk',
  'special',
  'first',
  'last',
  'input',
  'output',
  'completion',
  'prompt',
  'total',
]);
const AUTH_WORDS = new Set(['authorization', 'auth', 'proxyauthorization']);

function keyWords(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/** Is this key (JSON member, metadata key, `KEY=` in text) one a secret is stored under? */
const keyClassCache = new Map<string, SecretKeyClass | undefined>();
export function secretKeyClass(key: string): SecretKeyClass | undefined {
  if (key.length > 128) return undefined;
  if (keyClassCache.has(key)) return keyClassCache.get(key);
  const c = classifyKey(key);
  if (keyClassCache.size < 10_000) keyClassCache.set(key, c);
  return c;
}

function classifyKey(key: string): SecretKeyClass | undefined {
  const w = keyWords(key);
  const last = w[w.length - 1];
  if (!last) return undefined;
  const prev = w[w.length - 2];
  const joined = w.join('');
  if (PASSWORD_WORDS.has(last) || /(?:password|passwd|passphrase)$/.test(joined)) return 'password';
  if (AUTH_WORDS.has(last) && (w.length === 1 || prev === 'proxy' || prev === 'x' || prev === 'http' || prev === 'basic')) return 'authorization';
  if (last === 'token' || last === 'tokens') {
    if (last === 'tokens') return undefined;
    if (prev && TOKEN_NOT_SECRET.has(prev)) return undefined;
    return 'secret';
  }
  if (last === 'key' || last === 'keys') return prev && KEY_QUALIFIERS.has(prev) && last === 'key' ? 'secret' : undefined;
  if (SECRET_WORDS.has(last)) return 'secret';
  if (/(?:apikey|secretkey|privatekey|accesskey|accesstoken|refreshtoken|authtoken|apitoken|clientsecret)$/.test(joined)) return 'secret';
  return undefined;
}

const IDENT_CHAIN = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$/;

/**
 * Does `v`, stored under a key of class `c`, look like a secret? `inText`: it came from a
 * `key = value` in free text (code, config, prose), so words and code references are not.
 */
export function looksLikeSecretValue(v: string, c: SecretKeyClass, inText: boolean): boolean {
  if (c === 'authorization') {
    const m = /^([A-Za-z][A-Za-z0-9-]*)\s+(\S+)$/.exec(v);
    if (m) v = m[2]!;
  }
  if (v.length > 4096 || /\s/.test(v) || isPlaceholder(v)) return false;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) return false; // a URL; URLs with passwords have their own rule
  // in text: code (calls, indexing, member chains) and identifiers (env var names) are not secrets
  if (inText && (IDENT_CHAIN.test(v) || /[()[\]{}]/.test(v) || (/^[A-Za-z_][A-Za-z0-9_]*$/.test(v) && !/[0-9]/.test(v)))) return false;
  if (c === 'password') {
    if (v.length < 6) return false;
    return shannonEntropy(v) >= 2.0;
  }
  if (c === 'authorization') return tokenish(v, 12, 3.0);
  return tokenish(v, inText ? 16 : 12, 3.0);
}

// ------------------------------------------------------------------------------ agentbus rules

interface OwnRule {
  id: string;
  what: string;
  re: RegExp;
  /** The capture group holding the secret (default: the whole match). */
  group?: number;
  /** Further check on the match (the secret, or the whole match without `group`). */
  check?: (secret: string, m: RegExpExecArray, s: string) => boolean;
  /** Quick test before running the regex. */
  needle?: RegExp;
  /** A second literal no match can be without (String.includes, after the needle). */
  also?: string;
  /** Run the regex only in windows around each occurrence of this string (`before`/`after` characters). */
  around?: string;
  before?: number;
  after?: number;
  /** A sticky regex that must match right after the anchor for its window to be scanned. */
  gate?: RegExp;
}

function b64decode(s: string): string | undefined {
  try {
    return atob(s.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, ''));
  } catch {
    return undefined;
  }
}

/** A PEM private-key header followed by a base64 body (not a placeholder). */
function pemBody(s: string, end: number): boolean {
  const tail = s.slice(end, end + 8192).replace(/\\[nr]/g, '\n');
  const lines = tail.split('\n');
  let body = '';
  for (const line of lines) {
    const l = line.trim();
    if (!l) continue;
    if (/^[A-Za-z][A-Za-z0-9-]*:\s/.test(l)) continue; // armor headers (Proc-Type:, Version:, Comment:)
    if (l.startsWith('-----END')) break;
    const m = /^[A-Za-z0-9+/=]+/.exec(l);
    if (!m) break;
    body += m[0];
    if (m[0].length !== l.length || body.length >= 512) break;
  }
  return body.length >= 24 && shannonEntropy(body) >= 3.0;
}

const DB_PLACEHOLDER = /^(?:\$\{[^}]*\}|\{\{[^}]*\}\}|<[^>]*>|%s|\*+|x+|:?[A-Z_]+:?|\[[^\]]*\])$/;
const HTTP_PLACEHOLDER = /^(?:pass(?:word)?|passwd|pwd|pw|secret|token|changeme|example|x+|\*+|<[^>]*>|\$\{[^}]*\}|\{\{[^}]*\}\}|%s|:?[A-Z_]+)$/i;

const OWN_RULES: OwnRule[] = [
  {
    id: 'agentbus:aws-access-key-id',
    what: 'AWS access key id',
    re: /(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}(?![A-Za-z0-9])/g,
    needle: /A(?:KIA|SIA|BIA|CCA|3T)/,
  },
  {
    id: 'agentbus:aws-secret-access-key',
    what: 'AWS secret access key',
    re: /aws_?secret_?(?:access_?)?key["']?\s{0,4}(?:[:=]|=>)\s{0,4}["']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])/gi,
    group: 1,
    needle: /secret/i,
  },
  {
    id: 'agentbus:github-token',
    what: 'GitHub token',
    re: /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,251}|github_pat_[A-Za-z0-9_]{40,255})(?![A-Za-z0-9_])/g,
    needle: /gh[pousr]_|github_pat_/,
  },
  {
    id: 'agentbus:slack-token',
    what: 'Slack token',
    re: /(?<![A-Za-z0-9-])xox[abeoprs]-(?:[0-9]+-)?[A-Za-z0-9-]{10,250}(?![A-Za-z0-9-])/g,
    needle: /xox/,
    check: (t) => /\d/.test(t),
  },
  {
    id: 'agentbus:slack-webhook',
    what: 'Slack webhook URL',
    re: /https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9+/_-]{20,}/g,
    needle: /hooks\.slack\.com/,
  },
  {
    id: 'agentbus:stripe-key',
    what: 'Stripe secret key',
    re: /(?<![A-Za-z0-9_])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,247}(?![A-Za-z0-9_])/g,
    needle: /k_(?:live|test)_/,
  },
  { id: 'agentbus:stripe-webhook-secret', what: 'Stripe webhook secret', re: /(?<![A-Za-z0-9_])whsec_[A-Za-z0-9]{24,}(?![A-Za-z0-9_])/g, needle: /whsec_/ },
  { id: 'agentbus:google-api-key', what: 'Google API key', re: /(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{30,40}(?![A-Za-z0-9_-])/g, needle: /AIza/ },
  {
    id: 'agentbus:google-oauth',
    what: 'Google OAuth client secret or token',
    re: /(?<![A-Za-z0-9_-])(?:GOCSPX-[A-Za-z0-9_-]{28}|ya29\.[0-9A-Za-z_-]{20,})(?![A-Za-z0-9_-])/g,
    needle: /GOCSPX-|ya29\./,
  },
  {
    id: 'agentbus:anthropic-key',
    what: 'Anthropic API key',
    re: /(?<![A-Za-z0-9_-])sk-ant-(?:api|admin|oat|sid)\d{2}-[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_-])/g,
    needle: /sk-ant-/,
  },
  {
    id: 'agentbus:openai-key',
    what: 'OpenAI-style API key (sk-…)',
    re: /(?<![A-Za-z0-9_-])sk-(proj-|svcacct-|admin-|None-)?([A-Za-z0-9_-]{20,})(?![A-Za-z0-9_-])/g,
    needle: /sk-/,
    // the project/service-account/admin prefixes are distinctive; a bare sk- needs a random-looking body
    check: (t, m) => !t.startsWith('sk-ant-') && (m[1] ? tokenish(m[2]!, 20, 3.0) : tokenish(m[2]!, 20, 3.5) && /[A-Z]/.test(m[2]!) && /[a-z]/.test(m[2]!)),
  },
  { id: 'agentbus:xai-key', what: 'xAI API key', re: /(?<![A-Za-z0-9_-])xai-[A-Za-z0-9]{60,100}(?![A-Za-z0-9_-])/g, needle: /xai-/ },
  {
    id: 'agentbus:huggingface-token',
    what: 'Hugging Face token',
    re: /(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,40}(?![A-Za-z0-9_])/g,
    needle: /hf_/,
    check: (t) => tokenish(t.slice(3), 30, 3.5),
  },
  { id: 'agentbus:npm-token', what: 'npm access token', re: /(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{24,40}(?![A-Za-z0-9_])/g, needle: /npm_/ },
  {
    id: 'agentbus:npmrc-auth',
    what: 'npm registry credential (.npmrc)',
    re: /_(?:authToken|auth|password)\s*=\s*["']?([^\s"'$][^\s"']{7,})/g,
    group: 1,
    needle: /_(?:authToken|auth|password)\s*=/,
    check: (t) => !isPlaceholder(t),
  },
  { id: 'agentbus:pypi-token', what: 'PyPI token', re: /pypi-AgE[A-Za-z0-9_-]{50,}/g, needle: /pypi-AgE/ },
  {
    id: 'agentbus:gitlab-token',
    what: 'GitLab token',
    re: /(?<![A-Za-z0-9_-])gl(?:pat|dt|ptt|rt|cbt|oas|soat|ffct|agent)-[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_-])/g,
    needle: /gl[a-z]+-/,
  },
  { id: 'agentbus:digitalocean-token', what: 'DigitalOcean token', re: /(?<![A-Za-z0-9_])do[opr]_v1_[a-f0-9]{64}(?![A-Za-z0-9_])/g, needle: /_v1_/ },
  { id: 'agentbus:telegram-bot-token', what: 'Telegram bot token', re: /(?<![0-9])\d{8,10}:AA[0-9A-Za-z_-]{33}(?![A-Za-z0-9_-])/g, needle: /:AA/ },
  {
    id: 'agentbus:discord-webhook',
    what: 'Discord webhook URL',
    re: /https:\/\/(?:ptb\.|canary\.)?discord(?:app)?\.com\/api\/webhooks\/\d{5,30}\/[A-Za-z0-9_-]{30,}/g,
    needle: /discord/,
  },
  { id: 'agentbus:twilio-key', what: 'Twilio API key', re: /(?<![A-Za-z0-9])SK[0-9a-f]{32}(?![A-Za-z0-9])/g, needle: /SK[0-9a-f]/ },
  {
    id: 'agentbus:sendgrid-key',
    what: 'SendGrid API key',
    re: /(?<![A-Za-z0-9_])SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}(?![A-Za-z0-9_-])/g,
    needle: /SG\./,
  },
  { id: 'agentbus:mailgun-key', what: 'Mailgun API key', re: /(?<![A-Za-z0-9_-])key-[0-9a-f]{32}(?![A-Za-z0-9_-])/g, needle: /key-/ },
  { id: 'agentbus:age-secret-key', what: 'age secret key', re: /AGE-SECRET-KEY-1[0-9A-Z]{58}/g, needle: /AGE-SECRET/ },
  {
    id: 'agentbus:private-key',
    what: 'private key (PEM)',
    re: /-----BEGIN[ ]?((?:[A-Z0-9]+ ){0,3})PRIVATE KEY(?: BLOCK)?-----/g,
    needle: /-----BEGIN/,
    check: (_t, m, s) => pemBody(s, m.index + m[0].length),
  },
  {
    id: 'agentbus:putty-private-key',
    what: 'PuTTY private key',
    re: /PuTTY-User-Key-File-\d+:[^\n]{0,200}\n(?:[^\n]{0,200}\n){0,8}?Private-Lines:\s*\d+/g,
    needle: /PuTTY-User-Key-File/,
  },
  {
    id: 'agentbus:jwt',
    what: 'JSON Web Token',
    // header and claims both base64url JSON objects (`eyJ` is `{"`); the signature may be empty (alg none)
    re: /(?<![A-Za-z0-9_-])(eyJ[A-Za-z0-9_-]{10,})\.(eyJ[A-Za-z0-9_-]{4,})\.([A-Za-z0-9_-]*)(?![A-Za-z0-9_.-])/g,
    needle: /eyJ/,
  },
  {
    id: 'agentbus:url-password',
    what: 'URL with a password',
    re: /(?<![A-Za-z0-9+.-])((?:jdbc:)?[a-z][a-z0-9+.-]{1,24}):\/\/([^\s:@/?#"'<>]{0,128}):([^\s@/?#"'<>]{1,256})@[^\s/?#@"'<>]{1,256}/gi,
    needle: /:\/\//,
    also: '@',
    // matched only in windows around each "://" (the scheme is at most 30 characters before it):
    // the same matches, without trying the scheme at every position of a long text
    around: '://',
    before: 31,
    after: 3 + 129 + 257 + 257,
    gate: /[^\s:@/?#"'<>]{0,128}:[^\s@/?#"'<>]{1,256}@/y,
    check: (_t, m) => {
      const scheme = m[1]!.toLowerCase();
      let pw = m[3]!;
      try {
        pw = decodeURIComponent(pw);
      } catch {
        /* keep it as written */
      }
      if (DB_PLACEHOLDER.test(pw) || isPlaceholder(pw)) return false;
      if (/^(?:https?|wss?)$/.test(scheme)) return !HTTP_PLACEHOLDER.test(pw) && pw.length >= 4;
      return true;
    },
  },
  {
    id: 'agentbus:basic-auth',
    what: 'HTTP Basic credentials',
    re: /(?<![A-Za-z0-9])Basic\s+([A-Za-z0-9+/]{6,}={0,2})(?![A-Za-z0-9+/=])/g,
    group: 1,
    needle: /Basic\s/,
    check: (t) => {
      const d = b64decode(t);
      return !!d && /^[\x20-\x7E]*:[\x20-\x7E]+$/.test(d) && d.length >= 3 && !isPlaceholder(d.slice(d.indexOf(':') + 1));
    },
  },
  {
    id: 'agentbus:bearer-token',
    what: 'Bearer token',
    re: /(?<![A-Za-z0-9])Bearer\s+([A-Za-z0-9._~+/-]{12,}=*)(?![A-Za-z0-9._~+/=-])/gi,
    group: 1,
    needle: /bearer/i,
    check: (t) => !isPlaceholder(t) && tokenish(t, 12, 3.0),
  },
  {
    id: 'agentbus:authorization-header',
    what: 'Authorization header value',
    re: /(?<![A-Za-z0-9-])(?:Proxy-)?Authorization["']?\s{0,4}[:=]\s{0,4}["']?(?:(?!Bearer|Basic)[A-Za-z][A-Za-z0-9-]{1,30}\s+)?([A-Za-z0-9._~+/:-]{12,}=*)(?![A-Za-z0-9._~+/=-])/gi,
    group: 1,
    needle: /authorization/i,
    check: (t) => !isPlaceholder(t) && tokenish(t, 12, 3.0),
  },
  {
    id: 'agentbus:azure-storage-key',
    what: 'Azure storage or service bus key',
    re: /(?:AccountKey|SharedAccessKey)\s*=\s*([A-Za-z0-9+/]{30,}={0,2})/g,
    group: 1,
    needle: /(?:AccountKey|SharedAccessKey)\s*=/,
  },
  {
    id: 'agentbus:azure-sas-token',
    what: 'Azure SAS token',
    re: /[?&](?:sv=[^&\s]{4,20}&(?:[^&\s]{1,200}&){0,12}?)sig=([A-Za-z0-9%+/=]{20,})/g,
    group: 1,
    needle: /sig=/,
  },
  {
    id: 'agentbus:azure-client-secret',
    what: 'Azure AD client secret',
    re: /(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])/g,
    needle: /\dQ~/,
  },
  {
    id: 'agentbus:gcp-service-account',
    what: 'Google Cloud service account key (JSON)',
    re: /"type"\s*:\s*"service_account"/g,
    needle: /service_account/,
    check: (_t, _m, s) => /"private_key"\s*:\s*"-----BEGIN/.test(s),
  },
];

/** The agentbus rule ids, for docs and tests. */
export const AGENTBUS_CREDENTIAL_RULES: readonly string[] = OWN_RULES.map((r) => r.id).concat('agentbus:secret-assignment', 'agentbus:secret-field');

// rules with a group need the group's own offset: the `d` flag
for (const r of OWN_RULES) if (r.group) r.re = new RegExp(r.re.source, r.re.flags + 'd');

/** Windows [from, to) of `s` around each occurrence of `anchor`, merged when they overlap. */
function windowsAround(s: string, anchor: string, before: number, after: number, gate?: RegExp): [number, number][] {
  const out: [number, number][] = [];
  for (let i = s.indexOf(anchor); i >= 0; i = s.indexOf(anchor, i + 1)) {
    if (gate) {
      gate.lastIndex = i + anchor.length;
      if (!gate.test(s)) continue;
    }
    const from = Math.max(0, i - before);
    const to = Math.min(s.length, i + after);
    const last = out[out.length - 1];
    if (last && from <= last[1]) last[1] = Math.max(last[1], to);
    else out.push([from, to]);
  }
  return out;
}

function runOwnRules(s: string, out: CredentialMatch[], cand?: Uint8Array): void {
  for (let i = 0; i < OWN_RULES.length; i++) {
    const r = OWN_RULES[i]!;
    if (useNeedles && r.needle && ((cand !== undefined && !cand[OWN_GATE[i]!]) || !r.needle.test(s))) continue;
    if (useNeedles && r.also !== undefined && !s.includes(r.also)) continue;
    if (useNeedles && r.around) {
      for (const [from, to] of windowsAround(s, r.around, r.before ?? 0, r.after ?? 0, r.gate)) runRuleOn(r, s, from, to, out);
      continue;
    }
    r.re.lastIndex = 0;
    let m: RegExpExecArray | null;
    let n = 0;
    while ((m = r.re.exec(s)) && n < 64) {
      if (m[0].length === 0) {
        r.re.lastIndex++;
        continue;
      }
      const span = r.group ? m.indices?.[r.group] : undefined;
      const [start, end] = span ?? [m.index, m.index + m[0].length];
      if (r.check && !r.check(s.slice(start, end), m, s)) continue;
      out.push({ rule: r.id, start, end, what: r.what });
      n++;
    }
  }
}

/** One rule over s[from, to), offsets in `s` (a match at the window's very start counts only at the string's start: the character before it is unknown to the lookbehind). */
function runRuleOn(r: OwnRule, s: string, from: number, to: number, out: CredentialMatch[]): void {
  const w = s.slice(from, to);
  r.re.lastIndex = 0;
  let m: RegExpExecArray | null;
  let n = 0;
  while ((m = r.re.exec(w)) && n < 64) {
    if (m[0].length === 0) {
      r.re.lastIndex++;
      continue;
    }
    if (m.index === 0 && from > 0) continue;
    const span = r.group ? m.indices?.[r.group] : undefined;
    const [start, end] = span ? [span[0] + from, span[1] + from] : [m.index + from, m.index + from + m[0].length];
    if (r.check && !r.check(s.slice(start, end), m, s)) continue;
    if (out.some((o) => o.rule === r.id && o.start === start)) continue;
    out.push({ rule: r.id, start, end, what: r.what });
    n++;
  }
}

// `key = value`, `key: value`, `"key": "value"`, `--key=value`, `?key=value` in free text
const ASSIGN_NEEDLE = /pass|pwd|secret|token|key|auth|cred|jwt/i;
const ASSIGN_RE = /(?<![A-Za-z0-9_])([A-Za-z][A-Za-z0-9_.-]{0,62})(["']?)[ \t]{0,4}(?:=>|:=|=|:)[ \t]{0,4}/g;
const VALUE_STOP = /[\s"'`,;&)}\]<>]/;

const ASSIGN_NEEDLES = new RegExp(ASSIGN_NEEDLE.source, 'gi');
const ASSIGN_STICKY = new RegExp(ASSIGN_RE.source, 'y');
const KEY_CHAR = /[A-Za-z0-9_.-]/;

/**
 * The starts of the keys that could be secret-like: each needle occurrence, walked back to the
 * start of the word it is in. ASSIGN_RE is then tried only there (sticky), not at every position.
 */
function* assignmentStarts(s: string, needles?: readonly number[]): Generator<number> {
  if (!useNeedles) {
    ASSIGN_RE.lastIndex = 0;
    for (let m = ASSIGN_RE.exec(s); m; m = ASSIGN_RE.exec(s)) yield m.index;
    return;
  }
  let last = -1;
  ASSIGN_NEEDLES.lastIndex = 0;
  for (let j = 0; ; j++) {
    let at: number;
    if (needles) {
      if (j >= needles.length) return;
      at = needles[j]!;
    } else {
      const m = ASSIGN_NEEDLES.exec(s);
      if (!m) return;
      at = m.index;
    }
    let i = at;
    while (i > 0 && at - i < 63 && KEY_CHAR.test(s[i - 1]!)) i--;
    // the key starts with a letter: skip leading digits, dots, dashes, underscores
    while (i < at && !/[A-Za-z]/.test(s[i]!)) i++;
    if (i <= last) continue;
    last = i;
    yield i;
  }
}

/** ASSIGN_NEEDLE's words, lowercase (none is a suffix of another, and no two start alike). */
const ASSIGN_WORDS = ASSIGN_NEEDLE.source.split('|');

/**
 * Where ASSIGN_NEEDLES (/gi) matches in `s`, from the ends prescan's automaton saw: the word
 * that ends at each, then leftmost non-overlapping as the regex goes (test/guard.test.ts checks
 * both give the same starts).
 */
export function assignNeedleStarts(s: string, ends: readonly number[]): number[] {
  const out: number[] = [];
  let free = 0;
  for (const e of ends) {
    for (const w of ASSIGN_WORDS) {
      const at = e + 1 - w.length;
      if (at < free || at < 0) continue;
      let k = 0;
      while (k < w.length && (s.charCodeAt(at + k) | 0x20) === w.charCodeAt(k)) k++;
      if (k === w.length) {
        out.push(at);
        free = e + 1;
        break;
      }
    }
  }
  return out;
}

/** The same, from the regex (tests). */
export function assignNeedleStartsByRegex(s: string): number[] {
  const out: number[] = [];
  ASSIGN_NEEDLES.lastIndex = 0;
  for (let m = ASSIGN_NEEDLES.exec(s); m; m = ASSIGN_NEEDLES.exec(s)) out.push(m.index);
  return out;
}

function runAssignments(s: string, out: CredentialMatch[], cand?: Uint8Array, needles?: readonly number[]): void {
  if (useNeedles && (cand ? !cand[ASSIGN_GATE] : !ASSIGN_NEEDLE.test(s))) return;
  let n = 0;
  for (const at of assignmentStarts(s, needles)) {
    if (n >= 64) break;
    ASSIGN_STICKY.lastIndex = at;
    const m = ASSIGN_STICKY.exec(s);
    if (!m) continue;
    const c = secretKeyClass(m[1]!);
    if (!c) continue;
    const i = m.index + m[0].length;
    const q = s[i];
    let start: number, end: number;
    if (q === '"' || q === "'" || q === '`') {
      start = i + 1;
      end = s.indexOf(q, start);
      if (end < 0 || end - start > 512) continue;
      if (s.slice(start, end).includes('\n')) continue;
    } else {
      start = i;
      end = i;
      const limit = Math.min(s.length, i + 513);
      // authorization: "Bearer abc" — take the scheme word and the credential
      if (c === 'authorization') {
        const sm = /^[A-Za-z][A-Za-z0-9-]{0,30} (?=\S)/.exec(s.slice(i, i + 33));
        if (sm) end += sm[0].length;
      }
      while (end < limit && !VALUE_STOP.test(s[end]!)) end++;
      if (end - start > 512 || end === start) continue;
      // a trailing period ends the sentence, not the value
      while (end > start && /[.:!?]/.test(s[end - 1]!)) end--;
    }
    const v = s.slice(start, end);
    if (!looksLikeSecretValue(v, c, true)) continue;
    out.push({
      rule: 'agentbus:secret-assignment',
      start,
      end,
      what: `value of ${c === 'password' ? 'a password' : c === 'authorization' ? 'an authorization' : 'a secret'}-like key in text`,
    });
    n++;
  }
}

const TOKEN_CHAR = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+/=.~-') TOKEN_CHAR[c.charCodeAt(0)] = 1;
/** A run of at least n characters of [A-Za-z0-9_+/=.~-] (what tokens, keys and PEM lines are made of). */
export function hasTokenRun(s: string, n: number): boolean {
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 128 && TOKEN_CHAR[c] === 1) {
      if (++run >= n) return true;
    } else run = 0;
  }
  return false;
}

/**
 * Every rule's needle in one gate (case-insensitive, so a superset): most strings pass none.
 * An automaton over the needles' literal prefixes (guard/needles.ts), not one regex alternation
 * of them all: that cost ~20 ns a character, the verifier's largest cost at 64 KiB.
 */
const NEEDLE_SOURCES: string[] = [];
const gateIndex = (re: RegExp | undefined) => (re ? NEEDLE_SOURCES.push(re.source) - 1 : -1);
/** Each rule's index among the gate's sources (-1: it has no needle). */
const HANDLER_GATE = handlers.map((h) => gateIndex(h.needle));
const OWN_GATE = OWN_RULES.map((r) => gateIndex(r.needle));
const ASSIGN_GATE = gateIndex(ASSIGN_NEEDLE);
export const ANY_NEEDLE = new RegExp(NEEDLE_SOURCES.map((x) => `(?:${x})`).join('|'), 'i');
export const NEEDLE_GATE = needleGate(NEEDLE_SOURCES);
/** Per automaton state: 1 where one of ASSIGN_NEEDLE's words ends (undefined if the automaton does not hold them). */
const ASSIGN_STATE =
  NEEDLE_GATE.table.residualIdx.includes(ASSIGN_GATE) || !ASSIGN_WORDS.every((w) => /^[a-z]+$/.test(w))
    ? undefined
    : Uint8Array.from(NEEDLE_GATE.table.emitOf, (e) => (e.includes(ASSIGN_GATE) ? 1 : 0));

const NO_ENDS: readonly number[] = [];

/** What one pass over a string found (`prescan`), for findCredentials and scanUnicode. */
export interface PreScan {
  /** NEEDLE_GATE's candidates (its `candidates(s)`). */
  readonly cand: Uint8Array | undefined;
  /** A run of 10+ token characters (`hasTokenRun(s, 10)`). */
  readonly tokenRun: boolean;
  /** hasCandidate(s) (unicode.ts), when asked for; else undefined. */
  readonly unicode: boolean | undefined;
  /** Where the automaton saw one of ASSIGN_NEEDLE's words end (undefined when it cannot see them). */
  readonly assignEnds: readonly number[] | undefined;
}

/**
 * One pass over `s` instead of three (the guards' per-character floor, issue 30): the needle
 * automaton, the token-run gate and, when `unicode`, the invisible/control candidate table.
 * Each answer is the one its own function gives (test/guard.test.ts compares them).
 */
export function prescan(s: string, unicode: boolean): PreScan {
  const { deltaHit, emitOf, residualIdx, sources } = NEEDLE_GATE.table;
  let flags: Uint8Array | undefined;
  if (residualIdx.length && NEEDLE_GATE.residual!.test(s)) {
    flags = new Uint8Array(sources);
    for (const i of residualIdx) flags[i] = 1;
  }
  const unit = unicode ? candidateTable() : undefined;
  let uni = false;
  let assignEnds: number[] | undefined;
  let state = 0;
  let run = 0;
  let tokenRun = false;
  const n = s.length;
  for (let k = 0; k < n; k++) {
    const c = s.charCodeAt(k);
    if (c < 128) {
      let t = deltaHit[state * 128 + c]!;
      if (t < 0) {
        t = ~t;
        flags ??= new Uint8Array(sources);
        const e = emitOf[t]!;
        for (let j = 0; j < e.length; j++) flags[e[j]!] = 1;
        if (ASSIGN_STATE?.[t] === 1) (assignEnds ??= []).push(k);
      }
      state = t;
      if (TOKEN_CHAR[c] === 1) {
        if (++run >= 10) tokenRun = true;
      } else {
        run = 0;
        if (unit !== undefined && unit[c] === 1) uni = true;
      }
    } else {
      state = 0;
      run = 0;
      if (unit !== undefined && !uni) {
        const u = unit[c]!;
        if (u === 1) uni = true;
        else if (u === 2) {
          if (surrogateCandidate(s, k)) uni = true;
          else k++; // a pair that is no candidate: its low half is neither ASCII nor a candidate
        }
      }
    }
  }
  // (an array only when a word was seen: most strings have none)
  return { cand: flags, tokenRun, unicode: unit !== undefined ? uni : undefined, assignEnds: ASSIGN_STATE ? (assignEnds ?? NO_ENDS) : undefined };
}

/**
 * Credentials in one string: non-overlapping matches (secretlint first, then the agentbus
 * rules, then assignments), in order of position. At most `max`. `pre`: `prescan(s, …)`, when
 * the caller has it.
 */
export function findCredentials(s: string, max = 16, pre?: PreScan): CredentialMatch[] {
  if (s.length < 8) return [];
  const all: CredentialMatch[] = [];
  if (useNeedles) {
    // cheap gates first: every rule's match has a run of 10+ token characters or a URL's ://,
    // except a `key: value` assignment, which has a : or =
    const run = (pre ? pre.tokenRun : hasTokenRun(s, 10)) || s.includes('://');
    if (!run && !/[:=]/.test(s)) return all;
    const cand = pre ? pre.cand : NEEDLE_GATE.candidates(s);
    if (!cand) return all;
    if (run) {
      runSecretlint(s, all, cand);
      runOwnRules(s, all, cand);
    }
    runAssignments(s, all, cand, pre?.assignEnds ? assignNeedleStarts(s, pre.assignEnds) : undefined);
  } else {
    runSecretlint(s, all);
    runOwnRules(s, all);
    runAssignments(s, all);
  }
  if (!all.length) return all;
  const kept: CredentialMatch[] = [];
  for (const m of all) {
    if (m.end <= m.start) continue;
    if (kept.some((k) => m.start < k.end && k.start < m.end)) continue;
    kept.push(m);
    if (kept.length >= max) break;
  }
  return kept.sort((a, b) => a.start - b.start);
}
