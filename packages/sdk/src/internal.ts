// @agentbus/sdk/internal: the SDK's modules for the broker side (@agentbus/server) and tests. Not a
// stable API; agents import `@agentbus/sdk`.
export * from './client.js';
export * from './contracts.js';
export * from './delivery.js';
export * from './errors.js';
export * from './identity.js';
export * from './keys.js';
export * from './log.js';
export * from './queue.js';
export * from './tools.js';
export * from './mcp-transport.js';
export * from './memory.js';
export * from './a2a.js';
