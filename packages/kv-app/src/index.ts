export * from './kv.js';
export * from './application-id.js';
