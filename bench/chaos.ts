// npm run chaos [-- --json] [-- --short]
// Steady signed traffic (with a share of scripted attacks) through a 3-node NATS cluster with
// two verifier processes and an auditor process; while it flows: kill one NATS node and
// restart it, SIGKILL a verifier and start a new one, SIGKILL the auditor mid-batch and
// restart it, make the ClickHouse store fail for a while. Then reconcile what senders saw
// acknowledged, what receivers got and what the audit table holds. Loopback only; every
// process it starts is stopped at the end.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { stringify } from 'yaml';
import { startDevBus } from '../packages/server/src/devbus/dev.js';
import { stopChild } from './bus.js';
import type { DevBus } from '../packages/server/src/devbus/dev.js';
import { connectAgent } from '../packages/sdk/src/client.js';
import type { AgentClient } from '../packages/sdk/src/client.js';
import { sealEnvelope, toHex } from '../packages/protocol/src/envelope.js';
import { AgentbusError } from '../packages/sdk/src/errors.js';
import { contracts } from '../packages/server/src/examples/research-team/contracts.js';

export interface ChaosResult {
  sent: number;
  acked: number;
  delivered: number;
  lost: number;
  duplicates: number;
  wire_redeliveries: number;
  send_failures: number;
  /** When each lost message was acknowledged (seconds into the run), to match it with a fault. */
  lost_acked_at_s: number[];
  attacks: number;
  attacks_blocked: number;
  audit_rows: number;
  audit_missing: number;
  faults: { at_s: number; fault: string }[];
  duration_s: number;
}

const SENDERS = ['w0', 'w1', 'w2', 'w3'];

export async function runChaos(opts: { short?: boolean; log?: (s: string) => void } = {}): Promise<ChaosResult> {
  const log = opts.log ?? (() => undefined);
  const scale = opts.short ? 0.5 : 1;
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-chaos-'));
  const policy = {
    agents: {
      ...Object.fromEntries(SENDERS.map((s) => [s, { send: [{ to: 'sink', types: ['status.note'] }], rate: { per_second: 500, burst: 1000 } }])),
      sink: { send: [] },
      // its scripted attacks (≈ 10 rejections/s) must each be checked, not shed past a budget:
      // the drill is about replay and forgery detection while nodes and processes die
      mallory: { send: [{ to: 'sink', types: ['status.note'] }], rate: { per_second: 500, burst: 1000 }, rejections: { per_second: 100, burst: 200 } },
    },
  };
  writeFileSync(join(dir, 'policy.yaml'), stringify(policy));
  const children = new Set<ChildProcess>();
  const faults: { at_s: number; fault: string }[] = [];
  const t0 = Date.now();
  const fault = (f: string) => {
    faults.push({ at_s: Math.round((Date.now() - t0) / 100) / 10, fault: f });
    log(`  ⚡ ${f}`);
  };
  let bus: DevBus | undefined;
  const clients: AgentClient[] = [];
  const faultFile = join(dir, 'store-fault');
  try {
    log('▶ 3-node NATS cluster');
    bus = await startDevBus({
      stateDir: join(dir, 'state'),
      contracts,
      policyFile: join(dir, 'policy.yaml'),
      nodes: 3,
      withVerifier: false,
      withAuditor: false,
      logLevel: 'warn',
    });
    const b = bus;
    const cli = [join(process.cwd(), 'packages', 'server', 'src', 'cli', 'index.ts')];
    const spawnCli = (args: string[]): Promise<ChildProcess> => {
      const child = spawn(process.execPath, ['--import', 'tsx', ...cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      children.add(child);
      child.once('exit', () => children.delete(child));
      let err = '';
      child.stderr!.on('data', (d) => (err += d));
      return new Promise((resolve, reject) => {
        const t = setInterval(() => {
          if (/ready|auditor/i.test(err) || (args[0] === 'auditor' && Date.now() - started > 4000)) {
            clearInterval(t);
            resolve(child);
          }
          if (child.exitCode !== null) {
            clearInterval(t);
            reject(new Error(`${args[0]} exited: ${err.slice(-500)}`));
          }
        }, 50);
        const started = Date.now();
      });
    };
    const verifierArgs = (id: string) => [
      'verifier',
      '--manifests',
      b.manifestsDir,
      '--contracts',
      join(process.cwd(), 'packages/server/src/examples/research-team/contracts.ts'),
      '--creds',
      join(b.stateDir, 'creds/verifier.creds.json'),
      '--nats',
      b.url,
      '--id',
      id,
      '--replicas',
      '3',
      '--depth-key-file',
      b.depthKeyPath,
      '--log-level',
      'warn',
    ];
    const auditorArgs = [
      'auditor',
      '--nats',
      b.url,
      '--creds',
      join(b.stateDir, 'creds/auditor.creds.json'),
      '--store',
      b.storePath,
      '--batch-max-wait-ms',
      '1000',
      '--ack-wait-ms',
      '5000',
      '--backoff-max-ms',
      '1000',
      '--no-detect',
      '--log-level',
      'warn',
      '--fault-file',
      faultFile,
    ];
    log('▶ two verifier processes and an auditor process');
    // A fresh cluster elects its JetStream leaders first, and a loaded 2-core machine can make a
    // JetStream API call time out: start each process with a few retries.
    const startWithRetry = async (args: string[]): Promise<ChildProcess> => {
      for (let i = 0; ; i++) {
        try {
          return await spawnCli(args);
        } catch (e) {
          if (i >= 15) throw e;
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    };
    let va = await startWithRetry(verifierArgs('va'));
    const vb = await startWithRetry(verifierArgs('vb'));
    let auditor = await startWithRetry(auditorArgs);
    await new Promise((r) => setTimeout(r, 2500)); // partitions spread over both verifiers

    const connectAs = async (agent: string) => {
      const c = await connectAgent({
        servers: b.urls,
        credentials: b.credsPath(agent),
        contracts,
        manifestsDir: b.manifestsDir,
        timeoutMs: 1500,
        retries: 12,
        connectOptions: { maxReconnectAttempts: -1, reconnectTimeWait: 200 },
      });
      clients.push(c);
      return c;
    };
    const sink = await connectAs('sink');
    const delivered = new Map<string, number>();
    let wire = 0;
    sink.nc.subscribe('agentbus.to.sink.>', { callback: () => void wire++ });
    void (async () => {
      for await (const m of sink.inbox()) delivered.set(m.msgId, (delivered.get(m.msgId) ?? 0) + 1);
    })();
    const senders = await Promise.all(SENDERS.map(connectAs));
    const mallory = await connectAs('mallory');

    let sent = 0;
    let attacks = 0;
    let blocked = 0;
    let sendFailures = 0;
    const acked = new Set<string>();
    const ackedAt = new Map<string, number>();
    let running = true;
    const traffic = senders.map(async (c, i) => {
      let n = 0;
      while (running) {
        sent++;
        try {
          const r = await c.send('sink', 'status.note', { text: `${c.agentId} #${n++}` });
          acked.add(r.msgId);
          ackedAt.set(r.msgId, Math.round((Date.now() - t0) / 100) / 10);
        } catch (e) {
          sendFailures++;
          log(`  send failed: ${String(e)}`);
        }
        await new Promise((r) => setTimeout(r, 20 + i));
      }
    });
    const attack = (async () => {
      const k = mallory.identity.currentKey();
      while (running) {
        // a replay of an accepted message's msg_id with a new payload, and a forged signature
        const ok = sealEnvelope({
          sender: 'mallory',
          keyId: k.keyId,
          sign: k.sign,
          recipient: 'sink',
          type: 'status.note',
          contentType: 'application/json',
          payload: new TextEncoder().encode('{"text":"hi"}'),
        });
        await mallory
          .sendRaw(ok.bytes, toHex(ok.header.msgId))
          .then((r) => {
            acked.add(r.msgId);
            ackedAt.set(r.msgId, Math.round((Date.now() - t0) / 100) / 10);
          })
          .catch(() => {
            sendFailures++;
          });
        sent++;
        const replay = sealEnvelope({
          sender: 'mallory',
          keyId: k.keyId,
          sign: k.sign,
          recipient: 'sink',
          type: 'status.note',
          contentType: 'application/json',
          msgId: ok.header.msgId,
          payload: new TextEncoder().encode('{"text":"wire money"}'),
        });
        const forged = sealEnvelope({
          sender: 'mallory',
          keyId: k.keyId,
          sign: () => randomBytes(64),
          recipient: 'sink',
          type: 'status.note',
          contentType: 'application/json',
          payload: new TextEncoder().encode('{"text":"x"}'),
        });
        for (const bytes of [replay.bytes, forged.bytes]) {
          attacks++;
          const r = await mallory.sendRaw(bytes, 'attack').then(
            () => 'accepted',
            (e) => (e instanceof AgentbusError ? e.reasonName : 'error'),
          );
          if (r === 'replay' || r === 'bad_signature') blocked++;
          else log(`  attack got ${r}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();

    const at = (s: number) => new Promise((r) => setTimeout(r, Math.max(0, t0 + s * 1000 * scale - Date.now())));
    await at(12);
    fault('kill NATS node 3 (SIGKILL)');
    await b.killNode(2);
    await at(20);
    fault('restart NATS node 3');
    await b.startNode(2);
    await at(28);
    fault('kill verifier va (SIGKILL)');
    va.kill('SIGKILL');
    await at(31);
    fault('start verifier vc');
    va = await startWithRetry(verifierArgs('vc'));
    await at(38);
    fault('kill the auditor mid-batch (SIGKILL)');
    auditor.kill('SIGKILL');
    await at(41);
    fault('restart the auditor');
    auditor = await startWithRetry(auditorArgs);
    await at(46);
    fault('ClickHouse store fails (inserts error)');
    writeFileSync(faultFile, '');
    await at(54);
    fault('ClickHouse store recovers');
    rmSync(faultFile, { force: true });
    await at(60);
    running = false;
    await Promise.all([...traffic, attack]);
    log('▶ traffic stopped; waiting for deliveries and the audit trail');
    await new Promise((r) => setTimeout(r, 1500));
    // wait until the auditor has stored everything (durable consumer caught up)
    const admin = await connect({ servers: b.urls, authenticator: nkeyAuthenticator(b.verifierCreds.natsSeed()), inboxPrefix: '_INBOX_verifier' });
    const jsm = await jetstreamManager(admin);
    for (let i = 0; i < 120; i++) {
      const ci = await jsm.consumers.info('AUDIT', 'auditor').catch(() => undefined);
      if (ci && ci.num_pending === 0 && ci.num_ack_pending === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    await admin.close();
    await stopChild(auditor, 8000);
    await Promise.all([stopChild(va, 8000), stopChild(vb, 8000)]);
    // reconcile against the audit table
    const { openStore } = await import('../packages/server/src/auditor/store.js');
    const store = await openStore({ url: b.storePath, database: 'agentbus', ttlDays: 90 });
    const rows = await store.query<{ n: string }>(`SELECT count() AS n FROM ${store.table('audit_events')} FINAL`);
    const ids = await store.query<{ msg_id: string }>(
      `SELECT DISTINCT msg_id FROM ${store.table('audit_events')} FINAL WHERE verdict IN ('accepted', 'duplicate')`,
    );
    await store.close();
    const audited = new Set(ids.map((r) => r.msg_id));
    const lostIds = [...acked].filter((id) => !delivered.has(id));
    const lost = lostIds.length;
    if (lost) log(`  lost messages were acked at (s): ${lostIds.map((id) => ackedAt.get(id)).join(', ')}`);
    const dups = [...delivered.values()].filter((n) => n > 1).length;
    const missing = [...acked].filter((id) => !audited.has(id)).length;
    return {
      sent,
      acked: acked.size,
      delivered: delivered.size,
      lost,
      duplicates: dups,
      wire_redeliveries: Math.max(0, wire - delivered.size),
      send_failures: sendFailures,
      attacks,
      attacks_blocked: blocked,
      lost_acked_at_s: lostIds.map((id) => ackedAt.get(id) ?? -1),
      audit_rows: Number(rows[0]?.n ?? 0),
      audit_missing: missing,
      faults,
      duration_s: Math.round((Date.now() - t0) / 1000),
    };
  } finally {
    for (const c of clients) await c.close().catch(() => undefined);
    for (const c of children) c.kill('SIGKILL');
    await bus?.stop().catch(() => undefined);
    if (existsSync(dir) && !process.env.CHAOS_KEEP) rmSync(dir, { recursive: true, force: true });
  }
}

const isMain = process.argv[1]?.endsWith('chaos.ts');
if (isMain) {
  const json = process.argv.includes('--json');
  const r = await runChaos({ short: process.argv.includes('--short'), log: json ? () => undefined : (s) => console.error(s) });
  if (json) console.log(JSON.stringify(r));
  else console.log(JSON.stringify(r, null, 2));
  if (r.lost || r.duplicates || r.audit_missing || r.attacks_blocked !== r.attacks) process.exitCode = 1;
}
