// Monitor mode (docs/design.md §18): whether the verifier enforces an agent's policy or only
// records what it would refuse. Per agent (manifest key `enforce:`), with a default for the whole
// project in the manifests directory (`_defaults.yaml`, read by everything that reads the
// manifests: the verifier, the memory service, the tool host, `manifest check`, `agentbus dev`).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ManifestError, parseManifestWith } from './manifest-keys.js';

/** `enforce` (the default): policy refuses. `monitor`: policy only records "would refuse"; integrity is enforced in both. */
export const EnforceMode = z.enum(['enforce', 'monitor']);
export type EnforceMode = z.infer<typeof EnforceMode>;

/**
 * The project defaults file of a manifests directory: its name starts with `_`, so it is never
 * read as a manifest (isManifestFile), and no agent id can start with `_`.
 */
export const DEFAULTS_FILES = ['_defaults.yaml', '_defaults.yml', '_defaults.json'] as const;

/** What `_defaults.yaml` may say: defaults for every manifest of the directory that does not say it itself. */
export const ProjectDefaults = z.strictObject({
  /** The mode of every agent whose manifest has no `enforce:` of its own. */
  enforce: EnforceMode.default('enforce'),
});
export type ProjectDefaults = z.infer<typeof ProjectDefaults>;

/** The defaults file of `dir` (the first of DEFAULTS_FILES that exists), or undefined. */
export function defaultsFileOf(dir: string): string | undefined {
  for (const n of DEFAULTS_FILES) {
    const f = join(dir, n);
    if (existsSync(f)) return f;
  }
  return undefined;
}

/** The project defaults of a manifests directory (none: enforce). A bad file throws ManifestError naming it and the field. */
export function loadProjectDefaults(dir: string): ProjectDefaults & { file?: string } {
  const file = defaultsFileOf(dir);
  if (!file) return { enforce: 'enforce' };
  const text = readFileSync(file, 'utf8');
  // an empty file is no defaults (YAML parses it as null)
  if (!text.trim()) return { enforce: 'enforce', file };
  return { ...parseManifestWith(ProjectDefaults, text, file), file };
}

/** Part of a directory's signature (dirSignature): the defaults file's name, size and mtime, or ''. */
export function defaultsSignature(dir: string): string {
  const file = defaultsFileOf(dir);
  if (!file) return '';
  try {
    const s = statSync(file);
    return `${file}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'unreadable';
  }
}

/** The agents of these manifests in monitor mode (their `enforce`, as loadManifestDir resolved it). */
export function monitorAgents(manifests: readonly { agent: string; enforce?: EnforceMode | undefined }[]): string[] {
  return manifests.filter((m) => m.enforce === 'monitor').map((m) => m.agent);
}

export { ManifestError };
