export * from './migrate.js';
export * from './postgres.js';
export * from './redis.js';
export * from './sealed-box.js';
export * from './state/state-store.js';
