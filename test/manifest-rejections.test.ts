// The manifest's rejection budget: zod-validated, defaults from bus/defaults.ts, compiled for the verifier.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { stringify } from 'yaml';
import { parseManifest, Policy, ManifestError } from '../packages/protocol/src/manifest.js';
import { DEFAULT_REJECTIONS_PER_SECOND, DEFAULT_REJECTION_BURST } from '../packages/protocol/src/constants.js';
import { generateIdentity } from '../packages/sdk/src/identity.js';

const id = generateIdentity('probe');
const base = { agent: 'probe', nats_user: id.natsPublicKey, keys: id.keys.map((k) => k.publicInfo()), topics: { subscribe: ['news', 'alerts'] } };

test('manifest - rejections defaults to the documented budget and compiles per millisecond', () => {
  const m = parseManifest(stringify(base), 'probe.yaml');
  assert.equal(m.rejections, { per_second: DEFAULT_REJECTIONS_PER_SECOND, burst: DEFAULT_REJECTION_BURST });
  const a = new Policy([parseManifest(stringify({ ...base, rejections: { per_second: 2, burst: 7 } }), 'probe.yaml')]).agents.get('probe')!;
  assert.is(a.rejectPerMs, 0.002);
  assert.is(a.rejectBurst, 7);
  assert.equal([...a.subscribeTopics], ['news', 'alerts']);
});

test('manifest - a bad rejections budget names the file and the field', () => {
  for (const [bad, path] of [
    [{ per_second: 0, burst: 5 }, 'rejections.per_second'],
    [{ per_second: 1, burst: 1.5 }, 'rejections.burst'],
    [{ per_second: 1 }, 'rejections.burst'],
    [{ per_second: 1, burst: 2, extra: 1 }, 'rejections'],
  ] as const) {
    const e = (() => {
      try {
        parseManifest(stringify({ ...base, rejections: bad }), 'probe.yaml');
      } catch (x) {
        return x;
      }
      return undefined;
    })();
    assert.instance(e, ManifestError);
    assert.is((e as ManifestError).path, path, JSON.stringify(bad));
    assert.match((e as ManifestError).message, /^probe\.yaml at rejections/);
  }
});

test.run();
