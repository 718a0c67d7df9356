// @agentbus/protocol/guard: the content-guard scanner (secretlint's credential rules, invisible
// text, control characters) — the verifier's, not an agent's: the SDK does not load it
// (@agentbus/protocol keeps only the policy types in types.ts).
export * from './types.js';
export { scanText, scanJson, scanPayload, scanMetadata, scanMessage, scanPayloadResult, secretHash, type ScanResult } from './scan.js';
export { SECRETLINT_RULES, AGENTBUS_CREDENTIAL_RULES, secretKeyClass, type SecretKeyClass } from './credentials.js';
