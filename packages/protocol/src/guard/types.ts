// Content guards (docs/design.md §12): what a finding is, and the policy that says what each kind costs.
import { z } from 'zod';

/** What the scanner looks for. */
export const GUARD_KINDS = ['credential', 'invisible_text', 'control_chars'] as const;
export type GuardKind = (typeof GUARD_KINDS)[number];

/**
 * One thing the scanner found in one string.
 * - `path`: where — `$` is the payload's root (`$.messages[2].content`), `metadata.<key>` a
 *   header metadata value. A finding in an object key has the key's own path and a detail that
 *   starts with `key:`. A key that holds a credential is written `[<redacted sha256:…>]`.
 * - `rule`: which check (`tag_chars`, `bidi_control`, `c0_control`, `secretlint:github/…`,
 *   `agentbus:jwt`, …); docs/decisions.md lists them.
 * - `detail`: short, bounded, and never the matched secret (code points and offsets; for tag
 *   characters and variation-selector runs the hidden ASCII they spell, with any credential in
 *   it redacted).
 * - `hash`: credentials only — the first 12 hex digits of SHA-256 of the matched text, to
 *   correlate the same secret across messages without storing it.
 */
export interface GuardFinding {
  kind: GuardKind;
  path: string;
  rule?: string;
  detail: string;
  hash?: string;
}

export const GUARD_ACTIONS = ['reject', 'flag', 'off'] as const;
export type GuardAction = (typeof GUARD_ACTIONS)[number];

/**
 * A guard policy, as a manifest or a contract writes it: per kind `reject` (the message is
 * refused), `flag` (delivered; the finding is audited and alerted) or `off` (not scanned).
 * Missing kinds take the layer below (see `resolveGuardPolicy`), in the end the default.
 */
export const GuardPolicy = z.strictObject({
  credential: z.enum(GUARD_ACTIONS).optional(),
  invisible_text: z.enum(GUARD_ACTIONS).optional(),
  control_chars: z.enum(GUARD_ACTIONS).optional(),
});
export type GuardPolicy = z.infer<typeof GuardPolicy>;
export type ResolvedGuardPolicy = Readonly<Record<GuardKind, GuardAction>>;

/** docs/design.md §12: reject credentials and invisible text; control characters likewise. */
export const DEFAULT_GUARD_POLICY: ResolvedGuardPolicy = Object.freeze({ credential: 'reject', invisible_text: 'reject', control_chars: 'reject' });

/** Layers applied in order over the default, each kind from the last layer that sets it. */
export function resolveGuardPolicy(...layers: (GuardPolicy | undefined)[]): ResolvedGuardPolicy {
  const out: Record<GuardKind, GuardAction> = { ...DEFAULT_GUARD_POLICY };
  for (const l of layers) if (l) for (const k of GUARD_KINDS) if (l[k]) out[k] = l[k];
  return Object.freeze(out);
}

/** The kinds a policy wants scanned (not `off`): pass as `ScanOptions.kinds`. */
export function scannedKinds(p: ResolvedGuardPolicy): GuardKind[] {
  return GUARD_KINDS.filter((k) => p[k] !== 'off');
}

/** Findings sorted by what the policy does with them; `reject` if any is to be rejected. */
export function applyGuardPolicy(
  findings: readonly GuardFinding[],
  p: ResolvedGuardPolicy,
): { action: 'reject' | 'flag' | 'pass'; rejected: GuardFinding[]; flagged: GuardFinding[] } {
  const rejected = findings.filter((f) => p[f.kind] === 'reject');
  const flagged = findings.filter((f) => p[f.kind] === 'flag');
  return { action: rejected.length ? 'reject' : flagged.length ? 'flag' : 'pass', rejected, flagged };
}

export interface ScanOptions {
  /** Path of the scanned value's root: `$` for a payload (default), `metadata` for metadata. */
  rootPath?: string;
  /** Most findings returned for one call (default 32). */
  maxFindings?: number;
  /** Most findings of one kind (default 16), so a flood of one kind cannot hide another. */
  maxPerKind?: number;
  /** Kinds to look for (default all, or the policy's). A kind left out is not scanned at all. */
  kinds?: readonly GuardKind[];
  /**
   * The policy the findings will meet (default: every kind rejected). The caps bound what is
   * recorded, never whether a kind the policy rejects is found: until a finding of a rejected
   * kind is recorded, such kinds are looked for to the end of the input whatever the caps (the
   * first one found is recorded even past `maxFindings`); only kinds it flags stop at their cap.
   */
  policy?: ResolvedGuardPolicy;
}

export const DEFAULT_MAX_FINDINGS = 32;
export const DEFAULT_MAX_FINDINGS_PER_KIND = 16;
/** Longest `detail`, in characters. */
export const MAX_FINDING_DETAIL = 256;
