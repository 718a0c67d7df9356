// The detection benchmark's harness (bench/detection-sim.ts) on a reduced simulation: 5 agents,
// the loud incident of each kind, real chDB, the real detection engine at simulated time. Every
// incident kind must be caught by a rule designed for it, naming the responsible agent; the same
// traffic without incidents must raise no alert at all (warm-up included).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { INCIDENT_KINDS, runSimulation } from '../bench/detection-sim.js';
import type { SimResult } from '../bench/detection-sim.js';
import { formatResult, resultFigures } from '../bench/detection.js';

let r: SimResult;

test.before(async () => {
  r = await runSimulation({ agents: 5, rounds: 1, seed: 11 });
});

test('bench-detection - every incident kind is injected once and caught by an expected rule', () => {
  assert.equal(r.incidents.map((o) => o.spec.kind).sort(), [...INCIDENT_KINDS].sort());
  for (const o of r.incidents) {
    assert.ok(o.caught, `${o.spec.kind} (${o.spec.agents.join('+')}) missed:\n${formatResult(r)}`);
    assert.ok(o.secondsToDetect! >= 0 && o.secondsToDetect! <= (o.endMs - o.startMs) / 1000 + 600, `${o.spec.kind}: ${o.secondsToDetect} s`);
  }
  // the rule designed for each kind fires (not only new_edge)
  const primary = {
    probe: 'rejection_burst',
    forged_key: 'signature_failure',
    replay_storm: 'signature_failure',
    loop: 'payload_loop',
    fan_out: 'fan_out',
    identity_reuse: 'identity_reuse',
  };
  for (const o of r.incidents) assert.ok(o.firstByRule[primary[o.spec.kind]] !== undefined, `${o.spec.kind}: ${primary[o.spec.kind]} did not fire`);
});

test('bench-detection - the clean run raises no alert, the incident run none naming a bystander', () => {
  assert.equal(
    r.clean.alerts.map((a) => `${a.rule}:${a.agents.join(',')}@${a.detected_at}`),
    [],
  );
  assert.equal(
    r.unattributed.map((a) => `${a.rule}:${a.agents.join(',')}@${a.detected_at}`),
    [],
  );
});

test('bench-detection - figures', () => {
  const f = new Map(resultFigures(r).map((x) => [x.name, x.value]));
  assert.is(f.get('detection_incidents_total'), 6);
  assert.is(f.get('detection_incidents_caught'), 6);
  assert.is(f.get('detection_false_alerts_per_hour'), 0);
  assert.ok(Number.isFinite(f.get('detection_mean_seconds_to_detect')));
});

test.run();
