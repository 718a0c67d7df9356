// Every `agentbus …` command in the README exists, with every option it shows.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { helpHasOption, helpOptions } from './helpers/cli-help.js';

const readme = readFileSync('README.md', 'utf8');
const blocks = [...readme.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]!);
const commands = blocks.flatMap((b) => b.split('\n')).map((l) => l.replace(/#.*$/, '').trim()).filter((l) => l.startsWith('agentbus '));

test('readme - the two commands are there', () => {
  assert.ok(blocks.some((b) => b.trim() === './setup && npm run demo'));
  assert.ok(blocks.some((b) => b.trim() === 'npm test'));
  const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
  assert.ok(pkg.scripts.demo && pkg.scripts.test && pkg.scripts.bench);
  const ci = readFileSync('.ci/run', 'utf8');
  assert.match(ci, /npm test/);
});

test('readme - every agentbus command and option exists', () => {
  assert.ok(commands.length >= 10, `found ${commands.length} commands`);
  const helpCache = new Map<string, string>();
  for (const line of commands) {
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
        const r = spawnSync(process.execPath, ['--import', 'tsx', 'packages/server/src/bus/cli.ts', ...path.slice(0, n), '--help'], { encoding: 'utf8' });
        helpCache.set(key, r.status === 0 ? r.stdout : '');
      }
      help = helpCache.get(key)!;
      if (help && (n === 1 || !/Commands:/.test(help) || n === path.length)) break;
    }
    assert.ok(help, `agentbus ${path.join(' ')} has no help: ${line}`);
    // options up to a bare `--` (after it, the words are another program's: `mcp pin -- npx ...`)
    const end = words.indexOf('--');
    for (const opt of (end < 0 ? words : words.slice(0, end)).filter((w) => w.startsWith('--'))) assert.ok(helpHasOption(help, opt), `${line}: option ${opt} not in help`);
  }
});

test('readme - options are matched whole, from the help\'s option column: --tls is not found because --tls-ca exists', () => {
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
