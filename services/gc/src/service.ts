import type { ServiceContext, ServiceHandle } from '@cnode/runtime';
import { ServiceBuilder } from '@cnode/service-kit';
import type { GcConfig } from './config.js';
import { SERVICE_NAME } from './constants.js';

/**
 * Composition root of gc. The process connects to the datastore it will collect; the leader-locked
 * tombstone GC, pending-delta expiry and DAG compaction timers are added here by the GC issue.
 */
export function createGcService(config: GcConfig, ctx: ServiceContext): ServiceHandle {
  return new ServiceBuilder(SERVICE_NAME, config, ctx).build();
}
