// Sign/verify per backend and the full seal (encode+sign) / open (decode+verify) path.
import { randomBytes } from 'node:crypto';
import { backends } from '../packages/protocol/src/ed25519.js';
import type { Ed25519Backend } from '../packages/protocol/src/ed25519.js';
import { sealEnvelope, openEnvelope } from '../packages/protocol/src/envelope.js';
import { opsPerSec } from './util.js';
import type { Figure } from './util.js';

export function cryptoFigures(ms = 700): Figure[] {
  const out: Figure[] = [];
  const seed = randomBytes(32);
  const msgs = Array.from({ length: 256 }, () => randomBytes(200));
  const list = Object.values(backends).filter((b): b is Ed25519Backend => b !== undefined);
  for (const b of list) {
    const pub = b.publicKey(seed);
    const sign = b.signer(seed);
    const sigs = msgs.map((m) => sign(m));
    const t = b.name === 'noble' ? Math.min(ms, 400) : ms;
    out.push({ name: `sign_${b.name}_per_s`, value: opsPerSec((i) => sign(msgs[i & 255]!), t), unit: 'ops/s' });
    out.push({ name: `verify_${b.name}_per_s`, value: opsPerSec((i) => b.verify(pub, msgs[i & 255]!, sigs[i & 255]!), t), unit: 'ops/s' });
  }
  const b = backends.sodium ?? backends.node;
  const pub = b.publicKey(seed);
  const sign = b.signer(seed);
  const payload = new TextEncoder().encode(JSON.stringify({ title: 'x'.repeat(200), priority: 1 }));
  const seal = () =>
    sealEnvelope({
      sender: 'planner',
      keyId: 'k1',
      sign,
      recipient: 'coder',
      type: 'task.assign',
      payload,
      contentType: 'application/json',
      metadata: { prompt_version: 'v1' },
    });
  out.push({ name: 'seal_envelope_per_s', value: opsPerSec(() => seal(), ms), unit: 'ops/s' });
  const envs = Array.from({ length: 256 }, seal);
  const resolve = () => pub;
  out.push({
    name: 'open_envelope_per_s',
    value: opsPerSec((i) => {
      if (!openEnvelope(envs[i & 255]!.bytes, resolve, b).ok) throw new Error('open failed');
    }, ms),
    unit: 'ops/s',
  });
  return out;
}
