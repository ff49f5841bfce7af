export * from './gen/cnode/bus/v1/network.js';
export * from './gen/cnode/bus/v1/service.js';
export * from './gen/cnode/bus/v1/state_delta.js';
export * from './gen/cnode/bus/v1/stream.js';
export * from './gen/cnode/bus/v1/sync.js';
export * from './gen/cnode/bus/v1/governance.js';
export * from './gen/cnode/bus/v1/gc.js';
// Every generated file declares these helpers; name one source so the star exports do not clash.
export type { DeepPartial, MessageFns } from './gen/cnode/bus/v1/network.js';
export { protobufPackage, protobufFileName } from './gen/cnode/bus/v1/network.js';
