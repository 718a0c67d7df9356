// The tools: argument policy (docs/design.md §11): schema, deny by default, path and URL spellings,
// string/number constraints, CEL when:, approval, and the tool host's symlink re-check.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, rmSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  parseToolPolicy,
  loadToolPolicy,
  checkToolCall,
  ToolPolicyError,
  ToolsSection,
  checkToolPath,
  recheckRealPath,
  checkToolUrl,
  compileUrlRule,
  isPublicAddress,
  compileWhen,
  type ToolCallDecision,
  type ToolRuleInput,
} from '../packages/protocol/src/tools/index.js';

const policy = (...rules: ToolRuleInput[]) => loadToolPolicy(rules);
const refused = (d: ToolCallDecision) => (d.ok ? undefined : d);

function policyError(raw: unknown): ToolPolicyError {
  try {
    parseToolPolicy(raw);
  } catch (e) {
    assert.instance(e, ToolPolicyError);
    return e as ToolPolicyError;
  }
  throw new Error(`accepted: ${JSON.stringify(raw)}`);
}

// ---------------------------------------------------------------- schema

test('schema - unknown keys are refused, naming the path', () => {
  const cases: [unknown, string, RegExp][] = [
    [[{ server: 'fs', tools: ['read_file'], args: { path: { path: { rots: ['/srv'] } } } }], 'tools.0.args.path.path', /rots/],
    [[{ server: 'fs', tools: ['read_file'], args: { path: { path: { roots: ['/srv'], extra: 1 } } } }], 'tools.0.args.path.path', /extra/],
    [[{ server: 'fs', tool: ['read_file'], tools: ['x'] }], 'tools.0', /tool\b/],
    [
      [
        { server: 'fs', tools: ['x'] },
        { server: 'web', tools: ['fetch'], args: { url: { url: { hosts: ['a.com'], schema: ['https'] } } } },
      ],
      'tools.1.args.url.url',
      /schema/,
    ],
    [[{ server: 'fs', tools: ['x'], args: { n: { min: 0, maximum: 3 } } }], 'tools.0.args.n', /maximum/],
    [[{ server: 'fs', tools: ['x'], args: { l: { items: { type: 'string', colour: 1 } } } }], 'tools.0.args.l.items', /colour/],
    [[{ server: 'fs', tools: ['x'], aproval: 'required' }], 'tools.0', /aproval/],
  ];
  for (const [raw, path, msg] of cases) {
    const e = policyError(raw);
    assert.is(e.path, path, JSON.stringify(raw));
    assert.match(e.message, msg);
    assert.ok(e.message.startsWith(`${path}: `));
  }
  // the exported schema itself is strict too (for the manifest to embed)
  const r = ToolsSection.safeParse([{ server: 'fs', tools: ['x'], extra: true }]);
  assert.not.ok(r.success);
});

test('schema - bad values name the field', () => {
  const cases: [ToolRuleInput | Record<string, unknown>, string, RegExp][] = [
    [{ server: 'fs', tools: ['x'], args: { q: { pattern: '(?=a)b' } } }, 'tools.0.args.q.pattern', /RE2/],
    [{ server: 'fs', tools: ['x'], args: { q: { pattern: '(a' } } }, 'tools.0.args.q.pattern', /RE2/],
    [{ server: 'fs', tools: ['x'], args: { q: { pattern: 'a', min: 1 } } }, 'tools.0.args.q.min', /different types/],
    [{ server: 'fs', tools: ['x'], args: { q: { type: 'number', max_length: 3 } } }, 'tools.0.args.q.type', /does not go together/],
    [{ server: 'fs', tools: ['x'], args: { q: { enum: ['a'], pattern: 'a' } } }, 'tools.0.args.q.enum', /enum/],
    [{ server: 'fs', tools: ['x'], args: { q: { min: 5, max: 1 } } }, 'tools.0.args.q.min', /greater/],
    [{ server: 'fs', tools: ['x'], args: { q: { min_length: 5, max_length: 1 } } }, 'tools.0.args.q.min_length', /greater/],
    [{ server: 'fs', tools: ['x'], args: { p: { path: { roots: ['srv'] } } } }, 'tools.0.args.p.path.roots.0', /absolute/],
    [{ server: 'fs', tools: ['x'], args: { p: { path: { roots: ['/srv/../etc'] } } } }, 'tools.0.args.p.path.roots.0', /\.\./],
    [{ server: 'fs', tools: ['x'], args: { p: { path: { roots: ['/srv/a'], base: '/srv/b' } } } }, 'tools.0.args.p.path.base', /inside/],
    [{ server: 'fs', tools: ['x'], args: { p: { path: { roots: [] } } } }, 'tools.0.args.p.path.roots', /.+/],
    [{ server: 'fs', tools: ['x'], args: { p: { path: { roots: ['/srv'] }, url: { hosts: ['a.com'] } } } }, 'tools.0.args.p.url', /path and url/],
    [{ server: 'fs', tools: ['x'], args: { u: { url: { schemes: ['file'], hosts: ['a.com'] } } } }, 'tools.0.args.u.url.schemes.0', /.+/],
    [{ server: 'fs', tools: ['x'], args: { u: { url: { hosts: ['localhost'] } } } }, 'tools.0.args.u.url.hosts.0', /always refused/],
    [{ server: 'fs', tools: ['x'], args: { u: { url: { hosts: ['10.0.0.1'] } } } }, 'tools.0.args.u.url.hosts.0', /private/],
    [{ server: 'fs', tools: ['x'], args: { u: { url: { hosts: ['a.*.com'] } } } }, 'tools.0.args.u.url.hosts.0', /\*/],
    [{ server: 'fs', tools: ['x'], args: { u: { url: { hosts: ['user@a.com'] } } } }, 'tools.0.args.u.url.hosts.0', /not a host/],
    [{ server: 'fs', tools: ['x'], when: 'args.a.matches("x")' }, 'tools.0.when', /matches/],
    [{ server: 'fs', tools: ['x'], when: 'args.l.all(a, args.l.exists(b, a == b))' }, 'tools.0.when', /inside another comprehension/],
    [{ server: 'fs', tools: ['x'], when: 'nope == 1' }, 'tools.0.when', /Unknown variable/],
    [{ server: 'fs', tools: ['x'], when: 'args.a ==' }, 'tools.0.when', /CEL/],
    [{ server: 'fs', tools: ['x'], when: '1 + 1' }, 'tools.0.when', /not bool/],
    [{ server: 'fs', tools: ['x'], when: 'true && '.repeat(200) + 'true' }, 'tools.0.when', /maxAstNodes/],
    [{ server: 'fs', tools: ['x'], when: '('.repeat(40) + 'true' + ')'.repeat(40) }, 'tools.0.when', /maxDepth/],
    [{ server: 'fs', tools: ['x'], when: 'true || '.repeat(300) + 'true' }, 'tools.0.when', /.+/],
    [{ server: 'FS', tools: ['x'] }, 'tools.0.server', /agent ids/],
    [{ server: 'fs', tools: ['bad name'] }, 'tools.0.tools.0', /tool names/],
    [{ server: 'fs', tools: [] }, 'tools.0.tools', /.+/],
    [{ server: 'fs', tools: ['x'], approval: 'maybe' }, 'tools.0.approval', /.+/],
    [{ server: 'fs', tools: ['x'], additional_args: 'sometimes' }, 'tools.0.additional_args', /.+/],
  ];
  for (const [rule, path, msg] of cases) {
    const e = policyError([rule]);
    assert.is(e.path, path, JSON.stringify(rule));
    assert.match(e.message, msg, JSON.stringify(rule));
  }
  // "__proto__" as an argument name (JSON.parse makes it an own key; z.record would drop it)
  assert.is(policyError(JSON.parse('[{"server":"fs","tools":["x"],"args":{"__proto__":{"type":"string"}}}]')).path, 'tools.0.args.__proto__');
  assert.is(policyError([{ server: 'fs', tools: ['x'], args: { constructor: { type: 'string' } } }]).path, 'tools.0.args.constructor');
});

test('schema - defaults', () => {
  const [r] = parseToolPolicy([{ server: 'fs', tools: ['x'], args: { u: { url: { hosts: ['a.com'] } } } }]);
  assert.is(r!.approval, 'none');
  assert.is(r!.additional_args, 'allow');
  assert.equal(r!.args.u!.url!.schemes, ['https']);
  assert.is(r!.args.u!.optional, false);
  assert.equal(parseToolPolicy([]), []);
});

// ---------------------------------------------------------------- deny by default

const fs = policy({
  server: 'fs',
  tools: ['read_file', 'list_*'],
  args: { path: { path: { roots: ['/srv/project'] } } },
});

test('deny by default - tools, servers, arguments', () => {
  assert.equal(checkToolCall(fs, 'fs', 'read_file', { path: '/srv/project/a.txt' }), { ok: true, approval: false });
  assert.equal(checkToolCall(fs, 'fs', 'list_directory', { path: '/srv/project' }), { ok: true, approval: false });
  for (const [server, tool] of [
    ['fs', 'write_file'],
    ['fs', 'READ_FILE'],
    ['fs', 'read_file2'],
    ['fs2', 'read_file'],
    ['web', 'read_file'],
    ['fs', ''],
  ]) {
    const r = refused(checkToolCall(fs, server!, tool!, { path: '/srv/project/a.txt' }));
    assert.ok(r, `${server}/${tool}`);
    assert.is(r!.code, 'tool_not_allowed');
    assert.is(r!.argument, undefined);
  }
  assert.is(refused(checkToolCall(policy(), 'fs', 'read_file', {}))!.code, 'tool_not_allowed');
  // a constrained argument that is missing or of the wrong JSON type
  for (const args of [
    {},
    { path: 42 },
    { path: null },
    { path: ['/srv/project/a'] },
    { path: { p: '/srv/project/a' } },
    { path: true },
    { Path: '/srv/project/a' },
    undefined,
  ]) {
    const r = refused(checkToolCall(fs, 'fs', 'read_file', args));
    assert.ok(r, JSON.stringify(args));
    assert.is(r!.code, 'argument_refused');
    assert.is(r!.argument, 'args.path');
  }
  // args that are not an object
  for (const args of [null, [], ['/srv/project'], '/srv/project', 7]) {
    const r = refused(checkToolCall(fs, 'fs', 'read_file', args));
    assert.is(r!.argument, 'args', JSON.stringify(args));
    assert.match(r!.detail, /must be an object/);
  }
  // a prototype key is not an argument
  assert.is(refused(checkToolCall(fs, 'fs', 'read_file', JSON.parse('{"__proto__":{"path":"/srv/project/a"}}')))!.argument, 'args.path');
});

test('deny by default - additional arguments: allowed unless additional_args: deny', () => {
  assert.ok(checkToolCall(fs, 'fs', 'read_file', { path: '/srv/project/a', encoding: 'utf8', anything: { x: [1] } }).ok);
  const strict = policy({
    server: 'fs',
    tools: ['read_file'],
    args: { path: { path: { roots: ['/srv/project'] } }, tail: { type: 'integer', optional: true } },
    additional_args: 'deny',
  });
  assert.ok(checkToolCall(strict, 'fs', 'read_file', { path: '/srv/project/a' }).ok);
  assert.ok(checkToolCall(strict, 'fs', 'read_file', { path: '/srv/project/a', tail: 3 }).ok);
  const r = refused(checkToolCall(strict, 'fs', 'read_file', { path: '/srv/project/a', encoding: 'utf8' }))!;
  assert.is(r.argument, 'args.encoding');
  assert.match(r.detail, /additional_args: deny/);
  assert.is(refused(checkToolCall(strict, 'fs', 'read_file', { path: '/srv/project/a', 'odd key': 1 }))!.argument, 'args["odd key"]');
  assert.is(refused(checkToolCall(strict, 'fs', 'read_file', JSON.parse('{"path":"/srv/project/a","__proto__":1}')))!.argument, 'args.__proto__');
});

test('rules - several rules for one tool: any accepting rule is enough; the first refusal is reported', () => {
  const p = policy(
    { server: 'fs', tools: ['write_file'], args: { path: { path: { roots: ['/srv/project/out'] } } } },
    { server: 'fs', tools: ['write_file'], args: { path: { path: { roots: ['/srv/project'] } } }, approval: 'required' },
    { server: '*', tools: ['ping'] },
  );
  assert.equal(checkToolCall(p, 'fs', 'write_file', { path: '/srv/project/out/a' }), { ok: true, approval: false });
  assert.equal(checkToolCall(p, 'fs', 'write_file', { path: '/srv/project/src/a' }), { ok: true, approval: true });
  const r = refused(checkToolCall(p, 'fs', 'write_file', { path: '/etc/passwd' }))!;
  assert.is(r.code, 'argument_refused');
  assert.is(r.argument, 'args.path');
  assert.match(r.detail, /tools\.0/);
  assert.ok(checkToolCall(p, 'anything', 'ping', {}).ok);
});

// ---------------------------------------------------------------- approval

test('approval - a rule or a present argument marked approval: required', () => {
  const p = policy(
    { server: 'shell', tools: ['run'], args: { cmd: { enum: ['ls', 'cat'] } }, approval: 'required' },
    {
      server: 'fs',
      tools: ['delete'],
      args: { path: { path: { roots: ['/srv/project'] } }, recursive: { type: 'boolean', optional: true, approval: 'required' } },
    },
  );
  assert.equal(checkToolCall(p, 'shell', 'run', { cmd: 'ls' }), { ok: true, approval: true });
  assert.equal(checkToolCall(p, 'fs', 'delete', { path: '/srv/project/a' }), { ok: true, approval: false });
  assert.equal(checkToolCall(p, 'fs', 'delete', { path: '/srv/project/a', recursive: true }), { ok: true, approval: true });
  // approval never rescues a refused call
  assert.is(refused(checkToolCall(p, 'shell', 'run', { cmd: 'rm' }))!.argument, 'args.cmd');
  assert.is(refused(checkToolCall(p, 'fs', 'delete', { path: '/srv/project/a', recursive: 'yes' }))!.argument, 'args.recursive');
});

// ---------------------------------------------------------------- strings and numbers

test('strings and numbers - enum, pattern, length, range', () => {
  const p = policy({
    server: 'db',
    tools: ['query'],
    args: {
      mode: { enum: ['r', 'w'] },
      q: { pattern: '[a-z]+( [a-z]+)*', max_length: 16 },
      name: { min_length: 2, max_length: 4, optional: true },
      n: { min: 0, max: 100 },
      page: { type: 'integer', min: 1, optional: true },
      level: { enum: [1, 2, 3], optional: true },
      tags: { items: { pattern: '[a-z]{1,8}' }, max_items: 3, optional: true },
    },
  });
  const ok = { mode: 'r', q: 'select all', n: 50 };
  assert.equal(checkToolCall(p, 'db', 'query', ok), { ok: true, approval: false });
  const accepted = [
    { n: 0 },
    { n: 100 },
    { n: 0.5 },
    { name: 'ab' },
    { name: 'abcd' },
    { name: '日本語' },
    { name: '😀😀😀😀' },
    { page: 1 },
    { level: 3 },
    { tags: [] },
    { tags: ['a', 'bb', 'ccc'] },
    { q: 'a' },
    { q: 'abcdefghijklmnop' },
  ];
  for (const extra of accepted) assert.ok(checkToolCall(p, 'db', 'query', { ...ok, ...extra }).ok, JSON.stringify(extra));
  const rejected: [Record<string, unknown>, string, RegExp][] = [
    [{ mode: 'x' }, 'args.mode', /not one of "r", "w"/],
    [{ mode: 'R' }, 'args.mode', /not one of/],
    [{ mode: ['r'] }, 'args.mode', /not one of/],
    [{ level: '1' }, 'args.level', /not one of 1, 2, 3/],
    [{ level: 4 }, 'args.level', /not one of/],
    [{ q: 'Select' }, 'args.q', /pattern/],
    [{ q: 'a; drop' }, 'args.q', /pattern/],
    [{ q: 'ok\nrm' }, 'args.q', /pattern/], // whole-string match, no multiline
    [{ q: 'abcdefghijklmnopq' }, 'args.q', /longer than 16/],
    [{ q: 5 }, 'args.q', /type string, got integer/],
    [{ name: 'a' }, 'args.name', /shorter than 2/],
    [{ name: 'abcde' }, 'args.name', /longer than 4/],
    [{ name: '😀😀😀😀😀' }, 'args.name', /longer than 4/],
    [{ n: -1 }, 'args.n', /less than 0/],
    [{ n: 100.5 }, 'args.n', /greater than 100/],
    [{ n: '5' }, 'args.n', /type number, got string/],
    [{ n: null }, 'args.n', /type number, got null/],
    [{ page: 1.5 }, 'args.page', /type integer/],
    [{ page: 0 }, 'args.page', /less than 1/],
    [{ page: 2 ** 60 }, 'args.page', /type integer/],
    [{ tags: ['a', 'B'] }, 'args.tags[1]', /pattern/],
    [{ tags: ['a', 7] }, 'args.tags[1]', /type string/],
    [{ tags: ['a', 'b', 'c', 'd'] }, 'args.tags', /more than 3/],
    [{ tags: 'a' }, 'args.tags', /type array/],
  ];
  for (const [extra, arg, detail] of rejected) {
    const r = refused(checkToolCall(p, 'db', 'query', { ...ok, ...extra }));
    assert.ok(r, JSON.stringify(extra));
    assert.is(r!.code, 'argument_refused');
    assert.is(r!.argument, arg, JSON.stringify(extra));
    assert.match(r!.detail, detail, JSON.stringify(extra));
    assert.ok(r!.detail.startsWith(`${arg} `), r!.detail);
  }
});

test('strings - pattern is RE2: linear time on a pattern that backtracks exponentially in JavaScript', () => {
  const p = policy({ server: 'x', tools: ['t'], args: { s: { pattern: '(a+)+' } } });
  const t0 = performance.now();
  const r = refused(checkToolCall(p, 'x', 't', { s: `${'a'.repeat(5000)}!` }));
  assert.is(r!.argument, 'args.s');
  assert.ok(performance.now() - t0 < 2000, `took ${performance.now() - t0} ms`);
});

// ---------------------------------------------------------------- paths

const ROOTS = ['/srv/project'];

const pathAttacks: [string, RegExp][] = [
  ['/srv/project/../etc/passwd', /\.\./],
  ['/srv/project/a/../../etc', /\.\./],
  ['/srv/project/a/..', /\.\./], // stays inside lexically, but a/.. through a symlink does not
  ['/srv/project/..', /\.\./],
  ['..', /\.\./],
  ['../srv/project', /\.\./],
  ['a/b', /relative/],
  ['srv/project/a', /relative/],
  ['./a', /relative/],
  ['~/a', /relative/],
  ['/etc/passwd', /outside/],
  ['/', /outside/],
  ['/srv', /outside/],
  ['/srv/project2/x', /outside/],
  ['/srv/project2', /outside/],
  ['/srv/projectx', /outside/],
  ['/srv/proj', /outside/],
  ['/SRV/project/a', /outside/],
  ['/srv/project/%2e%2e/etc', /percent-encoded/],
  ['/srv/project/%2E%2E/etc', /percent-encoded/],
  ['/srv/project/..%2fetc', /percent-encoded/],
  ['/srv/project/%2e%2e%2fetc%2fpasswd', /percent-encoded/],
  ['/srv/project/a%2fb', /percent-encoded/],
  ['/srv/project/a%5cb', /percent-encoded/],
  ['/srv/project/a%00.txt', /percent-encoded/],
  ['/srv/project/a%0a', /percent-encoded/],
  ['/srv/project/%252e%252e/etc', /multiply percent-encoded/],
  ['/srv/project/%252E%252e%252Fetc', /multiply percent-encoded/],
  ['/srv/project/%25252e%25252e', /multiply percent-encoded/],
  ['/srv/project/%2525252e', /multiply percent-encoded/],
  ['/srv/project/%252525252e', /too many times/],
  ['/srv/project/%c0%ae%c0%ae/etc', /UTF-8/], // overlong "."
  ['/srv/project/%c0%af', /UTF-8/], // overlong "/"
  ['/srv/project/%e0%80%ae', /UTF-8/], // 3-byte overlong "."
  ['/srv/project/%f0%80%80%ae', /UTF-8/],
  ['/srv/project/%c1%9c', /UTF-8/], // overlong "\"
  ['/srv/project/%25c0%25ae', /UTF-8/], // double-encoded overlong
  ['/srv/project/%ff', /UTF-8/],
  ['/srv/project/a\u0000.txt', /NUL/],
  ['/srv/project/\u0000', /NUL/],
  ['/srv/project/a\nb', /control/],
  ['/srv/project/a\rb', /control/],
  ['/srv/project/a\u007fb', /control/],
  ['/srv/project/a\u0085b', /control/],
  ['/srv/project\\..\\etc', /backslash/],
  ['/srv/project/..\\x', /backslash/],
  ['/srv/project/a\\b', /backslash/],
  ['/srv/project/\uff0e\uff0e/etc', /NFKC/], // fullwidth full stop
  ['/srv/project/\u2024\u2024/etc', /NFKC/], // one dot leader
  ['/srv/project/\u2025/etc', /NFKC/], // two dot leader
  ['/srv/project/\u2026', /NFKC/], // horizontal ellipsis -> "..."
  ['/srv/project/\ufe52\ufe52/etc', /NFKC/], // small full stop
  ['/srv/project\uff0f..\uff0fetc', /NFKC|\.\./], // fullwidth solidus
  ['/srv/project/\uff0f', /NFKC/],
  ['/srv/project/\uff3c', /NFKC/], // fullwidth reverse solidus
  ['/srv/project/\ufe68', /NFKC/], // small reverse solidus
  ['/srv/project/\uff05\uff12\uff45', /NFKC/], // fullwidth "%2e"
  ['/srv/project/a\ud800b', /surrogate/],
  ['/srv/project/\udc00', /surrogate/],
  ['', /empty/],
  [`/srv/project/${'a'.repeat(5000)}`, /longer/],
];

test('paths - every attack spelling is refused, naming the argument', () => {
  for (const [p, why] of pathAttacks) {
    const r = refused(checkToolCall(fs, 'fs', 'read_file', { path: p }));
    assert.ok(r, `accepted ${JSON.stringify(p)}`);
    assert.is(r!.code, 'argument_refused');
    assert.is(r!.argument, 'args.path', JSON.stringify(p));
    assert.match(r!.detail, why, `${JSON.stringify(p)}: ${r!.detail}`);
    assert.ok(r!.detail.startsWith('args.path '), r!.detail);
  }
});

test('paths - legitimate paths are accepted and normalized', () => {
  const good: [string, string][] = [
    ['/srv/project', '/srv/project'],
    ['/srv/project/', '/srv/project'],
    ['/srv/project/a.txt', '/srv/project/a.txt'],
    ['/srv/project/./a', '/srv/project/a'],
    ['/srv/project//a//b/', '/srv/project/a/b'],
    ['//srv/project/a', '/srv/project/a'],
    ['/srv/project/.hidden', '/srv/project/.hidden'],
    ['/srv/project/a..b', '/srv/project/a..b'],
    ['/srv/project/...', '/srv/project/...'], // a name, not a traversal
    ['/srv/project/..a', '/srv/project/..a'],
    ['/srv/project/100%25 done', '/srv/project/100%25 done'], // %25 decodes to a harmless %
    ['/srv/project/50% off', '/srv/project/50% off'],
    ['/srv/project/日本語.txt', '/srv/project/日本語.txt'],
    ['/srv/project/café', '/srv/project/café'],
    ['/srv/project/\ufb01le', '/srv/project/\ufb01le'], // "ﬁ" ligature: NFKC changes it, not the structure
    ['/srv/project/😀', '/srv/project/😀'],
    ['/srv/project/a b', '/srv/project/a b'],
  ];
  for (const [p, n] of good) {
    assert.ok(checkToolCall(fs, 'fs', 'read_file', { path: p }).ok, JSON.stringify(p));
    assert.equal(checkToolPath(p, ROOTS), { ok: true, path: n }, JSON.stringify(p));
  }
});

test('paths - several roots, the root "/", and relative paths against a declared base', () => {
  const multi = policy({ server: 'fs', tools: ['read_file'], args: { path: { path: { roots: ['/srv/a/', '/data'], base: '/data/work' } } } });
  for (const p of ['/srv/a/x', '/data', '/data/x', 'x.txt', 'sub/x.txt', './x']) assert.ok(checkToolCall(multi, 'fs', 'read_file', { path: p }).ok, p);
  for (const p of ['/srv/ab', '/srv', '../x', 'a/../../x', '/database'])
    assert.is(refused(checkToolCall(multi, 'fs', 'read_file', { path: p }))?.argument, 'args.path', p);
  assert.equal(checkToolPath('sub/x', ['/data'], '/data/work'), { ok: true, path: '/data/work/sub/x' });
  const all = policy({ server: 'fs', tools: ['read_file'], args: { path: { path: { roots: ['/'] } } } });
  assert.ok(checkToolCall(all, 'fs', 'read_file', { path: '/etc/hosts' }).ok);
  assert.not.ok(checkToolCall(all, 'fs', 'read_file', { path: '/etc/../x' }).ok);
  assert.not.ok(checkToolCall(all, 'fs', 'read_file', { path: 'etc' }).ok);
});

test('paths - the tool host re-checks after resolving symlinks (recheckRealPath)', () => {
  const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'agentbus-toolpolicy-')));
  try {
    const root = join(tmp, 'project');
    const outside = join(tmp, 'outside');
    mkdirSync(join(root, 'sub'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(root, 'a.txt'), 'a');
    writeFileSync(join(outside, 'secret.txt'), 's');
    symlinkSync(outside, join(root, 'escape')); // directory link pointing outside
    symlinkSync(join(outside, 'secret.txt'), join(root, 'secret-link')); // file link pointing outside
    symlinkSync(join(outside, 'not-yet'), join(root, 'dangling')); // writing through it creates outside/not-yet
    symlinkSync(join(root, 'sub'), join(root, 'inner')); // link that stays inside
    symlinkSync(root, join(tmp, 'root-link')); // the root itself reached through a link

    // the string check cannot see any of this: every one of these passes checkToolPath
    for (const p of ['escape/secret.txt', 'secret-link', 'dangling', 'escape/new.txt']) assert.ok(checkToolPath(join(root, p), [root]).ok, p);

    const ok = (p: string, roots: string | string[] = root) => recheckRealPath(roots, p);
    assert.equal(ok(join(root, 'a.txt')), { ok: true, path: join(root, 'a.txt') });
    assert.equal(ok(root), { ok: true, path: root });
    assert.equal(ok(join(root, 'inner')), { ok: true, path: join(root, 'sub') });
    assert.equal(ok(join(root, 'new-file.txt')), { ok: true, path: join(root, 'new-file.txt') }); // does not exist yet
    assert.equal(ok(join(root, 'sub', 'new', 'deeper.txt')), { ok: true, path: join(root, 'sub', 'new', 'deeper.txt') });
    assert.equal(ok(join(tmp, 'root-link', 'a.txt')), { ok: true, path: join(root, 'a.txt') });
    assert.equal(ok(join(root, 'a.txt'), join(tmp, 'root-link')), { ok: true, path: join(root, 'a.txt') }); // a root given through a link

    for (const p of ['escape', 'escape/secret.txt', 'secret-link', 'escape/new.txt']) {
      const r = ok(join(root, p));
      assert.not.ok(r.ok, p);
      if (!r.ok) assert.match(r.detail, /outside the allowed roots/, p);
    }
    const d = ok(join(root, 'dangling'));
    assert.not.ok(d.ok);
    if (!d.ok) assert.match(d.detail, /cannot be resolved/);
    assert.not.ok(ok(join(root, 'a.txt'), join(tmp, 'missing-root')).ok);
    assert.ok(ok(join(outside, 'secret.txt'), [join(tmp, 'missing-root'), outside]).ok);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- URLs

const web = policy({ server: 'web', tools: ['fetch'], args: { url: { url: { schemes: ['https', 'http'], hosts: ['*'] } } } });
const webExample = policy({
  server: 'web',
  tools: ['fetch'],
  args: { url: { url: { schemes: ['https'], hosts: ['*.example.com', 'example.org', 'bücher.example', '93.184.215.14'] } } },
});

test('urls - WHATWG URL canonicalizes IPv4 spellings and IDNA host forms (what the check relies on)', () => {
  for (const s of [
    '2130706433',
    '0x7f000001',
    '0X7F000001',
    '0177.0.0.1',
    '0177.0000.0000.0001',
    '127.1',
    '127.0.1',
    '0x7f.1',
    '0x7f.0.0.0x1',
    '017700000001',
    '127.0.0.1.',
    '127。0。0。1',
    '127．0．0．1',
    '%31%32%37.0.0.1',
  ]) {
    assert.is(new URL(`http://${s}/`).hostname, '127.0.0.1', s);
  }
  assert.is(new URL('http://0/').hostname, '0.0.0.0');
  assert.is(new URL('http://[::ffff:127.0.0.1]/').hostname, '[::ffff:7f00:1]');
  assert.is(new URL('http://[0:0:0:0:0:0:0:1]/').hostname, '[::1]');
  assert.is(new URL('http://ⓛocalhost/').hostname, 'localhost');
  assert.is(new URL('http://ｌｏｃａｌｈｏｓｔ/').hostname, 'localhost');
  assert.is(new URL('http://LocalHost/').hostname, 'localhost');
  assert.is(new URL('http://bücher.example/').hostname, 'xn--bcher-kva.example');
  // what it does not do: the trailing dot stays, and an empty userinfo vanishes
  assert.is(new URL('http://localhost./').hostname, 'localhost.');
  assert.is(new URL('http://@example.com/').username, '');
  // ...and it reads a backslash as a slash, which other parsers do not
  assert.is(new URL('http://example.com\\@evil.com/').hostname, 'example.com');
  for (const s of ['http://1.2.3.4.5/', 'http://256.0.0.1/', 'http://4294967296/', 'http://09.1/', 'http://[::1%25eth0]/']) assert.throws(() => new URL(s), s);
});

const ssrf: string[] = [
  // loopback in every IPv4 spelling
  'http://127.0.0.1/',
  'http://127.0.0.1:8080/admin',
  'http://127.1/',
  'http://127.0.1/',
  'http://2130706433/',
  'http://0x7f000001/',
  'http://0x7F.0.0.1/',
  'http://0177.0.0.1/',
  'http://0177.1/',
  'http://017700000001/',
  'http://0x7f.0.0.0x1/',
  'http://127.0.0.1./',
  'http://127。0。0。1/',
  'http://127．0．0．1/',
  'http://127.255.255.254/',
  'http://%31%32%37.0.0.1/',
  'http://①②⑦.0.0.1/',
  // unspecified, private, CGNAT, link-local and metadata, multicast, reserved, broadcast
  'http://0.0.0.0/',
  'http://0/',
  'http://0x0/',
  'http://0.1.2.3/',
  'http://10.0.0.1/',
  'http://10.255.255.255/',
  'http://012.0.0.1/',
  'http://167772161/',
  'http://172.16.0.1/',
  'http://172.31.255.255/',
  'http://192.168.0.1/',
  'http://192.168.1.1:80/',
  'http://0xc0a80001/',
  'http://3232235521/',
  'http://100.64.0.1/',
  'http://100.127.255.255/',
  'http://169.254.169.254/latest/meta-data/',
  'http://169.254.0.1/',
  'http://2852039166/',
  'http://0xa9fea9fe/',
  'http://0251.0376.0251.0376/',
  'http://169.254.43518/',
  'http://224.0.0.1/',
  'http://239.255.255.250/',
  'http://240.0.0.1/',
  'http://255.255.255.255/',
  'http://4294967295/',
  'http://192.0.0.1/',
  'http://192.0.2.1/',
  'http://198.18.0.1/',
  'http://198.51.100.1/',
  'http://203.0.113.1/',
  // IPv6
  'http://[::1]/',
  'http://[0:0:0:0:0:0:0:1]/',
  'http://[::]/',
  'http://[fe80::1]/',
  'http://[fe80::a:b:c:d]/',
  'http://[febf::1]/',
  'http://[fc00::1]/',
  'http://[fd00:ec2::254]/',
  'http://[fd12:3456::1]/',
  'http://[fec0::1]/',
  'http://[feff::1]/',
  'http://[ff02::1]/',
  'http://[::ffff:127.0.0.1]/',
  'http://[::ffff:7f00:1]/',
  'http://[::ffff:10.0.0.1]/',
  'http://[::ffff:169.254.169.254]/',
  'http://[::ffff:a9fe:a9fe]/',
  'http://[0:0:0:0:0:ffff:127.0.0.1]/',
  'http://[::ffff:0:127.0.0.1]/',
  'http://[::127.0.0.1]/',
  'http://[::7f00:1]/',
  'http://[::8.8.8.8]/',
  'http://[64:ff9b::127.0.0.1]/',
  'http://[64:ff9b::a9fe:a9fe]/',
  'http://[64:ff9b::10.1.2.3]/',
  'http://[64:ff9b:1::8.8.8.8]/',
  'http://[2002:7f00:1::]/',
  'http://[2002:c0a8:101::1]/',
  'http://[2002:a9fe:a9fe::]/',
  'http://[2001:0::1]/',
  'http://[2001:db8::1]/',
  'http://[100::1]/',
  'http://[1::1]/',
  // names
  'http://localhost/',
  'http://localhost./',
  'http://LOCALHOST/',
  'http://ⓛocalhost/',
  'http://ｌｏｃａｌｈｏｓｔ/',
  'http://foo.localhost/',
  'http://a.b.localhost./',
  'http://localhost.localdomain/',
  'http://metadata/',
  'http://metadata.google.internal/',
  'http://metadata.google.internal./',
  'http://METADATA.GOOGLE.INTERNAL/',
  'http://instance-data/',
  'http://instance-data.ec2.internal/',
  'http://printer.local/',
  'http://router.home.arpa/',
  'http://1.0.0.127.in-addr.arpa/',
  'http://intranet/',
  'http://kubernetes/',
  'http://a..b.com/',
  'http://example.com../',
  // userinfo in any form
  'http://user@example.com/',
  'http://user:pass@example.com/',
  'http://@example.com/',
  'http://:@example.com/',
  'http://example.com@127.0.0.1/',
  'https://user%40x@example.com/',
  // spellings other parsers read differently
  'http://example.com\\@127.0.0.1/',
  'http:\\\\127.0.0.1/',
  ' http://127.0.0.1/',
  'http://127.0.0.1/ ',
  'http://exa\tmple.com/',
  'http://exa\nmple.com/',
  'http:127.0.0.1/',
  'http:/127.0.0.1/',
  'http:///127.0.0.1/',
  'http://exa%6dple.com/',
  'http://[::1%25eth0]/',
  // schemes
  'file:///etc/passwd',
  'gopher://example.com/',
  'ftp://example.com/',
  'ws://example.com/',
  'javascript:alert(1)',
  'data:text/plain,hi',
  'dict://example.com:11211/',
  // not URLs
  '',
  'example.com',
  '//example.com/',
  'http://',
  'http://1.2.3.4.5/',
  'http://256.1.1.1/',
  'http://[::1/',
];

test('urls - every SSRF spelling is refused (host allowlist "*")', () => {
  for (const u of ssrf) {
    const r = refused(checkToolCall(web, 'web', 'fetch', { url: u }));
    assert.ok(r, `accepted ${JSON.stringify(u)}`);
    assert.is(r!.code, 'argument_refused');
    assert.is(r!.argument, 'args.url', u);
    assert.ok(r!.detail.startsWith('args.url '), r!.detail);
  }
});

test('urls - legitimate URLs are accepted and normalized', () => {
  const rule = compileUrlRule({ schemes: ['https', 'http'], hosts: ['*'] });
  const good: [string, string][] = [
    ['https://example.com/', 'https://example.com/'],
    ['https://Example.COM/path?q=1#f', 'https://example.com/path?q=1#f'],
    ['https://example.com./', 'https://example.com./'],
    ['http://8.8.8.8/', 'http://8.8.8.8/'],
    ['http://134744072/', 'http://8.8.8.8/'],
    ['https://[2606:4700:4700::1111]/', 'https://[2606:4700:4700::1111]/'],
    ['https://[::ffff:8.8.8.8]/', 'https://[::ffff:808:808]/'],
    ['https://[64:ff9b::8.8.8.8]/', 'https://[64:ff9b::808:808]/'],
    ['https://[2002:808:808::1]/', 'https://[2002:808:808::1]/'],
    ['https://bücher.example/', 'https://xn--bcher-kva.example/'],
    ['https://example.com:8443/a/../b', 'https://example.com:8443/b'],
    ['https://example.com/a%2f..%2fb', 'https://example.com/a%2f..%2fb'], // path encoding is the server's business
    ['https://localhost.example.com/', 'https://localhost.example.com/'],
    ['https://metadata.example.com/', 'https://metadata.example.com/'],
    ['https://127.0.0.1.example.com/', 'https://127.0.0.1.example.com/'], // a name: the tool host checks what it resolves to
  ];
  for (const [u, n] of good) {
    assert.ok(checkToolCall(web, 'web', 'fetch', { url: u }).ok, u);
    const r = checkToolUrl(u, rule);
    assert.ok(r.ok, u);
    if (r.ok) assert.is(r.url, n);
  }
});

test('urls - scheme and host allowlists (label boundary, apex, IDN, IP literals, ports)', () => {
  const yes = [
    'https://api.example.com/',
    'https://a.b.example.com/x',
    'https://API.EXAMPLE.COM/',
    'https://api.example.com./',
    'https://example.org/',
    'https://bücher.example/',
    'https://xn--bcher-kva.example/',
    'https://93.184.215.14/',
    'https://1572394766/',
  ];
  const no = [
    'https://example.com/',
    'https://evilexample.com/',
    'https://example.com.evil.com/',
    'https://api.example.com.evil.com/',
    'https://sub.example.org/',
    'https://examplexorg/',
    'http://api.example.com/',
    'wss://api.example.com/',
    'https://93.184.215.15/',
    'https://[::ffff:93.184.215.14]/',
    'https://buecher.example/',
  ];
  for (const u of yes) assert.ok(checkToolCall(webExample, 'web', 'fetch', { url: u }).ok, u);
  for (const u of no) assert.is(refused(checkToolCall(webExample, 'web', 'fetch', { url: u }))?.argument, 'args.url', u);
  assert.match(refused(checkToolCall(webExample, 'web', 'fetch', { url: 'http://api.example.com/' }))!.detail, /scheme http is not allowed/);
  assert.match(refused(checkToolCall(webExample, 'web', 'fetch', { url: 'https://evilexample.com/' }))!.detail, /host evilexample.com is not allowed/);
  const ports = compileUrlRule({ schemes: ['https', 'http'], hosts: ['example.com'], ports: [443, 8443] });
  assert.ok(checkToolUrl('https://example.com/', ports).ok);
  assert.ok(checkToolUrl('https://example.com:8443/', ports).ok);
  assert.not.ok(checkToolUrl('http://example.com/', ports).ok);
  assert.not.ok(checkToolUrl('https://example.com:22/', ports).ok);
});

test('urls - isPublicAddress for the tool host (addresses a name resolved to)', () => {
  for (const a of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) assert.ok(isPublicAddress(a), a);
  for (const a of [
    '127.0.0.1',
    '10.1.2.3',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    '::',
    'fe80::1',
    'fd00::1',
    'fec0::1',
    '::ffff:127.0.0.1',
    '64:ff9b::7f00:1',
    '2002:7f00:1::',
    '::7f00:1',
    '2001::1',
    'not-an-ip',
    '',
  ])
    assert.not.ok(isPublicAddress(a), a);
});

// ---------------------------------------------------------------- CEL when:

test('cel - when: accepts, refuses, and refuses on error or non-bool', () => {
  const p = policy({
    server: 'fs',
    tools: ['write_file', 'read_file'],
    args: { path: { path: { roots: ['/srv/project'] } }, mode: { enum: ['r', 'w'] }, size: { type: 'number', optional: true } },
    when: 'args.mode == "r" || (tool == "write_file" && args.path.startsWith("/srv/project/out/") && (!has(args.size) || args.size <= 1024.0))',
  });
  assert.ok(checkToolCall(p, 'fs', 'read_file', { path: '/srv/project/a', mode: 'r' }).ok);
  assert.ok(checkToolCall(p, 'fs', 'write_file', { path: '/srv/project/out/a', mode: 'w' }).ok);
  assert.ok(checkToolCall(p, 'fs', 'write_file', { path: '/srv/project/out/a', mode: 'w', size: 10 }).ok);
  for (const args of [
    { path: '/srv/project/a', mode: 'w' },
    { path: '/srv/project/out/a', mode: 'w', size: 4096 },
  ]) {
    const r = refused(checkToolCall(p, 'fs', 'write_file', args))!;
    assert.is(r.code, 'argument_refused');
    assert.is(r.argument, undefined);
    assert.match(r.detail, /^when: evaluated to false/);
  }
  assert.not.ok(checkToolCall(p, 'fs', 'read_file', { path: '/srv/project/out/a', mode: 'w' }).ok); // tool is bound

  // an evaluation error (a missing key) refuses; has() is the guard
  const e = policy({ server: 'x', tools: ['t'], when: 'args.n > 3.0' });
  assert.ok(checkToolCall(e, 'x', 't', { n: 5 }).ok);
  assert.match(refused(checkToolCall(e, 'x', 't', {}))!.detail, /when: evaluation failed: .*n/);
  assert.match(refused(checkToolCall(e, 'x', 't', { n: 'five' }))!.detail, /when: evaluation failed/);
  // dyn-typed expressions that turn out not to be bool
  const d = policy({ server: 'x', tools: ['t'], when: 'args.flag' });
  assert.ok(checkToolCall(d, 'x', 't', { flag: true }).ok);
  assert.match(refused(checkToolCall(d, 'x', 't', { flag: false }))!.detail, /evaluated to false/);
  assert.match(refused(checkToolCall(d, 'x', 't', { flag: 'yes' }))!.detail, /evaluated to a string, not a bool/);
  assert.match(refused(checkToolCall(d, 'x', 't', { flag: null }))!.detail, /evaluated to a null, not a bool/);
  // JSON numbers are doubles; int() converts
  assert.ok(checkToolCall(policy({ server: 'x', tools: ['t'], when: 'int(args.n) + 1 == 6' }), 'x', 't', { n: 5 }).ok);
  // one comprehension over an argument is fine; lists, sizes, server
  const l = policy({ server: 'x', tools: ['t'], when: 'size(args.paths) <= 3 && args.paths.all(p, p.startsWith("/srv/")) && server == "x"' });
  assert.ok(checkToolCall(l, 'x', 't', { paths: ['/srv/a', '/srv/b'] }).ok);
  assert.not.ok(checkToolCall(l, 'x', 't', { paths: ['/srv/a', '/etc/b'] }).ok);
  assert.not.ok(checkToolCall(l, 'x', 't', { paths: ['/srv/a', '/srv/b', '/srv/c', '/srv/d'] }).ok);
  // a comprehension chained after another (not nested) is allowed
  assert.ok(compileWhen('args.l.filter(x, x > 1.0).all(y, y < 10.0)')({ args: { l: [1, 2, 3] }, server: 's', tool: 't' }) === true);
  // prototype names are not keys
  assert.match(refused(checkToolCall(policy({ server: 'x', tools: ['t'], when: 'has(args.constructor)' }), 'x', 't', {}))!.detail, /false/);
});

test.run();
