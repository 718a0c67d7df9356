// The detector plugin contract, and everything derived from a list of detectors: the rules
// config schema, the look-back, the inputs to load, the rule names and `run`. A detector is a
// module (or object) with these fields; `auditor/detectors/index.ts` is the list. Nothing
// outside a detector's own file names it.
import { z } from 'zod';
import type { DetectorInput, Finding } from './types.js';
import type { AlertView, EvidenceQuery } from './explain.js';
import { duration, obj } from './explain.js';

/** What a detector reads besides `minutes`. Both optional: a detector that reads neither omits `inputs`. */
export interface InputRequest {
  /** `DetectorInput.edges`: edges first seen within this many minutes (the current one included). */
  edgesMinutes?: number;
  /** `DetectorInput.payloads`: payload hashes seen at least `minRepeats` times within `windowMinutes`. */
  payloads?: { windowMinutes: number; minRepeats: number };
  /** `DetectorInput.links`: the causal chains of this many minutes (the current one included). */
  causalMinutes?: number;
  /** `DetectorInput.buckets`: this many minutes of 10-minute counts (windows of hours). */
  longMinutes?: number;
}

/** What the loader fetches for one evaluation: the union of every detector's request. */
export interface InputNeeds extends InputRequest {
  /** Minutes of per-minute aggregates behind `now` (the current minute included). */
  lookbackMinutes: number;
}

/** A detector plugin. `S` is its config schema; every field must have a default (`schema.parse({})` succeeds). */
export interface Detector<R extends string = string, S extends z.ZodType = z.ZodType> {
  /** The rule name: the key under `detect.rules`, the alert's `rule`, the `agentbus.alert.<rule>` subject token. */
  readonly rule: R;
  readonly schema: S;
  /** Minutes of per-minute aggregates it needs behind `now`, the current minute included. */
  lookbackMinutes(cfg: z.output<S>): number;
  /** Pure: no I/O, no clock (`input.now`). Returns [] when disabled. */
  detect(input: DetectorInput, cfg: z.output<S>): Finding[];
  inputs?(cfg: z.output<S>): InputRequest;
  /**
   * A threshold rule: it fires when a count of its rows in its window reaches a threshold, and
   * reads nothing but `minutes`. Such a detector also runs every few seconds over the open minute
   * (detect.ts, `detect.thresholdIntervalMs`), so its first alert comes within seconds of the
   * row that crossed the threshold; counts only grow as the minute fills, so running early
   * finds nothing the full minute would not. A threshold detector may not ask for `inputs`.
   */
  readonly thresholdRule?: boolean;
  /** One sentence saying what its alert means, from the alert's evidence (undefined: the evidence lacks what it needs). */
  describe?(who: string, evidence: Record<string, unknown>, duration: string, alert: AlertView): string | undefined;
  /** The raw audit rows its alert is about (a filter over the alert's window), or undefined. */
  evidence?(alert: AlertView, evidence: Record<string, unknown>): EvidenceQuery | undefined;
}

// `any` for the config: a list holds detectors of different config types (methods are bivariant).
export type AnyDetector = Detector<string, z.ZodType<any, any>>;

/** The rules config shape of a list: rule name → that detector's schema, `{}` by default. */
export type RulesShape<L extends readonly AnyDetector[]> = { [D in L[number] as D['rule']]: z.ZodPrefault<D['schema']> };

/** Rule names become NATS subject tokens and config keys. */
const RULE_NAME = /^[a-z][a-z0-9_]{0,63}$/;

export interface DetectorSet<L extends readonly AnyDetector[]> {
  readonly detectors: L;
  /** Rule names, in list order. */
  readonly rules: readonly L[number]['rule'][];
  /** `detect.rules`: one key per detector, each defaulting to its schema's defaults. */
  readonly schema: z.ZodObject<RulesShape<L>>;
  /** The longest look-back of any detector (disabled ones included, as before plugins). */
  lookbackMinutes(rules: z.output<z.ZodObject<RulesShape<L>>>): number;
  /** Look-back plus the union of the detectors' input requests. */
  needs(rules: z.output<z.ZodObject<RulesShape<L>>>): InputNeeds;
  /** Run every detector over `input`, in list order. Pure. */
  run(input: DetectorInput, rules: z.output<z.ZodObject<RulesShape<L>>>): Finding[];
  /** Does one of these detectors raise this rule? */
  has(rule: string): boolean;
  /** Its detector's sentence for the alert (undefined: an unknown rule, or evidence without what the sentence needs). */
  describe(alert: AlertView): string | undefined;
  /** Its detector's evidence rows for the alert (undefined: an unknown rule, or none). */
  evidence(alert: AlertView): EvidenceQuery | undefined;
}

/**
 * Derive everything from a list of detectors. Throws TypeError naming the detector when one
 * breaks the contract: a rule name that is not [a-z][a-z0-9_]*, a duplicate, a schema whose
 * defaults do not parse from {}, or a look-back at those defaults that is not a positive integer.
 */
export function detectorSet<const L extends readonly AnyDetector[]>(detectors: L): DetectorSet<L> {
  const seen = new Set<string>();
  for (const d of detectors) {
    const name = JSON.stringify(d.rule);
    if (typeof d.rule !== 'string' || !RULE_NAME.test(d.rule)) throw new TypeError(`detector ${name}: rule must match ${RULE_NAME}`);
    if (seen.has(d.rule)) throw new TypeError(`detector ${name}: listed twice`);
    seen.add(d.rule);
    if (typeof d.detect !== 'function' || typeof d.lookbackMinutes !== 'function')
      throw new TypeError(`detector ${name}: needs detect() and lookbackMinutes()`);
    const defaults = d.schema.safeParse({});
    if (!defaults.success) throw new TypeError(`detector ${name}: schema defaults do not parse from {}: ${z.prettifyError(defaults.error)}`);
    if (d.thresholdRule && d.inputs) throw new TypeError(`detector ${name}: a threshold detector reads only minutes (no inputs())`);
    const lb = d.lookbackMinutes(defaults.data);
    if (!Number.isInteger(lb) || lb < 1) throw new TypeError(`detector ${name}: lookbackMinutes at the defaults must be a positive integer, got ${lb}`);
  }
  // Built untyped and cast once: zod's object() rewrites the mapped shape's modifiers, which
  // TypeScript cannot relate back to RulesShape<L> for a generic L.
  const schema = z.object(Object.fromEntries(detectors.map((d) => [d.rule, d.schema.prefault({})])));
  type Rules = Record<string, unknown>;
  const byRule = new Map<string, AnyDetector>(detectors.map((d) => [d.rule, d]));
  const lookbackMinutes = (rules: Rules) => Math.max(...detectors.map((d) => d.lookbackMinutes(rules[d.rule])));
  const set = {
    detectors,
    rules: detectors.map((d) => d.rule),
    schema,
    lookbackMinutes,
    needs(rules: Rules): InputNeeds {
      const out: InputNeeds = { lookbackMinutes: lookbackMinutes(rules) };
      for (const d of detectors) {
        const r = d.inputs?.(rules[d.rule]);
        if (r?.edgesMinutes !== undefined) out.edgesMinutes = Math.max(out.edgesMinutes ?? 0, r.edgesMinutes);
        if (r?.causalMinutes !== undefined) out.causalMinutes = Math.max(out.causalMinutes ?? 0, r.causalMinutes);
        if (r?.longMinutes !== undefined) out.longMinutes = Math.max(out.longMinutes ?? 0, r.longMinutes);
        // One payload read per evaluation: several requests get the widest window and the
        // lowest threshold, so a second reader must filter (and its counts span that window).
        if (r?.payloads) {
          out.payloads = out.payloads
            ? {
                windowMinutes: Math.max(out.payloads.windowMinutes, r.payloads.windowMinutes),
                minRepeats: Math.min(out.payloads.minRepeats, r.payloads.minRepeats),
              }
            : { ...r.payloads };
        }
      }
      return out;
    },
    run(input: DetectorInput, rules: Rules): Finding[] {
      return detectors.flatMap((d) => d.detect(input, rules[d.rule]));
    },
    has: (rule: string) => byRule.has(rule),
    describe(a: AlertView): string | undefined {
      const d = byRule.get(a.rule);
      return d?.describe?.(a.agents[0] || 'an unnamed agent', obj(a.evidence) ?? {}, duration(Date.parse(a.window_end) - Date.parse(a.window_start)), a);
    },
    evidence(a: AlertView): EvidenceQuery | undefined {
      return byRule.get(a.rule)?.evidence?.(a, obj(a.evidence) ?? {});
    },
  };
  return set as unknown as DetectorSet<L>;
}
