export * from './infra.js';
export * from './service-harness.js';
export * from './wait-for.js';
export * from './processes.js';
export * from './grpc-clients.js';
export * from './plain-libp2p.js';
export * from './process-node.js';
export * from './store-harness.js';
