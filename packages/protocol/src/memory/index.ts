export * from './grants.js';
export * from './contracts.js';
export * from './audit.js';
