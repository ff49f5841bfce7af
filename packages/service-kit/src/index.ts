export * from './infra.js';
export * from './service-status.js';
export * from './service-builder.js';
export * from './master-key.js';
export * from './wipe-node.js';
