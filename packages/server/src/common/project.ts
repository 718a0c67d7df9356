// Where things are. An agentbus project (made by `agentbus init`) has an `agentbus.json` at its
// root; every command run inside it (`dev`, `keygen`, `keys`, `audit`, `tail`) takes its paths
// from there. Outside a project the defaults are the dev bus's own: `.agentbus/dev`, with
// manifests and credentials inside it — the same places for `keygen` and for `dev`.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';

export const PROJECT_FILE = 'agentbus.json';
export const DEFAULT_STATE_DIR = '.agentbus/dev';

const projectSchema = z.strictObject({
  /** The contracts module (ESM, .mjs/.js; .ts when run under tsx). */
  contracts: z.string().min(1),
  /** Manifests directory. */
  manifests: z.string().min(1).default('manifests'),
  /** Credentials, JetStream, the audit store, logs: one directory, git-ignored. */
  state_dir: z.string().min(1).default('.agentbus'),
  /** The A2A gateway's config (docs/a2a.md): when set, `agentbus dev` runs the gateway too. */
  a2a: z.string().min(1).optional(),
});

export interface Layout {
  /** The project file, when inside a project. */
  projectFile?: string;
  root: string;
  stateDir: string;
  manifestsDir: string;
  credsDir: string;
  /** The project's contracts module (absolute), when inside a project. */
  contracts?: string;
  /** The A2A gateway config (absolute), when the project enables the gateway. */
  a2aConfig?: string;
}

export class ProjectError extends Error {
  override name = 'ProjectError';
}

/** The nearest agentbus.json at or above `from`. */
export function findProjectFile(from = process.cwd()): string | undefined {
  let dir = resolve(from);
  for (;;) {
    const f = join(dir, PROJECT_FILE);
    if (existsSync(f)) return f;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

export function readProject(file: string): Layout {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ProjectError(`${file}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  const r = projectSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new ProjectError(`${file} at ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  const root = dirname(resolve(file));
  const stateDir = resolve(root, r.data.state_dir);
  return {
    projectFile: resolve(file),
    root,
    stateDir,
    manifestsDir: resolve(root, r.data.manifests),
    credsDir: join(stateDir, 'creds'),
    contracts: resolve(root, r.data.contracts),
    ...(r.data.a2a ? { a2aConfig: resolve(root, r.data.a2a) } : {}),
  };
}

/**
 * The layout for a command: inside a project its file decides; else the dev defaults, under
 * `stateDir` when given. Explicit options override either.
 */
export function layout(o: { stateDir?: string; cwd?: string } = {}): Layout {
  const file = findProjectFile(o.cwd);
  if (file) {
    const l = readProject(file);
    if (!o.stateDir) return l;
    const stateDir = resolve(o.cwd ?? process.cwd(), o.stateDir);
    return { ...l, stateDir, credsDir: join(stateDir, 'creds') };
  }
  const stateDir = resolve(o.cwd ?? process.cwd(), o.stateDir ?? DEFAULT_STATE_DIR);
  return { root: resolve(o.cwd ?? process.cwd()), stateDir, manifestsDir: join(stateDir, 'manifests'), credsDir: join(stateDir, 'creds') };
}
