// `when:` expressions of tool rules: CEL (https://cel.dev) through @marcbachmann/cel-js, parsed
// and type-checked once at manifest load, evaluated per call. Variables: `args` (the call's
// arguments, a map), `server` and `tool` (strings). JSON numbers are CEL doubles, as in every CEL
// binding of JSON: write `args.n > 3.0` or `int(args.n) > 3`; a missing key is an error, so guard
// optional ones with `has(args.x)`.
//
// The library has no runtime cost limit, so the cost is bounded by construction, at load:
//  - parse limits: at most CEL_MAX_AST_NODES nodes, nesting depth CEL_MAX_DEPTH, CEL_MAX_EXPR_LENGTH chars;
//  - no comprehension (all, exists, exists_one, map, filter) inside another's body, so one
//    evaluation walks each argument list at most once per comprehension;
//  - no `matches()`: the library runs it with JavaScript's backtracking RegExp (a pattern like
//    `^(a+)+$` took ~3 s on 27 characters here); regular expressions belong in `pattern:`
//    constraints, which use RE2 (linear time).
// What remains is linear in the argument size per AST node, except a string function with a
// pattern argument (contains, indexOf, split...) inside a comprehension over a hostile list,
// which is O(list × string); both are bounded by the manifest's max_payload_bytes
// (bench/tool-policy.ts measures that worst case).
import { Environment, type ASTNode, type ParseResult } from '@marcbachmann/cel-js';

export const CEL_MAX_EXPR_LENGTH = 2048;
export const CEL_MAX_AST_NODES = 256;
export const CEL_MAX_DEPTH = 32;
const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

const env = new Environment({
  unlistedVariablesAreDyn: false,
  limits: { maxAstNodes: CEL_MAX_AST_NODES, maxDepth: CEL_MAX_DEPTH, maxListElements: 64, maxMapEntries: 64, maxCallArguments: 8 },
})
  .registerVariable('args', 'map')
  .registerVariable('server', 'string')
  .registerVariable('tool', 'string');

export interface CelContext {
  args: Record<string, unknown>;
  server: string;
  tool: string;
}

/** A compiled `when:`: true, or the reason the call is refused. */
export type CompiledWhen = (ctx: CelContext) => true | string;

/** Parse, type-check and restrict `expr` (see the header); throws an Error with a one-line message. */
export function compileWhen(expr: string): CompiledWhen {
  if (expr.length > CEL_MAX_EXPR_LENGTH) throw new Error(`CEL expression is longer than ${CEL_MAX_EXPR_LENGTH} characters`);
  let parsed: ParseResult;
  try {
    parsed = env.parse(expr);
  } catch (e) {
    throw new Error(`CEL: ${firstLine(e)}`);
  }
  const checked = parsed.check();
  if (!checked.valid) throw new Error(`CEL: ${firstLine(checked.error)}`);
  if (checked.type !== 'bool' && checked.type !== 'dyn') throw new Error(`CEL expression has type ${checked.type}, not bool`);
  restrict(parsed.ast, 0);
  return (ctx) => {
    let v: unknown;
    try {
      v = parsed(ctx);
    } catch (e) {
      return `when: evaluation failed: ${firstLine(e)}`;
    }
    if (v === true) return true;
    if (v === false) return 'when: evaluated to false';
    return `when: evaluated to a ${v === null ? 'null' : typeof v}, not a bool`;
  };
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0]!;
}

/** Refuse `matches` and nested comprehensions (see the header). `inBody` counts enclosing comprehension bodies. */
function restrict(node: ASTNode, inBody: number): void {
  const n = node as unknown as { op: string; args: unknown };
  if (n.op === 'call' || n.op === 'rcall') {
    const a = n.args as unknown[];
    const name = a[0] as string;
    if (name === 'matches') throw new Error('CEL: matches() is not allowed in when: (backtracking regex); use a pattern: constraint (RE2)');
    if (n.op === 'rcall') {
      const receiver = a[1] as ASTNode;
      const callArgs = a[2] as ASTNode[];
      restrict(receiver, inBody);
      const comp = COMPREHENSIONS.has(name);
      if (comp && inBody > 0) throw new Error(`CEL: ${name}() inside another comprehension is not allowed (cost grows with the product of the lists)`);
      for (const c of callArgs) restrict(c, comp ? inBody + 1 : inBody);
      return;
    }
    for (const c of a[1] as ASTNode[]) restrict(c, inBody);
    return;
  }
  walkChildren(n.args, inBody);
}

function walkChildren(x: unknown, inBody: number): void {
  if (Array.isArray(x)) for (const c of x) walkChildren(c, inBody);
  else if (x !== null && typeof x === 'object' && 'op' in x) restrict(x as ASTNode, inBody);
}
