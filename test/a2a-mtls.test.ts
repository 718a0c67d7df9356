// The A2A gateway over HTTPS with client certificates (mTLS): a principal may authenticate with a
// client certificate whose SHA-256 fingerprint the config lists (the TLS handshake proves the
// client holds its key). The official A2A client with a listed certificate reaches the bus agent;
// an unlisted certificate and no certificate at all are refused (unauthenticated) and recorded.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { randomUUID, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentCard, SendMessageRequest } from '@a2a-js/sdk';
import type { Message } from '@a2a-js/sdk';
import { ClientFactory, ClientFactoryOptions, DefaultAgentCardResolver, JsonRpcTransportFactory } from '@a2a-js/sdk/client';
import { decodeHeader } from '../packages/protocol/src/envelope.js';
import type { AgentClient } from '../packages/sdk/src/client.js';
import { certSha256 } from '../packages/server/src/a2a/config.js';
import type { A2aGateway } from '../packages/server/src/a2a/serve.js';
import { makeDevCertificates } from '../packages/server/src/common/tls.js';
import { startBus, waitFor } from './helpers/bus.js';
import type { TestBus } from './helpers/bus.js';
import { gatewayAgent, startTestGateway } from './helpers/a2a-gateway.js';

let bus: TestBus;
let gw: A2aGateway;
let helper: AgentClient;
const dir = mkdtempSync(join(tmpdir(), 'agentbus-a2a-mtls-'));
const received: string[] = [];

/** A self-signed client certificate (EC P-256), made with openssl. */
function clientCert(name: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  for (const args of [
    ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key],
    ['req', '-x509', '-new', '-key', key, '-subj', `/CN=${name}`, '-days', '2', '-out', cert],
  ]) {
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
  }
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}
const acmeCert = clientCert('acme');
const strangerCert = clientCert('stranger');
const server = makeDevCertificates(join(dir, 'tls'));
const ca = readFileSync(server.caFile!, 'utf8');

/** fetch over node:https with an optional client certificate (what the A2A client's fetchImpl needs for mTLS). */
const tlsFetch =
  (client?: { cert: string; key: string }): typeof fetch =>
  async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    const body = init?.body === undefined || init.body === null ? undefined : String(init.body);
    return new Promise<Response>((resolve, reject) => {
      const req = httpsRequest(url, { method: init?.method ?? 'GET', headers, ca, ...(client ?? {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
          resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 500, headers: h }));
        });
      });
      req.on('error', reject);
      if (body) req.write(body);
      req.end();
    });
  };

async function client(cert?: { cert: string; key: string }) {
  const fetchImpl = tlsFetch(cert);
  const factory = new ClientFactory(
    ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
      cardResolver: new DefaultAgentCardResolver({ fetchImpl }),
      transports: [new JsonRpcTransportFactory({ fetchImpl })],
    }),
  );
  return factory.createFromUrl(`${gw.baseUrl}/agents/helper/`);
}
const request = (text: string) => SendMessageRequest.fromJSON({ message: { messageId: randomUUID(), role: 'ROLE_USER', parts: [{ text }] } });

test.before(async () => {
  bus = await startBus({
    agents: {
      a2a: gatewayAgent(dir).manifest,
      helper: { send: [{ to: 'acme', types: ['a2a.reply'] }], a2a: { expose: {} } },
      acme: { send: [{ to: 'helper', types: ['a2a.message'] }], a2a: { principal: { gateway: 'a2a' } } },
    },
  });
  helper = await bus.agent('helper');
  void (async () => {
    for await (const m of helper.inbox()) {
      received.push(m.sender);
      if (m.type === 'a2a.message') await helper.reply(m, 'a2a.reply' as never, { parts: [{ kind: 'text', text: 'over mTLS' }] } as never);
    }
  })().catch(() => undefined);
  const fingerprint = certSha256(new X509Certificate(acmeCert.cert).raw);
  gw = await startTestGateway(bus, dir, {
    tls: { cert: server.certFile, key: server.keyFile },
    principals: [{ agent: 'acme', credentials: bus.credsPath('acme'), certs_sha256: [fingerprint] }],
  });
});

test.after(async () => {
  await gw?.stop();
  await bus?.stop();
});

test('mTLS: a listed client certificate authenticates as its principal; the card offers mtls; unlisted and missing certificates are refused and recorded', async () => {
  assert.match(gw.baseUrl, /^https:\/\//);
  const card = AgentCard.fromJSON(JSON.parse(await (await tlsFetch()(`${gw.baseUrl}/agents/helper/.well-known/agent-card.json`)).text()));
  assert.ok(Object.keys(card.securitySchemes).includes('mtls'));
  const answer = (await (await client(acmeCert)).sendMessage(request('hello over mTLS'))) as Message;
  assert.equal(
    answer.parts.map((p) => (p.content?.$case === 'text' ? p.content.value : '')),
    ['over mTLS'],
  );
  assert.equal(received, ['acme']);
  for (const who of [strangerCert, undefined]) {
    let msg = '';
    await (await client(who)).sendMessage(request('let me in')).catch((e: Error) => (msg = e.message));
    assert.match(msg, /unauthenticated/);
  }
  assert.equal(received, ['acme']);
  await waitFor(
    async () =>
      (await bus.auditEvents()).filter((e) => {
        const h = e.header?.length ? decodeHeader(e.header) : undefined;
        return h?.ok && h.value.metadata['a2a.reason'] === 'unauthenticated';
      }).length >= 2,
    5000,
    'the two refusal rows',
  );
});

test.run();
