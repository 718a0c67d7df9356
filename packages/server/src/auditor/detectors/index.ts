// The detector registry: rule name → pure function + config schema.
import { z } from 'zod';
import { detectRejectionBurst, rejectionBurstSchema, RULE as REJECTION_BURST } from './rejection-burst.js';
import { detectRateSpike, rateSpikeSchema, RULE as RATE_SPIKE } from './rate-spike.js';
import { detectNewEdges, newEdgeSchema, RULE as NEW_EDGE } from './new-edge.js';
import { detectSignatureFailures, signatureFailureSchema, RULE as SIGNATURE_FAILURE } from './signature-failure.js';
import { detectFanOut, fanOutSchema, RULE as FAN_OUT } from './fan-out.js';
import { detectPayloadLoops, payloadLoopSchema, RULE as PAYLOAD_LOOP } from './payload-loop.js';
import type { DetectorInput, Finding } from './types.js';

export type { DetectorInput, Finding, MinuteCount, EdgeFirstSeen, PayloadRepeat, Severity } from './types.js';
export { detectRejectionBurst, detectRateSpike, detectNewEdges, detectSignatureFailures, detectFanOut, detectPayloadLoops };

export const RULES = [REJECTION_BURST, RATE_SPIKE, NEW_EDGE, SIGNATURE_FAILURE, FAN_OUT, PAYLOAD_LOOP] as const;

export const rulesSchema = z.object({
  rejection_burst: rejectionBurstSchema.prefault({}),
  rate_spike: rateSpikeSchema.prefault({}),
  new_edge: newEdgeSchema.prefault({}),
  signature_failure: signatureFailureSchema.prefault({}),
  fan_out: fanOutSchema.prefault({}),
  payload_loop: payloadLoopSchema.prefault({}),
});
export type RulesConfig = z.infer<typeof rulesSchema>;

/** Run every enabled detector. Pure. */
export function runDetectors(input: DetectorInput, rules: RulesConfig): Finding[] {
  return [
    ...detectRejectionBurst(input, rules.rejection_burst),
    ...detectRateSpike(input, rules.rate_spike),
    ...detectNewEdges(input, rules.new_edge),
    ...detectSignatureFailures(input, rules.signature_failure),
    ...detectFanOut(input, rules.fan_out),
    ...detectPayloadLoops(input, rules.payload_loop),
  ];
}

/** Minutes of per-minute history the detectors need behind `now`. */
export function lookbackMinutes(rules: RulesConfig): number {
  return Math.max(
    rules.rejection_burst.windowMinutes,
    rules.rate_spike.windowMinutes + rules.rate_spike.baselineMinutes,
    rules.new_edge.windowMinutes,
    rules.signature_failure.windowMinutes,
    2 * rules.fan_out.windowMinutes,
    rules.payload_loop.windowMinutes,
  );
}
