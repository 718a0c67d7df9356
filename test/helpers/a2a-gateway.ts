// The A2A gateway on a test bus: a card key and the gateway's manifest entry before the bus
// starts, then the gateway itself (agent `a2a`, on a free port, its log silent).
import { join } from 'node:path';
import { createLogger } from '../../packages/sdk/src/log.js';
import { generateCardKey } from '../../packages/server/src/a2a/card.js';
import { parseGatewayConfig } from '../../packages/server/src/a2a/config.js';
import { gatewayManifest } from '../../packages/server/src/a2a/manifest.js';
import { startA2aGateway } from '../../packages/server/src/a2a/serve.js';
import type { A2aGateway } from '../../packages/server/src/a2a/serve.js';
import { contracts } from './bus.js';
import type { TestBus } from './bus.js';

/**
 * A card key written to `dir`/card.json, and the gateway's manifest for startBus's `agents.a2a`
 * (startBus fills in the agent, its NATS user and keys).
 */
export function gatewayAgent(dir: string) {
  const cardKey = generateCardKey(join(dir, 'card.json'));
  const {
    agent: _a,
    nats_user: _n,
    keys: _k,
    ...manifest
  } = gatewayManifest({ agent: 'a2a', natsUser: 'UX', keys: [], cardKeys: [{ kid: cardKey.kid, jwk: cardKey.publicJwk }] });
  return { kid: cardKey.kid, manifest };
}

/** The gateway `a2a` with its credentials, port 0 and the card key in `dir`; `config` adds to (or overrides) its config file. */
export async function startTestGateway(bus: TestBus, dir: string, config: Record<string, unknown> = {}, source = 'test'): Promise<A2aGateway> {
  return startA2aGateway({
    config: parseGatewayConfig(
      JSON.stringify({ agent: 'a2a', credentials: bus.credsPath('a2a'), listen: { port: 0 }, card_key: join(dir, 'card.json'), ...config }),
      source,
    ),
    configDir: dir,
    manifestsDir: bus.manifestsDir,
    credsDir: dir,
    servers: bus.url,
    contracts,
    logger: createLogger({ level: 'silent' }),
  });
}
