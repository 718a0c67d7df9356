#!/usr/bin/env node
// Runs every test/*.test.ts file in its own Node process (isolation: a file that leaks a
// handle or crashes cannot take the others down), two at a time (the machines have 2 cores),
// each with a time limit. Prints each file's output, then one line: "N passed, N failed".
// Then the Python SDK's tests (python/): mypy --strict and pytest, counted into the same line.
// Usage: node scripts/run-tests.mjs [filter-substring ...]   ("python" selects only the Python step)
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const filters = process.argv.slice(2);
const files = readdirSync(join(root, 'test'))
  .filter((f) => f.endsWith('.test.ts'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
const PARALLEL = Number(process.env.TEST_PARALLEL ?? 2);
const TIMEOUT_MS = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 300_000);
const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');

let passed = 0;
let failed = 0;
const failures = [];

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', join('test', file)], {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const text = strip(out);
      const total = Number(/Total:\s+(\d+)/.exec(text)?.[1] ?? NaN);
      const ok = Number(/Passed:\s+(\d+)/.exec(text)?.[1] ?? NaN);
      const skipped = Number(/Skipped:\s+(\d+)/.exec(text)?.[1] ?? 0);
      let p = 0,
        f = 0;
      if (Number.isFinite(total) && Number.isFinite(ok)) {
        p = ok;
        f = total - ok - skipped;
      }
      // A file that crashed, timed out or exited non-zero without a failing test counts one failure.
      if (timedOut || ((code !== 0 || signal) && f === 0) || !Number.isFinite(total)) f += 1;
      passed += p;
      failed += f;
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(`\n=== ${file} (${secs}s) ${f ? 'FAIL' : 'ok'}${timedOut ? ' (timed out)' : ''}\n${text}`);
      if (f) failures.push(file);
      resolve();
    });
  });
}

const queue = [...files];
await Promise.all(
  Array.from({ length: Math.min(PARALLEL, queue.length) }, async () => {
    while (queue.length) await runFile(queue.shift());
  }),
);

// The Python SDK (python/), after the TS files (its end-to-end tests run the built CLI, and two
// builds at once would race). The interpreter: $AGENTBUS_PYTHON, else python/.venv (made by
// .ci/run), else python3. A missing interpreter or dependency, a collection error, or no tests
// at all (pytest exit 5) is a failure, never a skip.
const runPython = filters.length === 0 || filters.some((x) => 'python'.includes(x) || x.includes('python'));
function run(cmd, args, o = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...o });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, o.timeoutMs ?? 900_000);
    child.on('error', (e) => (out += `\n${e.message}\n`));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, out: strip(out) });
    });
  });
}
/** Is packages/server/dist/cli/index.js newer than every file under packages/{protocol,sdk,server}/src? */
function builtIsFresh() {
  const dist = join(root, 'packages', 'server', 'dist', 'cli', 'index.js');
  if (!existsSync(dist)) return false;
  const built = statSync(dist).mtimeMs;
  const newest = (dir) =>
    readdirSync(dir, { withFileTypes: true }).reduce(
      (m, e) => Math.max(m, e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs),
      0,
    );
  return ['protocol', 'sdk', 'server'].every((pkg) => newest(join(root, 'packages', pkg, 'src')) <= built);
}
if (runPython) {
  const started = Date.now();
  const venv = join(root, 'python', '.venv', 'bin', 'python');
  const py = process.env.AGENTBUS_PYTHON ?? (existsSync(venv) ? venv : 'python3');
  let text = '';
  let p = 0,
    f = 0;
  // the end-to-end tests run the built CLI: build unless the build is newer than every source
  // (npm test builds before it runs this script)
  const build = builtIsFresh() ? { code: 0, out: '' } : await run('npm', ['run', 'build', '--silent']);
  if (build.code !== 0) {
    text += `npm run build failed:\n${build.out}`;
    f += 1;
  }
  const mypy = await run(py, ['-m', 'mypy'], { cwd: join(root, 'python') });
  text += `$ mypy --strict (python/pyproject.toml)\n${mypy.out}`;
  if (mypy.code === 0 && /Success: no issues found/.test(mypy.out)) p += 1;
  else f += 1;
  if (build.code === 0) {
    const pytest = await run(py, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-o', 'console_output_style=classic'], { cwd: join(root, 'python') });
    text += `$ pytest (python/tests)\n${pytest.out}`;
    const summary =
      pytest.out
        .trim()
        .split('\n')
        .reverse()
        .find((l) => /^=*\s*(\d+ \w+(, )?)+.* in [\d.]+s/.test(l) || /no tests ran/.test(l)) ?? '';
    const count = (word) => Number(new RegExp(`(\\d+) ${word}`).exec(summary)?.[1] ?? 0);
    p += count('passed');
    const bad = count('failed') + count('errors?');
    f += bad;
    // exit 5: no tests collected; any other non-zero exit without a counted failure (a crash,
    // an import error of a missing dependency) is one failure
    if (pytest.code !== 0 && bad === 0) f += 1;
  }
  passed += p;
  failed += f;
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  process.stdout.write(`\n=== python (${py}) (${secs}s) ${f ? 'FAIL' : 'ok'}\n${text}`);
  if (f) failures.push('python');
}

if (failures.length) console.log(`\nfailed files: ${failures.join(', ')}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed || (files.length === 0 && !runPython) ? 1 : 0);
