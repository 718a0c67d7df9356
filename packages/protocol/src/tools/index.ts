// @agentbus/protocol/tools: the tool-call argument policy (manifest `tools:` rules, CEL `when:`,
// RE2 patterns, path and URL rules) — the verifier's, not an agent's: the SDK does not load it
// (@agentbus/protocol keeps only the wire-level definitions in definition.ts).
export * from './policy.js';
export * from './check.js';
export * from './paths.js';
export * from './urls.js';
export * from './cel.js';
export * from './definition.js';
