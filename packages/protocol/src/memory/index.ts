export * from './grants.js';
export * from './contracts.js';
