// The README is short and true: the two commands, the statement that `.ci/run` is what CI runs,
// at most 250 lines. The manual lives in docs/ and in each package's README: every `agentbus …`
// command in a bash block of any of them exists, with every option it shows, and every relative
// link between them resolves.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { helpHasOption, helpOptions } from './helpers/cli-help.js';
import { cliArgs } from './helpers/cli-bin.js';

const readme = readFileSync('README.md', 'utf8');
const MANUAL = [
  'README.md',
  ...readdirSync('docs')
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
  'packages/protocol/README.md',
  'packages/sdk/README.md',
  'packages/server/README.md',
];
const bashBlocks = (text: string) => [...text.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]!);
const blocks = bashBlocks(readme);
// `agentbus …` or `npx agentbus …`, up to a `&&`
const commandsOf = (text: string) =>
  bashBlocks(text)
    .flatMap((b) => b.split('\n'))
    .map((l) => l.replace(/#.*$/, '').split('&&')[0]!.trim().replace(/^npx /, ''))
    .filter((l) => l.startsWith('agentbus '));
const commands = MANUAL.flatMap((f) => commandsOf(readFileSync(f, 'utf8')).map((line) => ({ file: f, line })));

test('readme - the two commands are there', () => {
  assert.ok(blocks.some((b) => b.trim() === './setup && npm run demo'));
  assert.ok(blocks.some((b) => b.trim() === 'npm test'));
  const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
  assert.ok(pkg.scripts.demo && pkg.scripts.test && pkg.scripts.bench);
  const ci = readFileSync('.ci/run', 'utf8');
  assert.match(ci, /npm test/);
  assert.match(readme, /`bash \.ci\/run` is what CI runs/);
});

test('readme - fits on a few screens (at most 250 lines) and points at every document', () => {
  const lines = readme.split('\n').length;
  assert.ok(lines <= 250, `README.md has ${lines} lines`);
  for (const f of MANUAL.filter((f) => f !== 'README.md' && f !== 'docs/README.md' && f !== 'docs/signature-rule.md'))
    assert.ok(readme.includes(`(${f})`), `README.md does not link ${f}`);
});

test('readme - every relative link in the README, docs/ and the package READMEs resolves', () => {
  for (const f of MANUAL) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue;
      assert.ok(existsSync(join(dirname(f), target)), `${f} links ${target}, which does not exist`);
    }
  }
});

test('readme - every install instruction is true while the packages are not published: no npm install of @agentbus/*, no pip install agentbus-sdk, only tarballs, file: links and the clone', () => {
  // an install of our packages by name fetches from a registry that does not have them (404), or
  // the unrelated npm package `agentbus`; a path (a tarball, the clone's python/) is fine
  const fromRegistry = [
    /\bnpm (?:install|i|add)\b[^\n#]*?(?:^|\s)(?:@agentbus\/[a-z-]+|agentbus)(?:@[^\s]+)?(?=\s|$)/m,
    /\bpip3? install\b[^\n#]*?(?:^|\s)['"]?agentbus(?:-sdk)?(?:\[[^\]]*\])?['"]?(?=\s|$)/m,
  ];
  const texts = [
    ...MANUAL,
    'python/README.md',
    'packages/server/src/examples/quickstart/example.mjs',
    'packages/server/src/examples/quickstart/example.py',
    'packages/server/src/examples/quickstart/README.md',
  ];
  const bad: string[] = [];
  for (const f of texts) {
    readFileSync(f, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        for (const re of fromRegistry) if (re.test(line)) bad.push(`${f}:${i + 1}: ${line.trim()}`);
      });
  }
  assert.equal(bad, [], `installs from a registry that does not have the packages:\n${bad.join('\n')}`);
  // what init prints: the Python SDK from the clone, by its path
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-readme-init-'));
  try {
    const r = spawnSync(process.execPath, cliArgs('init', '--python', join(dir, 'p')), { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    for (const re of fromRegistry) assert.not.match(r.stdout, re);
    assert.match(r.stdout, new RegExp(`pip install -e ${join(process.cwd(), 'python').replace(/[.]/g, '\\.')}\\s`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readme - every agentbus command and option in the README, docs/ and the package READMEs exists', () => {
  // the README alone showed 49 before the manual moved to docs/
  assert.ok(commands.length >= 60, `found ${commands.length} commands`);
  for (const f of ['README.md', 'docs/guide.md', 'docs/tools.md', 'docs/memory.md', 'docs/guards.md', 'docs/audit.md', 'docs/production.md', 'docs/a2a.md'])
    assert.ok(
      commands.some((c) => c.file === f),
      `no agentbus command found in ${f}`,
    );
  const helpCache = new Map<string, string>();
  for (const { file, line } of commands) {
    const words = line.split(/\s+/).slice(1);
    // the subcommand path: leading words that are not options or arguments
    const path: string[] = [];
    for (const w of words) {
      if (w.startsWith('-') || /[./"A-Z]/.test(w) || path.length >= 2) break;
      path.push(w);
    }
    let help = '';
    for (let n = path.length; n >= 1; n--) {
      const key = path.slice(0, n).join(' ');
      if (!helpCache.has(key)) {
        const r = spawnSync(process.execPath, cliArgs(...path.slice(0, n), '--help'), { encoding: 'utf8' });
        helpCache.set(key, r.status === 0 ? r.stdout : '');
      }
      help = helpCache.get(key)!;
      if (help && (n === 1 || !/Commands:/.test(help) || n === path.length)) break;
    }
    assert.ok(help, `${file}: agentbus ${path.join(' ')} has no help: ${line}`);
    // options up to a bare `--` (after it, the words are another program's: `mcp pin -- npx ...`)
    const end = words.indexOf('--');
    for (const opt of (end < 0 ? words : words.slice(0, end)).filter((w) => w.startsWith('--')))
      assert.ok(helpHasOption(help, opt), `${file}: ${line}: option ${opt} not in help`);
  }
});

test("readme - options are matched whole, from the help's option column: --tls is not found because --tls-ca exists", () => {
  const help = [
    'Usage: agentbus verifier [options]',
    '',
    'Options:',
    '  --tls-ca <file>        CA certificate (agentbus dev --tls writes it)',
    '  -p, --partitions <n>   sender partitions; must match nats-config',
    '                         --out-dir (a continuation line)',
    '  --no-color             plain output',
    '  -h, --help             display help for command',
  ].join('\n');
  assert.equal([...helpOptions(help)].sort(), ['--help', '--no-color', '--partitions', '--tls-ca']);
  assert.not.ok(helpHasOption(help, '--tls'), 'a prefix of --tls-ca, and named in a description');
  assert.not.ok(helpHasOption(help, '--out-dir'), 'named in a continuation line');
  assert.ok(helpHasOption(help, '--tls-ca'));
  assert.ok(helpHasOption(help, '--partitions=8'));
});

test.run();
