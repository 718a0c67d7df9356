// @agentbus/protocol: the one home of the wire protocol (docs/design.md §14), shared by the SDK, the
// verifier and the auditor — wire types (generated from proto/), the signing rule and envelope
// parsing, the Ed25519 acceptance rule and its backends, subjects, header and metadata names,
// limits, manifest files and key resolution. PROTOCOL.md is its specification.
// What only the broker needs is behind subpaths this entry does not load (the SDK imports this one):
//   @agentbus/protocol/manifest  the whole manifest schema and the compiled Policy (manifest.ts)
//   @agentbus/protocol/tools     the tool-call argument policy: CEL, RE2, path and URL rules (tools/)
//   @agentbus/protocol/guard     the content-guard scanner with secretlint's rules (guard/)
export * from './proto.js';
export * from './envelope.js';
export * from './ed25519.js';
export * from './verify-pool.js';
export * from './metadata.js';
export * from './json-strict.js';
export * from './visible.js';
export * from './glob.js';
export * from './constants.js';
export * from './depth-token.js';
export * from './manifest-keys.js';
export * from './tools/definition.js';
export * from './guard/types.js';
export * from './memory/index.js';
export * from './a2a.js';
