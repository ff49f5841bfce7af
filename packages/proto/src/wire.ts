export * from './gen/cnode/wire/v1/types.js';
export * from './gen/cnode/wire/v1/group.js';
export * from './gen/cnode/wire/v1/broadcast.js';
export * from './gen/cnode/wire/v1/delta.js';
export * from './gen/cnode/wire/v1/invitation.js';
export * from './gen/cnode/wire/v1/sync.js';
export * from './gen/cnode/wire/v1/blob.js';
export * from './gen/cnode/wire/v1/specialized.js';
// Every generated file declares these helpers; name one source so the star exports do not clash.
export type { DeepPartial, MessageFns } from './gen/cnode/wire/v1/types.js';
export { protobufPackage, protobufFileName } from './gen/cnode/wire/v1/types.js';
