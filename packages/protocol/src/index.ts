// @agentbus/protocol: the one home of the wire protocol (docs/design.md §14), shared by the SDK, the
// verifier and the auditor — wire types (generated from proto/), the signing rule and envelope
// parsing, the Ed25519 acceptance rule and its backends, subjects, header and metadata names,
// limits, the manifest schema with key resolution, and the content-guard scanner. PROTOCOL.md is
// its specification.
export * from './proto.js';
export * from './envelope.js';
export * from './ed25519.js';
export * from './verify-pool.js';
export * from './metadata.js';
export * from './json-strict.js';
export * from './visible.js';
export * from './manifest.js';
export * from './glob.js';
export * from './constants.js';
export * from './depth-token.js';
export * from './tools/policy.js';
export * from './tools/check.js';
export * from './tools/paths.js';
export * from './tools/urls.js';
export * from './tools/cel.js';
export * from './tools/definition.js';
export * from './guard/types.js';
export { scanText, scanJson, scanPayload, scanMetadata, scanMessage, scanPayloadResult, secretHash, type ScanResult } from './guard/scan.js';
export { SECRETLINT_RULES, AGENTBUS_CREDENTIAL_RULES, secretKeyClass, type SecretKeyClass } from './guard/credentials.js';
export * from './memory/index.js';
