// The options a commander `--help` text declares, read from its option column only (not from
// descriptions, which name other commands' options): "  -h, --help    display help" → --help.
// Checks are by whole option, so `--tls` is not found because `--tls-ca` exists.

/** Every long option (`--name`) the help's "Options:" lines declare. */
export function helpOptions(help: string): Set<string> {
  const out = new Set<string>();
  for (const line of help.split('\n')) {
    // an option line: two spaces, then a flag; the flags end at the first run of 2+ spaces
    const m = /^ {2}(-[^ ].*?)(?: {2,}|$)/.exec(line);
    if (!m) continue;
    for (const f of m[1]!.matchAll(/(?:^|[ ,])(--[a-z0-9][a-z0-9-]*)/gi)) out.add(f[1]!);
  }
  return out;
}

/** `opt` (`--name` or `--name=value`) is one of the help's options, whole. */
export function helpHasOption(help: string, opt: string): boolean {
  return helpOptions(help).has(opt.split('=')[0]!);
}

/** `opt` appears in free text as a whole option (not as the start of a longer one, e.g. --tls in --tls-ca). */
export function textHasOption(text: string, opt: string): boolean {
  const esc = opt.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?<![\\w-])${esc}(?![\\w-])`).test(text);
}
