// The JWS baseline: the same checks as the verifier over JSON envelopes signed as compact JWS
// (jose, EdDSA), written as a competent team would: keys imported once and cached, compactVerify
// with a key lookup, one JSON.parse, the same policy tables, zod schemas, in-memory replay and
// rate state, audit events group-committed to JetStream, forward + ack.
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { compactVerify } from 'jose';
import { createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { loadServiceCreds } from '../packages/server/src/common/service-creds.js';
import { loadManifestDir, Policy } from '../packages/protocol/src/manifest.js';
import { AuditPublisher } from '../packages/server/src/verifier/audit-publisher.js';
import { ChainSealer } from '../packages/server/src/common/audit-chain.js';
import { ensureAuditStream } from '../packages/server/src/verifier/verifier.js';
import { Ack, Reason, Verdict } from '../packages/protocol/src/proto.js';
import { createLogger } from '../packages/sdk/src/log.js';
import { contracts } from '../test/helpers/contracts.js';

const [url, creds, manifestsDir] = process.argv.slice(2) as [string, string, string];
const service = loadServiceCreds(creds);
const nc = await connect({ servers: url, authenticator: nkeyAuthenticator(service.natsSeed()), inboxPrefix: '_INBOX_verifier' });
await ensureAuditStream(nc);
const policy = new Policy(loadManifestDir(manifestsDir));
// the same signed audit chain as the verifier's (docs/design.md §10), so both pay for it
const audit = new AuditPublisher(jetstream(nc), createLogger({ level: 'error' }), new ChainSealer('jws', service.auditKey()));
const keys = new Map<string, KeyObject>();
for (const [agent, a] of policy.agents) {
  for (const [kid, k] of a.keys)
    keys.set(`${agent}/${kid}`, createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(k.publicKey).toString('base64url') }, format: 'jwk' }));
}
const seen = new Map<string, string>();
const buckets = new Map<string, { tokens: number; last: number }>();
const dec = new TextDecoder();
const ack = (reply: string | undefined, verdict: Verdict, reason: Reason) => reply && nc.publish(reply, Ack.encode({ verdict, reason }).finish());
let seq = 0n;
const prefix = randomBytes(8);

interface Claims {
  sender: string;
  recipient: string;
  type: string;
  msg_id: string;
  sent_at: number;
  payload: unknown;
  metadata?: Record<string, string>;
}

nc.subscribe('agentbus.part.>', {
  queue: 'agentbus-verifier',
  callback: (_e, m) => {
    void (async () => {
      const now = Date.now();
      const sender = m.subject.slice(m.subject.lastIndexOf('.') + 1);
      const jws = dec.decode(m.data);
      let claims: Claims;
      let kid = '';
      try {
        const r = await compactVerify(
          jws,
          (h) => {
            kid = String(h.kid);
            const k = keys.get(`${sender}/${kid}`);
            if (!k) throw new Error('unknown key');
            return k;
          },
          { algorithms: ['EdDSA'] },
        );
        claims = JSON.parse(dec.decode(r.payload)) as Claims;
      } catch {
        return ack(m.reply, Verdict.VERDICT_REJECTED, Reason.REASON_BAD_SIGNATURE);
      }
      const agent = policy.agents.get(sender);
      let reason: Reason = Reason.REASON_UNSPECIFIED;
      if (claims.sender !== sender) reason = Reason.REASON_SENDER_MISMATCH;
      else if (!agent) reason = Reason.REASON_UNKNOWN_SENDER;
      else if (Math.abs(now - claims.sent_at) > 30_000) reason = Reason.REASON_STALE_TIMESTAMP;
      else if (!policy.agents.has(claims.recipient)) reason = Reason.REASON_UNKNOWN_RECIPIENT;
      else if (!agent.canSendType(claims.recipient, claims.type)) reason = Reason.REASON_TYPE_NOT_ALLOWED;
      else {
        const contract = contracts.get(claims.type) as unknown as { schema?: { safeParse(v: unknown): { success: boolean } } } | undefined;
        if (!contract?.schema?.safeParse(claims.payload).success) reason = Reason.REASON_SCHEMA_INVALID;
      }
      if (!reason && agent) {
        let b = buckets.get(sender);
        if (!b) buckets.set(sender, (b = { tokens: agent.burst, last: now }));
        b.tokens = Math.min(agent.burst, b.tokens + (now - b.last) * agent.ratePerMs);
        b.last = now;
        if (b.tokens < 1) reason = Reason.REASON_RATE_LIMITED;
        else b.tokens--;
      }
      const prev = reason ? undefined : seen.get(claims.msg_id);
      if (prev !== undefined && prev !== jws) reason = Reason.REASON_REPLAY;
      if (!reason && prev === undefined) seen.set(claims.msg_id, jws);
      const id = Buffer.allocUnsafe(16);
      prefix.copy(id);
      id.writeBigUInt64BE(++seq, 8);
      // like the verifier's, the audit event keeps the signature, not the payload (a JWS cannot
      // be re-verified without its payload: one more thing the envelope format gives for free)
      const sig = jws.slice(jws.lastIndexOf('.') + 1);
      await audit.add({
        eventId: id,
        verdict: reason ? Verdict.VERDICT_REJECTED : Verdict.VERDICT_ACCEPTED,
        reason,
        subjectSender: sender,
        header: Buffer.from(jws.slice(0, jws.indexOf('.'))),
        signature: Buffer.from(sig, 'base64url'),
        payloadSize: m.data.length,
      });
      if (reason) return ack(m.reply, Verdict.VERDICT_REJECTED, reason);
      nc.publish(`agentbus.to.${claims.recipient}.${claims.type}`, m.data);
      ack(m.reply, Verdict.VERDICT_ACCEPTED, Reason.REASON_UNSPECIFIED);
    })();
  },
});
await nc.flush();
console.error('jws service ready');
process.on(
  'SIGTERM',
  () =>
    void audit
      .flush()
      .then(() => nc.drain())
      .then(() => process.exit(0)),
);
