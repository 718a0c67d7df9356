// The manifest's `tools:` section (docs/design.md §11): which tool servers and tools an agent may call,
// and constraints on their arguments. Zod-validated (strict objects: an unknown key is refused
// with its path), then compiled once, at manifest load, into checkers (`compileToolPolicy`)
// that `checkToolCall` (check.ts) runs per call.
//
//   tools:
//     - server: fs                      # tool server (agent id; glob)
//       tools: [read_file, list_*]      # tool names (globs)
//       args:
//         path: { path: { roots: [/srv/project] } }
//         url:  { url: { schemes: [https], hosts: ['*.example.com'] } }
//         mode: { enum: [r, w] }
//         n:    { type: integer, min: 0, max: 100 }
//         q:    { pattern: '[a-z]+', max_length: 64, optional: true }
//         paths: { items: { path: { roots: [/srv/project] } }, max_items: 16 }
//         force: { type: boolean, approval: required }   # present => a person approves
//       additional_args: deny           # default allow: arguments without a constraint pass
//       when: 'args.mode == "r" || args.path.startsWith("/srv/project/out/")'   # CEL
//       approval: none                  # or required: the call waits for a signed approval
//
// Semantics: a call is allowed if some rule whose `server` and `tools` match it accepts its
// arguments; it needs approval only if every accepting rule requires it (the rule's `approval`
// or a present argument's). A constrained argument that is missing is refused unless
// `optional: true`. `pattern` must match the whole string and is RE2 (linear time, no
// backreferences or lookaround); lengths count Unicode code points.
import { z } from 'zod';
import { RE2JS } from '@bufbuild/re2';
import { compileGlobs } from '../glob.js';
import { normalizeRoot, isInsideRoot, checkToolPath } from './paths.js';
import { URL_POLICY_SCHEMES, compileUrlRule, checkToolUrl } from './urls.js';
import { compileWhen, CEL_MAX_EXPR_LENGTH, type CompiledWhen } from './cel.js';

// ---- schema

/** Tool server: an agent id, or a glob of them. */
const ServerGlob = z.string().regex(/^[a-z0-9_*-]{1,64}$/, 'servers are agent ids (a-z 0-9 _ -) or globs of them with *');
/** MCP tool names are 1–128 of A-Z a-z 0-9 _ - . ; globs add *. */
const ToolGlob = z.string().regex(/^[A-Za-z0-9_.*-]{1,128}$/, 'tool names use A-Z a-z 0-9 _ - . and * (1 to 128 characters)');
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const ArgName = z
  .string()
  .regex(/^[A-Za-z0-9_$][A-Za-z0-9_$.-]{0,127}$/, 'argument names use A-Z a-z 0-9 _ $ - . (1 to 128 characters)')
  .refine((s) => !RESERVED_KEYS.has(s), 'reserved name');
const AbsPath = z.string().min(1).max(4096).startsWith('/', 'must be an absolute path');
const Approval = z.enum(['required', 'none']);
const count = z.number().int().min(0).max(1_000_000);

const PathRule = z
  .strictObject({
    /** Directories the path must be inside (or equal to). */
    roots: z.array(AbsPath).min(1).max(64),
    /** Relative paths are resolved against it (must be inside a root); without it they are refused. */
    base: AbsPath.optional(),
  })
  .superRefine((r, ctx) => {
    const roots: string[] = [];
    r.roots.forEach((root, i) => {
      try {
        roots.push(normalizeRoot(root));
      } catch (e) {
        ctx.addIssue({ code: 'custom', path: ['roots', i], message: (e as Error).message });
      }
    });
    if (r.base !== undefined) {
      try {
        const b = normalizeRoot(r.base);
        if (roots.length === r.roots.length && !roots.some((root) => isInsideRoot(root, b)))
          ctx.addIssue({ code: 'custom', path: ['base'], message: 'base must be inside one of the roots' });
      } catch (e) {
        ctx.addIssue({ code: 'custom', path: ['base'], message: (e as Error).message.replace(/^root/, 'base') });
      }
    }
  });

const UrlRule = z
  .strictObject({
    schemes: z.array(z.enum(URL_POLICY_SCHEMES)).min(1).default(['https']),
    /** Exact host names or IPv4 addresses, `*.suffix` (a label boundary), or `*` (any public host). */
    hosts: z.array(z.string().min(1).max(253)).min(1).max(1024),
    /** If given, the effective port (default port of the scheme included) must be one of these. */
    ports: z.array(z.number().int().min(1).max(65535)).min(1).optional(),
    /**
     * Tests and local development only: loopback IP literals listed exactly in `hosts`
     * (127.0.0.1, [::1]) are allowed. Off by default; names like localhost stay refused.
     */
    allow_loopback: z.literal(true).optional(),
  })
  .superRefine((r, ctx) => {
    r.hosts.forEach((h, i) => {
      try {
        compileUrlRule({ schemes: r.schemes, hosts: [h], allow_loopback: r.allow_loopback });
      } catch (e) {
        ctx.addIssue({ code: 'custom', path: ['hosts', i], message: (e as Error).message });
      }
    });
  });

const JSON_TYPES = ['string', 'number', 'integer', 'boolean', 'array', 'object', 'null', 'any'] as const;
type JsonType = (typeof JSON_TYPES)[number];
const STRING_KEYS = ['path', 'url', 'pattern', 'min_length', 'max_length'] as const;
const NUMBER_KEYS = ['min', 'max'] as const;
const ARRAY_KEYS = ['items', 'min_items', 'max_items'] as const;

const valueFields = {
  /** JSON type; implied by the other keys when absent (path/url/pattern/lengths: string; min/max: number; items: array). */
  type: z.enum(JSON_TYPES).optional(),
  path: PathRule.optional(),
  url: UrlRule.optional(),
  enum: z
    .array(z.union([z.string(), z.number(), z.boolean()]))
    .min(1)
    .max(1024)
    .optional(),
  pattern: z.string().min(1).max(1024).optional(),
  min_length: count.optional(),
  max_length: count.optional(),
  min: z.number().optional(),
  max: z.number().optional(),
};

interface ValueShape {
  type?: JsonType | undefined;
  path?: unknown;
  url?: unknown;
  enum?: unknown;
  pattern?: string | undefined;
  min_length?: number | undefined;
  max_length?: number | undefined;
  min?: number | undefined;
  max?: number | undefined;
  items?: unknown;
  min_items?: number | undefined;
  max_items?: number | undefined;
}

/** The JSON type a constraint admits, or an error message if its keys do not fit together. */
function impliedType(c: ValueShape): JsonType | { error: string; key: string } {
  const present = (keys: readonly string[]) => keys.filter((k) => (c as Record<string, unknown>)[k] !== undefined);
  const kinds: [JsonType, string[]][] = [
    ['string', present(STRING_KEYS)],
    ['number', present(NUMBER_KEYS)],
    ['array', present(ARRAY_KEYS)],
  ];
  const used = kinds.filter(([, ks]) => ks.length > 0);
  if (c.path !== undefined && c.url !== undefined) return { error: 'path and url do not go together', key: 'url' };
  if (c.enum !== undefined && used.length > 0) return { error: `enum does not go together with ${used.flatMap(([, ks]) => ks).join(', ')}`, key: 'enum' };
  if (used.length > 1) return { error: `${used[0]![1][0]} and ${used[1]![1][0]} are for different types`, key: used[1]![1][0]! };
  const implied: JsonType = used.length === 1 ? used[0]![0] : 'any';
  if (c.type === undefined) return implied;
  if (implied === 'any' || implied === c.type || (implied === 'number' && c.type === 'integer')) return c.type;
  return { error: `type ${c.type} does not go together with ${used[0]![1].join(', ')}`, key: 'type' };
}

function refineValue(c: ValueShape, ctx: z.RefinementCtx): void {
  const t = impliedType(c);
  if (typeof t === 'object') ctx.addIssue({ code: 'custom', path: [t.key], message: t.error });
  if (c.min !== undefined && c.max !== undefined && c.min > c.max) ctx.addIssue({ code: 'custom', path: ['min'], message: 'min is greater than max' });
  if (c.min_length !== undefined && c.max_length !== undefined && c.min_length > c.max_length)
    ctx.addIssue({ code: 'custom', path: ['min_length'], message: 'min_length is greater than max_length' });
  if (c.min_items !== undefined && c.max_items !== undefined && c.min_items > c.max_items)
    ctx.addIssue({ code: 'custom', path: ['min_items'], message: 'min_items is greater than max_items' });
  if (c.pattern !== undefined) {
    try {
      RE2JS.compile(c.pattern);
    } catch (e) {
      ctx.addIssue({ code: 'custom', path: ['pattern'], message: `not an RE2 regular expression: ${(e as Error).message}` });
    }
  }
}

/** A constraint on the elements of an array argument (no nested `items`). */
export const ToolItemConstraint = z.strictObject(valueFields).superRefine(refineValue);

export const ToolArgConstraint = z
  .strictObject({
    ...valueFields,
    items: ToolItemConstraint.optional(),
    min_items: count.optional(),
    max_items: count.optional(),
    /** A missing argument passes (a present one is still checked). Default: missing is refused. */
    optional: z.boolean().default(false),
    /** `required`: a call that has this argument waits for a signed approval. */
    approval: Approval.default('none'),
  })
  .superRefine(refineValue);
export type ToolArgConstraint = z.infer<typeof ToolArgConstraint>;

export const ToolRule = z.strictObject({
  server: ServerGlob,
  tools: z.array(ToolGlob).min(1).max(1024),
  args: z
    .unknown()
    .superRefine((v, ctx) => {
      // z.record drops a "__proto__" key silently; its constraint would vanish without a word
      if (v !== null && typeof v === 'object' && Object.hasOwn(v, '__proto__')) ctx.addIssue({ code: 'custom', path: ['__proto__'], message: 'reserved name' });
    })
    .pipe(z.record(ArgName, ToolArgConstraint))
    .default({}),
  /** `deny`: an argument without a constraint refuses the call. */
  additional_args: z.enum(['allow', 'deny']).default('allow'),
  /** A CEL expression over `args`, `server` and `tool` that must be true (see cel.ts). */
  when: z
    .string()
    .min(1)
    .max(CEL_MAX_EXPR_LENGTH)
    .superRefine((expr, ctx) => {
      try {
        compileWhen(expr);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
      }
    })
    .optional(),
  approval: Approval.default('none'),
  description: z.string().max(1024).optional(),
});
export type ToolRule = z.infer<typeof ToolRule>;
export type ToolRuleInput = z.input<typeof ToolRule>;

/** The manifest's `tools:` section (a manifest without one may call no tool). */
export const ToolsSection = z.array(ToolRule).max(1024);
export type ToolsSection = z.infer<typeof ToolsSection>;

/** A `tools:` section that does not validate: `path` names the field (tools.0.args.path.path). */
export class ToolPolicyError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'ToolPolicyError';
    this.path = path;
  }
}

/** Validate a raw `tools:` section (parsed YAML or JSON); throws a ToolPolicyError naming the first bad field. */
export function parseToolPolicy(raw: unknown): ToolsSection {
  const r = ToolsSection.safeParse(raw);
  if (!r.success) {
    // an unknown key says more than the missing field it is probably a typo of
    const issue = r.error.issues.find((i) => i.code === 'unrecognized_keys') ?? r.error.issues[0]!;
    throw new ToolPolicyError(['tools', ...issue.path].join('.'), issue.message);
  }
  return r.data;
}

// ---- compiled form

/** Why a value is refused: the JSON path of the argument (args.path, args.paths[2]) and a detail. */
export interface ArgRefusal {
  argument: string;
  detail: string;
}
export type ValueChecker = (v: unknown, at: string) => ArgRefusal | undefined;

export interface CompiledArg {
  name: string;
  /** args.name, or args["odd-name"]. */
  at: string;
  optional: boolean;
  approval: boolean;
  check: ValueChecker;
}

export interface CompiledToolRule {
  /** Position in the section, for details: tools.<index>. */
  index: number;
  matchesServer: (server: string) => boolean;
  matchesTool: (tool: string) => boolean;
  args: readonly CompiledArg[];
  names: ReadonlySet<string>;
  denyAdditional: boolean;
  when?: CompiledWhen;
  approval: boolean;
}

export interface CompiledToolPolicy {
  rules: readonly CompiledToolRule[];
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
/** JSON path of a property below `base`: base.name or base["name"] (long hostile names are cut). */
export function argPath(base: string, name: string): string {
  if (IDENT.test(name) && name.length <= 128) return `${base}.${name}`;
  const q = JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);
  return `${base}[${q}]`;
}

/** A short, escaped rendering of a hostile value for a detail. */
export function showValue(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeTest(t: JsonType): (v: unknown) => boolean {
  switch (t) {
    case 'string':
      return (v) => typeof v === 'string';
    case 'number':
      return (v) => typeof v === 'number' && Number.isFinite(v);
    case 'integer':
      return (v) => typeof v === 'number' && Number.isSafeInteger(v);
    case 'boolean':
      return (v) => typeof v === 'boolean';
    case 'array':
      return (v) => Array.isArray(v);
    case 'object':
      return (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
    case 'null':
      return (v) => v === null;
    case 'any':
      return (v) => v !== undefined;
  }
}

/** Unicode code points in s, counting only as far as needed to compare with min and max. */
function lengthProblem(s: string, min: number | undefined, max: number | undefined): string | undefined {
  // code points <= UTF-16 units <= 2 * code points
  if (min !== undefined && s.length < min) return `is shorter than ${min} characters`;
  if (max !== undefined && s.length > 2 * max) return `is longer than ${max} characters`;
  const needMin = min !== undefined && s.length < 2 * min;
  const needMax = max !== undefined && s.length > max;
  if (!needMin && !needMax) return undefined;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff || i === 0 || (s.charCodeAt(i - 1) & 0xfc00) !== 0xd800) n++;
  }
  if (min !== undefined && n < min) return `is shorter than ${min} characters`;
  if (max !== undefined && n > max) return `is longer than ${max} characters`;
  return undefined;
}

function compileValue(
  c: z.infer<typeof ToolItemConstraint> & {
    items?: z.infer<typeof ToolItemConstraint> | undefined;
    min_items?: number | undefined;
    max_items?: number | undefined;
  },
): ValueChecker {
  const t = impliedType(c);
  if (typeof t === 'object') throw new Error(t.error); // the schema refused it already
  const isType = typeTest(t);
  const checks: ((v: never, at: string) => string | ArgRefusal | undefined)[] = [];
  if (c.enum) {
    const allowed = new Set<unknown>(c.enum);
    const list = c.enum.map((e) => showValue(e)).join(', ');
    checks.push((v: unknown) => (allowed.has(v) ? undefined : `${showValue(v)} is not one of ${list}`));
  }
  if (c.min_length !== undefined || c.max_length !== undefined) {
    const { min_length: lo, max_length: hi } = c;
    checks.push((v: string) => lengthProblem(v, lo, hi));
  }
  if (c.pattern !== undefined) {
    const re = RE2JS.compile(c.pattern);
    const shown = showValue(c.pattern);
    checks.push((v: string) => (re.testExact(v) ? undefined : `does not match the pattern ${shown}`));
  }
  if (c.min !== undefined || c.max !== undefined) {
    const { min: lo, max: hi } = c;
    checks.push((v: number) => (lo !== undefined && v < lo ? `is less than ${lo}` : hi !== undefined && v > hi ? `is greater than ${hi}` : undefined));
  }
  if (c.path) {
    const roots = c.path.roots.map(normalizeRoot);
    const base = c.path.base === undefined ? undefined : normalizeRoot(c.path.base);
    checks.push((v: string) => {
      const r = checkToolPath(v, roots, base);
      return r.ok ? undefined : r.detail;
    });
  }
  if (c.url) {
    const rule = compileUrlRule(c.url);
    checks.push((v: string) => {
      const r = checkToolUrl(v, rule);
      return r.ok ? undefined : r.detail;
    });
  }
  if (c.min_items !== undefined || c.max_items !== undefined) {
    const { min_items: lo, max_items: hi } = c;
    checks.push((v: unknown[]) =>
      lo !== undefined && v.length < lo ? `has fewer than ${lo} items` : hi !== undefined && v.length > hi ? `has more than ${hi} items` : undefined,
    );
  }
  if (c.items) {
    const item = compileValue(c.items);
    checks.push((v: unknown[], at: string) => {
      for (let i = 0; i < v.length; i++) {
        const r = item(v[i], `${at}[${i}]`);
        if (r) return r;
      }
      return undefined;
    });
  }
  return (v, at) => {
    if (!isType(v))
      return { argument: at, detail: `${at} must be ${t === 'any' ? 'present' : `of type ${t}`}, got ${v === undefined ? 'nothing' : typeOf(v)}` };
    for (const ch of checks) {
      const r = ch(v as never, at);
      if (r === undefined) continue;
      return typeof r === 'string' ? { argument: at, detail: `${at} ${r}` } : r;
    }
    return undefined;
  };
}

/** Compile a validated section (see ToolsSection / parseToolPolicy): globs, regexes and CEL compiled once. */
export function compileToolPolicy(section: ToolsSection): CompiledToolPolicy {
  return {
    rules: section.map((r, index) => {
      const args: CompiledArg[] = Object.entries(r.args).map(([name, c]) => ({
        name,
        at: argPath('args', name),
        optional: c.optional,
        approval: c.approval === 'required',
        check: compileValue(c),
      }));
      const rule: CompiledToolRule = {
        index,
        matchesServer: compileGlobs([r.server]),
        matchesTool: compileGlobs(r.tools),
        args,
        names: new Set(Object.keys(r.args)),
        denyAdditional: r.additional_args === 'deny',
        approval: r.approval === 'required',
      };
      if (r.when !== undefined) rule.when = compileWhen(r.when);
      return rule;
    }),
  };
}

/** parseToolPolicy then compileToolPolicy. */
export function loadToolPolicy(raw: unknown): CompiledToolPolicy {
  return compileToolPolicy(parseToolPolicy(raw));
}
