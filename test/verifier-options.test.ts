// The verifier's options go through one zod schema (verifier/options.ts): an option that is
// missing or `undefined` takes its default and never switches a check off. Before the schema,
// `{ maxSkewMs: undefined }` spread over the default and every freshness comparison against NaN
// was false: stale and future envelopes were accepted. The first suite is that bug, end to end.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Verdict, reasonName } from '../packages/protocol/src/proto.js';
import * as D from '../packages/protocol/src/constants.js';
import { verifierOptionsSchema, parseVerifierOptions } from '../packages/server/src/verifier/options.js';
import type { VerifierOptions } from '../packages/server/src/verifier/options.js';
import { startBus } from './helpers/bus.js';
import type { TestBus } from './helpers/bus.js';
import { contracts } from './helpers/contracts.js';
import { sealAs, request } from './helpers/hostile.js';

const e2e = suite('verifier options: undefined takes the default');
let bus: TestBus;
e2e.before(async () => {
  bus = await startBus({
    // explicitly undefined, as a caller that forwards an unset CLI flag or config field would pass
    // it (the replay window is given: before the schema, a window derived from an undefined skew
    // was NaN and the verifier could not even take its partitions)
    verifierOptions: { maxSkewMs: undefined, replayWindowMs: 2 * D.DEFAULT_MAX_SKEW_MS + 5000 },
    agents: {
      planner: { send: [{ to: 'coder', types: ['task.assign'] }], rejections: { per_second: 100, burst: 1000 } },
      coder: { send: [] },
    },
  });
});
e2e.after(async () => bus?.stop());

e2e('maxSkewMs: undefined keeps the default freshness window: stale and future envelopes are rejected', async () => {
  const nc = await bus.rawAgent('planner');
  const now = Date.now();
  const stale = await request(nc, 'planner', sealAs(bus, 'planner', { sentAtMs: now - 10 * 60_000 }).bytes);
  assert.is(reasonName(stale.reason), 'stale_timestamp', `a 10-minute-old envelope got ${reasonName(stale.reason)} (verdict ${stale.verdict})`);
  const future = await request(nc, 'planner', sealAs(bus, 'planner', { sentAtMs: now + 10 * 60_000 }).bytes);
  assert.is(reasonName(future.reason), 'future_timestamp');
  // just past the default window fails, just inside it passes: the window is the default's
  const past = await request(nc, 'planner', sealAs(bus, 'planner', { sentAtMs: Date.now() - D.DEFAULT_MAX_SKEW_MS - 2000 }).bytes);
  assert.is(reasonName(past.reason), 'stale_timestamp');
  const inside = await request(nc, 'planner', sealAs(bus, 'planner', { sentAtMs: Date.now() - D.DEFAULT_MAX_SKEW_MS + 5000 }).bytes);
  assert.is(inside.verdict, Verdict.VERDICT_ACCEPTED, reasonName(inside.reason));
});

e2e.run();

const schema = suite('verifier options: the schema');
const base: VerifierOptions = { servers: 'nats://127.0.0.1:4222', manifestsDir: '/nonexistent', contracts };

schema('every defaulted option, missing or undefined, takes its default', () => {
  const withUndefined: VerifierOptions = {
    ...base,
    maxSkewMs: undefined,
    replayWindowMs: undefined,
    partitions: undefined,
    manifestPollMs: undefined,
    deliveryTimeoutMs: undefined,
    replicas: undefined,
    id: undefined,
    depthKey: undefined,
    leaseTtlMs: undefined,
    auditBatchMax: undefined,
    metricsPort: undefined,
    metricsHost: undefined,
    logger: undefined,
    backend: undefined,
    credentials: undefined,
    connectOptions: undefined,
  };
  for (const opts of [base, withUndefined]) {
    const o = parseVerifierOptions(opts);
    assert.is(o.maxSkewMs, D.DEFAULT_MAX_SKEW_MS);
    assert.is(o.replayWindowMs, 2 * D.DEFAULT_MAX_SKEW_MS + 5000);
    assert.is(o.partitions, D.DEFAULT_PARTITIONS);
    assert.is(o.manifestPollMs, D.DEFAULT_MANIFEST_POLL_MS);
    assert.is(o.deliveryTimeoutMs, D.DEFAULT_DELIVERY_TIMEOUT_MS);
    assert.is(o.replicas, 1);
    assert.is(o.contracts, contracts, 'objects pass through by reference');
  }
  // the replay window follows a given skew
  assert.is(parseVerifierOptions({ ...base, maxSkewMs: 1000 }).replayWindowMs, 7000);
});

schema('a bad value is refused with the option named, never silently replaced', () => {
  const bad: [Partial<VerifierOptions> | Record<string, unknown>, RegExp][] = [
    [{ maxSkewMs: 0 }, /maxSkewMs/],
    [{ maxSkewMs: Number.NaN }, /maxSkewMs/],
    [{ maxSkewMs: -5 }, /maxSkewMs/],
    [{ maxSkewMs: 1.5 }, /maxSkewMs/],
    [{ partitions: 0 }, /partitions/],
    [{ replayWindowMs: 1000 }, /replayWindowMs.*2 × maxSkewMs/],
    [{ deliveryTimeoutMs: 50 }, /deliveryTimeoutMs/],
    [{ depthKey: new Uint8Array(8) }, /depthKey/],
    [{ metricsPort: 70000 }, /metricsPort/],
    [{ contracts: {} }, /contracts/],
    [{ servers: [] }, /servers/],
    [{ maxSkew: 5 }, /maxSkew/], // a misspelt option is an error, not a default
  ];
  for (const [extra, re] of bad) {
    const err = (() => {
      try {
        parseVerifierOptions({ ...base, ...extra } as VerifierOptions);
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    assert.ok(err instanceof RangeError, `${JSON.stringify(extra)} was accepted`);
    assert.match(err!.message, re);
  }
  assert.ok(verifierOptionsSchema.safeParse({ ...base, maxSkewMs: 500, replayWindowMs: 1000 }).success);
});

schema.run();
