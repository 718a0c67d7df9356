// @agentbus/protocol: the one home of the wire protocol (DESIGN §14), shared by the SDK, the
// verifier and the auditor — wire types (generated from proto/), the signing rule and envelope
// parsing, the Ed25519 acceptance rule and its backends, subjects, header and metadata names,
// limits, and the manifest schema with key resolution. PROTOCOL.md is its specification.
export * from './proto.js';
export * from './envelope.js';
export * from './ed25519.js';
export * from './metadata.js';
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
export * from './memory/index.js';
