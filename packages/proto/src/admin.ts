export * from './gen/cnode/admin/v1/node.js';
export * from './gen/cnode/admin/v1/context.js';
export * from './gen/cnode/admin/v1/events.js';
export * from './gen/cnode/admin/v1/group.js';
export * from './gen/cnode/admin/v1/blob.js';
export * from './gen/cnode/admin/v1/alias.js';
export * from './gen/cnode/admin/v1/client_token.js';
export * from './gen/cnode/admin/v1/application.js';
export * from './gen/cnode/admin/v1/gc.js';
// Every generated file declares these helpers; name one source so the star exports do not clash.
export type { DeepPartial, MessageFns } from './gen/cnode/admin/v1/node.js';
export { protobufPackage, protobufFileName } from './gen/cnode/admin/v1/node.js';
