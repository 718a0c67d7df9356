// URL arguments of tool calls (docs/design.md §11): scheme and host allowlists after normalization;
// userinfo, private, loopback, link-local and metadata addresses refused in every spelling.
//
// Normalization is the WHATWG URL parser's (Node's `URL`): for the special schemes it lowercases
// and IDNA-maps the host (fullwidth letters, circled letters, ideographic full stops, punycode),
// and parses every IPv4 spelling — decimal `2130706433`, hex `0x7f000001`, octal `0177.0.0.1`,
// short `127.1`, mixed `0x7f.0.0.1`, trailing dot — to a dotted quad, and IPv6 to its compressed
// form. test/tool-policy.test.ts pins that it does. What it does not do, done here:
//  - refuse raw strings another parser could read differently: control characters and spaces
//    (WHATWG silently strips tabs and newlines and trims), backslashes (WHATWG reads `\` as `/`
//    in special URLs, most other parsers do not: `https://good.com\@evil.com`), and any `@` in
//    the authority (WHATWG gives `http://@host` an empty username, i.e. none at all);
//  - classify IP literals, including IPv6 forms that embed an IPv4 address (mapped, SIIT,
//    NAT64, 6to4) — the embedded address decides — and refuse the deprecated IPv4-compatible
//    ::/96, Teredo and NAT64 local-use prefixes outright;
//  - refuse names that reach the local host or the cloud metadata service whatever they
//    resolve to (localhost, *.localhost, metadata.google.internal, instance-data, *.internal,
//    *.local, single-label names that a resolver search path would complete), a trailing dot
//    being the same name;
//  - match hosts against the allowlist (exact, or `*.suffix` on a label boundary; `*` is any
//    host that passed the checks above).
// A host name the verifier accepts may still resolve to a private address (DNS rebinding,
// nip.io): the tool host checks the addresses it connects to with `isPublicAddress`.
import ipaddr from 'ipaddr.js';

export const MAX_TOOL_URL_LENGTH = 8192;

/** Schemes whose host WHATWG parses (IDNA, IPv4 forms); the only ones a policy may allow. */
export const URL_POLICY_SCHEMES = ['http', 'https', 'ws', 'wss', 'ftp'] as const;
export type UrlPolicyScheme = (typeof URL_POLICY_SCHEMES)[number];

/** `detail` is a predicate about the URL ("contains userinfo"); callers put the argument's name before it. */
export type UrlCheck = { ok: true; url: string; host: string } | { ok: false; detail: string };

export interface CompiledUrlRule {
  schemes: ReadonlySet<string>;
  /** Exact hosts (lowercase, punycode, no trailing dot). */
  exact: ReadonlySet<string>;
  /** Suffixes from `*.suffix`, each with its leading dot: ".example.com". */
  suffixes: readonly string[];
  any: boolean;
  ports?: ReadonlySet<number>;
  /**
   * Loopback IP literals listed exactly in the hosts are allowed (`allow_loopback: true`, for
   * tests and local development only: A2A peers on this machine). Nothing else changes: names
   * such as localhost and every private, link-local or metadata address stay refused.
   */
  allowLoopback?: boolean;
}

// ---- IP classification (ipaddr.js does the parsing and the range tables)

const V4_PUBLIC = 'unicast';
/** ipaddr.js range names, as a detail says them. */
const RANGE_WORDS: Record<string, string> = {
  unspecified: 'an unspecified',
  broadcast: 'a broadcast',
  multicast: 'a multicast',
  linkLocal: 'a link-local',
  loopback: 'a loopback',
  carrierGradeNat: 'a carrier-grade NAT (100.64/10)',
  private: 'a private',
  reserved: 'a reserved',
  uniqueLocal: 'a unique-local (fc00::/7)',
  deprecatedSiteLocal: 'a site-local (fec0::/10)',
  benchmarking: 'a benchmarking',
  discard: 'a discard-only',
  amt: 'an AMT',
  as112: 'an AS112',
  as112v6: 'an AS112',
  orchid2: 'an ORCHIDv2',
  deprecatedOrchid: 'an ORCHID',
  droneRemoteIdProtocolEntityTags: 'a DRIP',
};
function rangeWords(r: string, ip: string): string {
  const w = RANGE_WORDS[r] ?? `a ${r}`;
  return ip === '169.254.169.254' ? `${w} (cloud metadata)` : w;
}

/** Why an IPv4 or IPv6 address (in any form ipaddr.js parses) must not be reached, or undefined if it is public unicast. */
export function addressProblem(addr: string): string | undefined {
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    ip = ipaddr.parse(addr);
  } catch {
    return 'is not an IP address';
  }
  return ip.kind() === 'ipv4' ? v4Problem(ip as ipaddr.IPv4) : v6Problem(ip as ipaddr.IPv6);
}

/** For the tool host: may it connect to this (resolved) address? Public unicast only. */
export function isPublicAddress(addr: string): boolean {
  return addressProblem(addr) === undefined;
}

function v4Problem(ip: ipaddr.IPv4): string | undefined {
  const r = ip.range();
  // ipaddr.js's 'unicast' is what is left after: unspecified 0/8, broadcast, multicast 224/4,
  // link-local 169.254/16 (cloud metadata 169.254.169.254), loopback 127/8, CGNAT 100.64/10,
  // private 10/8 172.16/12 192.168/16, reserved (192.0.0/24, documentation nets, 198.18/15
  // benchmarking, 240/4), AS112, AMT.
  if (r !== V4_PUBLIC) return `is ${rangeWords(r, ip.toString())} IPv4 address (${ip.toString()})`;
  return undefined;
}

function v4FromParts(hi: number, lo: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
}

function v6Problem(ip: ipaddr.IPv6): string | undefined {
  const p = ip.parts;
  const shown = ip.toString();
  const embedded = (v4: ipaddr.IPv4, how: string): string | undefined => {
    const r = v4.range();
    return r === V4_PUBLIC ? undefined : `is an IPv6 address (${shown}) that embeds ${v4.toString()} (${how}), ${rangeWords(r, v4.toString())} IPv4 address`;
  };
  // ::/96 — unspecified, loopback, and the deprecated IPv4-compatible form ::a.b.c.d.
  if (p[0] === 0 && p[1] === 0 && p[2] === 0 && p[3] === 0 && p[4] === 0 && p[5] === 0) {
    if (p[6] === 0 && p[7] === 0) return `is the unspecified IPv6 address (${shown})`;
    if (p[6] === 0 && p[7] === 1) return `is the IPv6 loopback address (${shown})`;
    return `is an IPv4-compatible IPv6 address (${shown}; deprecated, refused)`;
  }
  const r = ip.range();
  switch (r) {
    case 'ipv4Mapped': // ::ffff:a.b.c.d
      return embedded(v4FromParts(p[6]!, p[7]!), 'IPv4-mapped');
    case 'rfc6145': // ::ffff:0:a.b.c.d
      return embedded(v4FromParts(p[6]!, p[7]!), 'SIIT IPv4-translated');
    case 'rfc6052': // 64:ff9b::/96 well-known NAT64; 64:ff9b:1::/48 local-use
      if (p[2] === 0) return embedded(v4FromParts(p[6]!, p[7]!), 'NAT64');
      return `is a local-use NAT64 IPv6 address (${shown})`;
    case '6to4': // 2002:aabb:ccdd::/48
      return embedded(v4FromParts(p[1]!, p[2]!), '6to4');
    case 'teredo':
      return `is a Teredo IPv6 address (${shown}; refused)`;
    case 'unicast':
      break;
    default:
      return `is ${rangeWords(r, shown)} IPv6 address (${shown})`;
  }
  // ipaddr.js names site-local fec0::/10 (deprecatedSiteLocal), fe80::/10, fc00::/7 and the
  // rest; whatever it calls unicast outside 2000::/3 (global unicast) is reserved or special
  // all the same, so refuse it rather than list it.
  if ((p[0]! & 0xe000) !== 0x2000) return `is an IPv6 address outside global unicast 2000::/3 (${shown})`;
  return undefined;
}

// ---- names

/** Names refused whatever the allowlist says: they reach this host or the metadata service. */
const FORBIDDEN_NAMES = new Set([
  'localhost',
  'localhost.localdomain',
  'metadata',
  'metadata.google.internal',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.azure.com',
  'metadata.tencentyun.com',
  'ip6-localhost',
  'ip6-loopback',
]);
const FORBIDDEN_SUFFIXES = ['.localhost', '.internal', '.local', '.localdomain', '.home.arpa', '.in-addr.arpa', '.ip6.arpa'];

function nameProblem(host: string): string | undefined {
  if (FORBIDDEN_NAMES.has(host)) return `${host} is a local or metadata host name`;
  for (const s of FORBIDDEN_SUFFIXES) if (host.endsWith(s)) return `${host} is a local host name (*${s})`;
  if (!host.includes('.')) return `${host} is a single-label host name (a resolver search path would complete it)`;
  for (const label of host.split('.')) if (label === '') return `${host} has an empty label`;
  return undefined;
}

/** A host the WHATWG parser produced, without its one trailing dot (`localhost.` is `localhost`). */
function stripTrailingDot(h: string): string {
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/**
 * A policy's host pattern in the form the check compares: lowercase punycode, no trailing dot.
 * `*` stays `*`; `*.example.com` keeps its `*.`. Throws on a pattern that is not a host.
 */
export function normalizeHostPattern(pattern: string): string {
  if (pattern === '*') return '*';
  const wild = pattern.startsWith('*.');
  const rest = wild ? pattern.slice(2) : pattern;
  if (rest.includes('*')) throw new Error(`host pattern ${JSON.stringify(pattern)}: "*" only as "*" or a leading "*."`);
  if (/[\s/\\@:?#%[\]]/.test(rest) || rest === '') throw new Error(`host pattern ${JSON.stringify(pattern)} is not a host name`);
  let h: string;
  try {
    h = new URL(`https://${rest}/`).hostname;
  } catch {
    throw new Error(`host pattern ${JSON.stringify(pattern)} is not a host name`);
  }
  h = stripTrailingDot(h);
  if (h.split('.').some((l) => l === '')) throw new Error(`host pattern ${JSON.stringify(pattern)} has an empty label`);
  return wild ? `*.${h}` : h;
}

/** Is this IP literal (no brackets) a loopback address (127.0.0.0/8, ::1)? */
function isLoopbackLiteral(addr: string): boolean {
  try {
    const ip = ipaddr.parse(addr);
    return ip.range() === 'loopback';
  } catch {
    return false;
  }
}

export function compileUrlRule(rule: {
  schemes: readonly string[];
  hosts: readonly string[];
  ports?: readonly number[] | undefined;
  allow_loopback?: boolean | undefined;
}): CompiledUrlRule {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  let any = false;
  for (const raw of rule.hosts) {
    const h = normalizeHostPattern(raw);
    if (h === '*') any = true;
    else if (h.startsWith('*.')) suffixes.push(h.slice(1));
    else if (rule.allow_loopback && isLoopbackLiteral(h.startsWith('[') ? h.slice(1, -1) : h)) exact.add(h);
    else {
      const e = /^[0-9.]+$/.test(h) ? addressProblem(h) : nameProblem(h);
      if (e) throw new Error(`host pattern ${JSON.stringify(raw)}: ${e.startsWith('is ') ? `${h} ${e}` : e} (always refused)`);
      exact.add(h);
    }
  }
  const out: CompiledUrlRule = { schemes: new Set(rule.schemes.map((s) => s.toLowerCase())), exact, suffixes, any };
  if (rule.ports) out.ports = new Set(rule.ports);
  if (rule.allow_loopback) out.allowLoopback = true;
  return out;
}

// Characters that WHATWG strips or reinterprets but other parsers may not.
const RAW_REFUSED = /[\u0000-\u0020\u007f-\u009f\\]/;
const LONE_SURROGATE = /\p{Cs}/u;
const DEFAULT_PORT: Record<string, number> = { http: 80, https: 443, ws: 80, wss: 443, ftp: 21 };

/** Check a URL argument. On success `url` is the normalized href (what a wrapper should pass on) and `host` the host checked. */
export function checkToolUrl(value: string, rule: CompiledUrlRule): UrlCheck {
  if (value.length === 0) return { ok: false, detail: 'is empty' };
  if (value.length > MAX_TOOL_URL_LENGTH) return { ok: false, detail: `is longer than ${MAX_TOOL_URL_LENGTH} characters` };
  if (RAW_REFUSED.test(value)) return { ok: false, detail: 'contains a space, control character or backslash' };
  if (LONE_SURROGATE.test(value)) return { ok: false, detail: 'is not well-formed Unicode (lone surrogate)' };
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(value);
  if (!m) return { ok: false, detail: 'has no scheme' };
  const scheme = m[1]!.toLowerCase();
  if (!rule.schemes.has(scheme)) return { ok: false, detail: `scheme ${scheme} is not allowed (${[...rule.schemes].join(', ')})` };
  // The authority as written: after "scheme://" up to the first / ? #.
  const afterScheme = value.slice(m[0].length);
  if (!afterScheme.startsWith('//')) return { ok: false, detail: 'has no authority (expected scheme://host)' };
  const authority = /^\/\/([^/?#]*)/.exec(afterScheme)![1]!;
  if (authority === '') return { ok: false, detail: 'has an empty authority' };
  if (authority.includes('@')) return { ok: false, detail: 'contains userinfo (user:password@)' };
  if (authority.includes('%')) return { ok: false, detail: 'host is percent-encoded' };
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return { ok: false, detail: 'does not parse' };
  }
  if (u.username !== '' || u.password !== '') return { ok: false, detail: 'contains userinfo (user:password@)' };
  if (u.protocol !== `${scheme}:`) return { ok: false, detail: `scheme changed in parsing (${u.protocol})` };
  const host = stripTrailingDot(u.hostname);
  if (host === '') return { ok: false, detail: 'has no host' };
  let ipLiteral = false;
  // the explicit opt-in: a loopback literal the rule lists exactly
  const loopbackOk = (addr: string) => rule.allowLoopback === true && rule.exact.has(host) && isLoopbackLiteral(addr);
  if (host.startsWith('[')) {
    ipLiteral = true;
    const e = addressProblem(host.slice(1, -1));
    if (e && !loopbackOk(host.slice(1, -1))) return { ok: false, detail: `host ${e}` };
  } else if (/^[0-9.]+$/.test(host)) {
    // WHATWG turned every numeric spelling into a dotted quad (or refused it).
    ipLiteral = true;
    const e = addressProblem(host);
    if (e && !loopbackOk(host)) return { ok: false, detail: `host ${e}` };
  } else {
    const e = nameProblem(host);
    if (e) return { ok: false, detail: `host ${e}` };
  }
  if (!hostAllowed(rule, host, ipLiteral)) return { ok: false, detail: `host ${host} is not allowed` };
  if (rule.ports) {
    const port = u.port === '' ? DEFAULT_PORT[scheme]! : Number(u.port);
    if (!rule.ports.has(port)) return { ok: false, detail: `port ${port} is not allowed` };
  }
  return { ok: true, url: u.href, host };
}

function hostAllowed(rule: CompiledUrlRule, host: string, ipLiteral: boolean): boolean {
  if (rule.any || rule.exact.has(host)) return true;
  if (ipLiteral) return false; // "*.example.com" never matches an address
  for (const s of rule.suffixes) if (host.length > s.length && host.endsWith(s)) return true;
  return false;
}
