// Globs in manifests: `*` matches any run of characters (dots included), everything else is
// literal. "*" alone matches everything; "task.*" matches "task.assign" and "task.a.b".
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('*')
    .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`);
}

export function compileGlobs(globs: readonly string[]): (s: string) => boolean {
  if (globs.includes('*')) return () => true;
  const exact = new Set(globs.filter((g) => !g.includes('*')));
  const res = globs.filter((g) => g.includes('*')).map(globToRegExp);
  return (s) => exact.has(s) || res.some((r) => r.test(s));
}
