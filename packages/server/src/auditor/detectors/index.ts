// The detectors: a list of plugin modules (contract: ./plugin.ts). Adding a detector is adding
// its file and one line here; the rules config schema, the look-back, the inputs to load, the
// rule names and runDetectors are all derived from the list. Order is the order findings come in.
import { detectorSet } from './plugin.js';
import type { z } from 'zod';
import * as rejectionBurst from './rejection-burst.js';
import * as rateSpike from './rate-spike.js';
import * as newEdge from './new-edge.js';
import * as signatureFailure from './signature-failure.js';
import * as fanOut from './fan-out.js';
import * as payloadLoop from './payload-loop.js';
import * as toolRefusal from './tool-refusal.js';
import * as contentGuard from './content-guard.js';
import * as memoryRefusal from './memory-refusal.js';
import * as policyProbe from './policy-probe.js';

export const DETECTORS = [
  rejectionBurst,
  rateSpike,
  newEdge,
  signatureFailure,
  fanOut,
  payloadLoop,
  toolRefusal,
  contentGuard,
  memoryRefusal,
  policyProbe,
] as const;

const set = detectorSet(DETECTORS);

/** Every rule name, in list order (metrics, CLI help, benches). */
export const RULES = set.rules;
/** `detect.rules`: one key per detector, each defaulting to its own schema's defaults. */
export const rulesSchema = set.schema;
export type RulesConfig = z.infer<typeof rulesSchema>;
/** Run every detector (each returns [] when disabled). Pure. */
export const runDetectors = set.run;
/** Minutes of per-minute history the detectors need behind `now`. */
export const lookbackMinutes = set.lookbackMinutes;
/** Look-back and the edges/payloads the detectors read, for the loader. */
export const detectorNeeds = set.needs;
/** Is this a detector's rule; its sentence for an alert; the audit rows an alert is about. */
export const isDetectorRule = set.has;
export const describeAlert = set.describe;
export const alertEvidence = set.evidence;

/** The threshold detectors (plugin.ts `thresholdRule`): detect.ts also runs them every few seconds over the open minute. */
const thresholds = detectorSet(DETECTORS.filter((d) => 'thresholdRule' in d && d.thresholdRule === true));
export const THRESHOLD_RULES = thresholds.rules;
/** Run the threshold detectors only (each reads `minutes` only). Pure. */
export const runThresholdDetectors = thresholds.run;
/** Minutes of per-minute history the threshold detectors need behind `now`. */
export const thresholdLookbackMinutes = thresholds.lookbackMinutes;

export { detectorSet } from './plugin.js';
export type { AnyDetector, Detector, DetectorSet, InputNeeds, InputRequest } from './plugin.js';
export type { AlertView, EvidenceQuery } from './explain.js';
export type { DetectorInput, Finding, MinuteCount, EdgeFirstSeen, PayloadRepeat, Severity } from './types.js';
