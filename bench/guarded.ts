// Content guards (issue 16): the verifier's throughput with the guards on (the default: every
// payload's text and metadata scanned) beside the same verifier with the sender's manifest
// turning them off, on realistic text payloads (prose in several scripts, a URL, an id) of
// 256 B and 4 KiB; interleaved rounds, medians; and the scanner alone in MB/s on those payloads.
//   node --import tsx bench/guarded.ts [--json]   (also part of npm run bench)
import { sealEnvelope } from '../packages/protocol/src/index.js';
import { scanPayload } from '../packages/protocol/src/guard/index.js';
import { startBenchBus, spawnService, stopChild, throughput, waitServed, confirmingReceiver } from './bus.js';
import type { TestBus } from '../test/helpers/bus.js';
import { report } from './util.js';
import type { Figure } from './util.js';

const PROSE = [
  'The planner asked for a summary of the OAuth device flow; see https://datatracker.ietf.org/doc/html/rfc8628#section-3.4 for the polling interval.',
  'Résumé : le flux « device » convient à la CLI. Zusammenfassung: passt gut. Итог: подходит для входа в CLI.',
  'مرحبا، هذا ملخص قصير. שלום, זה סיכום קצר. 要点：设备授权流程适合命令行登录。 ticket 7f3c2a9e-41d0-4c1b-9b6f-0f5e2d1c8a77 ✅',
];

function payload(size: number): Uint8Array {
  let text = '';
  for (let i = 0; Buffer.byteLength(text) < size - 40; i++) text += `${PROSE[i % PROSE.length]} `;
  while (Buffer.byteLength(text) > size - 40) text = text.slice(0, -1);
  return new TextEncoder().encode(JSON.stringify({ text }));
}

function envelopes(bus: TestBus, n: number, p: Uint8Array): Uint8Array[] {
  const k = bus.ids.get('planner')!.currentKey();
  return Array.from(
    { length: n },
    () =>
      sealEnvelope({ sender: 'planner', keyId: k.keyId, sign: k.sign, recipient: 'coder', type: 'note.post', payload: p, contentType: 'application/json' })
        .bytes,
  );
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function guardedFigures(o: { n?: number; rounds?: number } = {}): Promise<Figure[]> {
  const n = o.n ?? 10_000;
  // 5 rounds: one run of either mode moves ±10 % on a shared 2-core box, and the figure is a difference of two
  const rounds = o.rounds ?? 5;
  const figures: Figure[] = [];
  const bus = await startBenchBus();
  try {
    const sender = await bus.rawAgent('planner');
    await confirmingReceiver(bus);
    const planner = bus.manifests.get('planner')!;
    for (const size of [256, 4096]) {
      const p = payload(size);
      const suffix = size === 256 ? '' : `_${size}b`;
      const runs: Record<'on' | 'off', number[]> = { on: [], off: [] };
      for (let r = 0; r < rounds; r++) {
        for (const mode of ['on', 'off'] as const) {
          bus.writeManifest({ ...planner, ...(mode === 'off' ? { guards: { credential: 'off', invisible_text: 'off', control_chars: 'off' } } : {}) });
          const v = await spawnService(bus, 'verifier');
          await waitServed(bus, ['planner']);
          await throughput(sender, envelopes(bus, 1000, p)); // warm-up
          const t = await throughput(sender, envelopes(bus, n, p));
          await stopChild(v);
          if (t.accepted !== n) throw new Error(`guards ${mode}: accepted ${t.accepted} of ${n} (${JSON.stringify(t.reasons)})`);
          runs[mode].push(t.perSec);
        }
      }
      bus.writeManifest(planner);
      figures.push({
        name: `verifier_msgs_per_s_guarded${suffix}`,
        value: median(runs.on),
        unit: `msgs/s, guards on (median of ${rounds}; text payloads of ${p.length} B)`,
      });
      figures.push({ name: `verifier_msgs_per_s_unguarded${suffix}`, value: median(runs.off), unit: 'msgs/s, the same with the guards off in the manifest' });
      figures.push({
        name: `guard_cost${suffix}`,
        value: 1 - median(runs.on) / median(runs.off),
        unit: 'share of the throughput the guards cost (target ≤ 0.10)',
      });
      // the scanner alone
      const reps = size === 256 ? 20_000 : 3000;
      for (let i = 0; i < 500; i++) scanPayload(p);
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) scanPayload(p);
      const s = (performance.now() - t0) / 1000;
      figures.push({
        name: `guard_scan_mb_per_s${suffix}`,
        value: (reps * p.length) / s / 1e6,
        unit: `MB/s of scanPayload on those payloads (${((s / reps) * 1e6).toFixed(1)} µs each)`,
      });
    }
  } finally {
    await bus.stop();
  }
  return figures;
}

if (import.meta.url === `file://${process.argv[1]}`) report(await guardedFigures(), process.argv.includes('--json'));
