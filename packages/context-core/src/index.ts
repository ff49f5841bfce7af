export * from './errors.js';
export * from './event-outbox.js';
export * from './governance.js';
export * from './sync-client.js';
export * from './sync-frames.js';
export * from './topics.js';
