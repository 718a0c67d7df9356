// An MCP server on a test bus: pinned in `agent`'s manifest, the pin loaded by every verifier,
// then served (its stderr ignored, its log silent).
import { createLogger } from '../../packages/sdk/src/log.js';
import { pinServer } from '../../packages/server/src/mcp/pin.js';
import { startToolServer } from '../../packages/server/src/mcp/serve.js';
import type { ToolServer } from '../../packages/server/src/mcp/serve.js';
import type { TestBus } from './bus.js';
import { verifiersLoaded } from './reload.js';

export async function servePinned(bus: TestBus, agent: string, command: string[]): Promise<ToolServer> {
  await pinServer({ agent, manifestsDir: bus.manifestsDir, command, stderr: 'ignore' });
  await verifiersLoaded(bus, agent);
  return startToolServer({
    agent,
    credentials: bus.credsPath(agent),
    manifestsDir: bus.manifestsDir,
    servers: bus.url,
    command,
    stderr: 'ignore',
    logger: createLogger({ level: 'silent' }),
  });
}
