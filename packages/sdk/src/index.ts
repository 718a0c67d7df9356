// The public surface of `agentbus`: what an agent imports. Importing this module loads no
// verifier, auditor, chDB or ClickHouse client (docs/design.md §1; a test checks it).
export { backends, defaultBackend } from '@agentbus/protocol';
export type { Ed25519Backend } from '@agentbus/protocol';
export {
  sealEnvelope,
  openEnvelope,
  parseEnvelope,
  decodeHeader,
  encodeEnvelope,
  signingInput,
  SIGNING_DOMAIN,
  AGENT_ID_RE,
  TYPE_RE,
} from '@agentbus/protocol';
export type { HeaderFields, SealInput, Sealed, OpenedEnvelope, KeyResolver, Result, EnvelopeParts } from '@agentbus/protocol';
export { AgentIdentity, SigningKey, generateIdentity, loadCredentials, saveCredentials, keyIdFor } from './identity.js';
export type { PublicKeyInfo } from './identity.js';
export {
  defineMessage,
  defineProtoMessage,
  createRegistry,
  ContractRegistry,
  registryFromModule,
  JSON_CONTENT_TYPE,
  DEFAULT_CRITICAL_METADATA,
} from './contracts.js';
export type {
  Contract,
  AnyContract,
  ContractOptions,
  PayloadOf,
  InputOf,
  ProtoMessageType,
  ContractsOf,
  ContractFor,
  TypesOf,
  PayloadFor,
  InputFor,
  Decoded,
} from './contracts.js';
export { GLOBAL_METADATA_KEYS, MAX_METADATA_VALUE_BYTES, MAX_METADATA_BYTES, DEPTH_TOKEN_METADATA } from '@agentbus/protocol';
export {
  AgentbusError,
  EnvelopeError,
  RejectedError,
  RefusedError,
  CredentialError,
  BusConnectionError,
  ContractError,
  TimeoutError,
  UndeliveredError,
  AgentClosedError,
  PermissionError,
  ToolError,
} from './errors.js';
export { Reason, Verdict, Delivery, reasonName, reasonFromName, verdictName, allReasons } from '@agentbus/protocol';
export { createLogger, REDACT_PATHS } from './log.js';
export { connectAgent, AgentClient, DEFAULT_SEND_TIMEOUT_MS, DEFAULT_SEND_RETRIES } from './client.js';
export type { ConnectOptions, InboundMessage, InboundOf, InboundFor, SendOptions, SendResult } from './client.js';
export { PeerKeys } from './keys.js';
export { MessageQueue } from './queue.js';
export { DeliveryConfirmer } from './delivery.js';
export {
  callTool,
  builtinToolContract,
  toolCallContract,
  resultText,
  TOOL_RESULT_CONTRACT,
  TOOL_RESULT_TYPE,
  DEFAULT_TOOL_CALL_TIMEOUT_MS,
  toolType,
  parseToolType,
} from './tools.js';
export type { CallToolOptions, ToolResult } from './tools.js';
export { BusClientTransport, readPinnedTools, MCP_LATEST_PROTOCOL_VERSION, REJECTED_ERROR_CODE } from './mcp-transport.js';
export type { BusClientTransportOptions, JsonRpcMessage, ListedTool } from './mcp-transport.js';
export { memoryClient, MemoryError, MEMORY_CONTRACTS, builtinMemoryContract, MEMORY_SERVICE } from './memory.js';
export type {
  Memory,
  MemoryEntry,
  MemoryPage,
  MemoryWatch,
  MemoryEvent,
  MemoryOptions,
  MemoryErrorCode,
  MemoryEventPayload,
  MemoryResultPayload,
} from './memory.js';
