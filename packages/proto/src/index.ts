/**
 * Generated protobuf code (ts-proto), one namespace per protocol family:
 * `wire` (peer to peer), `bus` (service to service over NATS), `admin` (the gRPC admin API).
 */
import { fileURLToPath } from 'node:url';

export * as wire from './wire.js';
export * as bus from './bus.js';
export * as admin from './admin.js';

/**
 * The compiled FileDescriptorSet of every proto file, served by gRPC reflection. It sits beside the
 * generated sources and is shipped with the package.
 */
export const DESCRIPTOR_SET_PATH = fileURLToPath(new URL('../src/gen/descriptor-set.binpb', import.meta.url));
