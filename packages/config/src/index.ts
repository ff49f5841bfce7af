export * from './schema.js';
export * from './node-config.js';
