// `agentbus init [DIR]`: a project of one's own that `agentbus dev` runs as is — contracts, two
// agents with their keys and manifests, an example that makes them talk, a package.json.
import { existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { PROJECT_FILE } from '../common/project.js';
import { materializePolicy } from './dev.js';

const here = dirname(fileURLToPath(import.meta.url));

export class InitError extends Error {
  override name = 'InitError';
}

/** The template: src/examples/quickstart (source) or dist/examples/quickstart (built). */
export function templateDir(): string {
  return join(here, '..', 'examples', 'quickstart');
}

/** `init --ts`'s template: src/examples/quickstart-ts (copied as is by the build). */
export function tsTemplateDir(): string {
  return join(here, '..', 'examples', 'quickstart-ts');
}

const TEMPLATE_FILES = ['contracts.mjs', 'example.mjs', 'README.md'];
/** `init --ts`: a TypeScript project — contracts.ts and example.ts compiled by tsc into dist/. */
const TS_TEMPLATE_FILES = ['contracts.ts', 'example.ts', 'tsconfig.json', 'README.md'];
/**
 * What a TypeScript project compiles with (the workspace's own ranges; test/init-ts.test.ts
 * checks they stay the same as the root package.json's).
 */
export const TS_DEV_DEPENDENCIES = { typescript: '^7.0.2', '@types/node': '^20.19.43' };
/** `init --python`: the Python example, and the contracts it loads (writePythonContracts). */
const PYTHON_FILES = ['example.py', 'contracts.json'];

/**
 * `init --python`: contracts.json, the project's contracts as JSON Schema (what the Python SDK
 * loads; `agentbus contracts export -o contracts.json` rewrites it after a change), from the
 * template's contracts module (the project's own needs its npm install first).
 */
export async function writePythonContracts(dir: string): Promise<void> {
  const { exportContracts } = await import('../ops/contracts-export.js');
  const { registryFromModule } = await import('@agentbus/sdk/internal');
  const { pathToFileURL } = await import('node:url');
  const reg = registryFromModule((await import(pathToFileURL(join(templateDir(), 'contracts.mjs')).href)) as Record<string, unknown>);
  writeFileSync(join(dir, 'contracts.json'), JSON.stringify(exportContracts(reg, join(dir, 'manifests')), null, 2) + '\n');
}

/**
 * How the project depends on a package of ours: the installed version, or — run from a clone,
 * where the packages are not on a registry — a file: link to the workspace package.
 */
function dependencySpec(name: string): string {
  const req = createRequire(import.meta.url);
  let pkgFile: string;
  try {
    pkgFile = realpathSync(req.resolve(`${name}/package.json`));
  } catch {
    pkgFile = '';
  }
  if (!pkgFile && name === '@agentbus/server') pkgFile = realpathSync(join(here, '..', '..', 'package.json'));
  if (!pkgFile) return '^0.1.0';
  const dir = dirname(pkgFile);
  const version = (JSON.parse(readFileSync(pkgFile, 'utf8')) as { version: string }).version;
  return dir.split(sep).includes('node_modules') ? `^${version}` : `file:${dir}`;
}

/**
 * Where the Python SDK (not on PyPI yet) installs from: the python/ directory of the clone this
 * agentbus runs from, or undefined (installed from tarballs: no clone known).
 */
export function pythonSdkDir(): string | undefined {
  const dir = resolve(here, '..', '..', '..', '..', 'python');
  return existsSync(join(dir, 'pyproject.toml')) ? dir : undefined;
}

/** The zod range the SDK itself depends on (one zod for contracts and SDK). */
function sdkZodSpec(): string {
  try {
    const req = createRequire(import.meta.url);
    const pkg = JSON.parse(readFileSync(req.resolve('@agentbus/sdk/package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    return pkg.dependencies?.zod ?? '^4.0.0';
  } catch {
    return '^4.0.0';
  }
}

export interface InitResult {
  dir: string;
  agents: string[];
  files: string[];
}

export function initProject(target: string, o: { python?: boolean; ts?: boolean } = {}): InitResult {
  const dir = resolve(target);
  const files = o.ts ? TS_TEMPLATE_FILES : TEMPLATE_FILES;
  const planned = [PROJECT_FILE, 'package.json', '.gitignore', 'manifests', '.agentbus', ...files, ...(o.python ? PYTHON_FILES : [])];
  const clash = planned.filter((f) => existsSync(join(dir, f)));
  if (clash.length) throw new InitError(`${dir} already has ${clash.join(', ')}; init writes into an empty directory or a new one`);
  const tpl = templateDir();
  const from = o.ts ? tsTemplateDir() : tpl;
  for (const f of files) if (!existsSync(join(from, f))) throw new InitError(`template file missing: ${join(from, f)} (a broken install?)`);
  if (!existsSync(join(tpl, 'policy.yaml'))) throw new InitError(`template file missing: ${join(tpl, 'policy.yaml')} (a broken install?)`);
  mkdirSync(dir, { recursive: true });
  for (const f of files) writeFileSync(join(dir, f), readFileSync(join(from, f)));
  if (o.python) writeFileSync(join(dir, 'example.py'), readFileSync(join(tpl, 'example.py')));
  // a TypeScript project: the verifier loads what tsc compiled
  writeFileSync(
    join(dir, PROJECT_FILE),
    JSON.stringify({ contracts: o.ts ? 'dist/contracts.js' : 'contracts.mjs', manifests: 'manifests', state_dir: '.agentbus' }, null, 2) + '\n',
  );
  const name =
    basename(dir)
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, '-')
      .replace(/^[._-]+/, '') || 'my-agents';
  const pkg = {
    name,
    version: '0.1.0',
    private: true,
    type: 'module',
    scripts: o.ts
      ? { build: 'tsc', dev: 'agentbus dev', example: 'tsc && node dist/example.js', audit: 'agentbus audit top', tail: 'agentbus tail' }
      : { dev: 'agentbus dev', example: 'node example.mjs', audit: 'agentbus audit top', tail: 'agentbus tail' },
    dependencies: { '@agentbus/sdk': dependencySpec('@agentbus/sdk'), zod: sdkZodSpec() },
    devDependencies: { '@agentbus/server': dependencySpec('@agentbus/server'), ...(o.ts ? TS_DEV_DEPENDENCIES : {}) },
  };
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  writeFileSync(join(dir, '.gitignore'), `# secret keys, JetStream, the audit store, logs\n.agentbus/\nnode_modules/\n${o.ts ? 'dist/\n' : ''}`);
  const manifests = join(dir, 'manifests');
  const creds = join(dir, '.agentbus', 'creds');
  mkdirSync(manifests, { recursive: true });
  mkdirSync(creds, { recursive: true, mode: 0o700 });
  const agents = materializePolicy(join(tpl, 'policy.yaml'), manifests, creds);
  return { dir, agents, files: readdirSync(dir).sort() };
}
