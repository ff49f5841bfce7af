import type { ServiceContext, ServiceHandle } from '@cnode/runtime';
import { ServiceBuilder } from '@cnode/service-kit';
import type { SyncConfig } from './config.js';
import { SERVICE_NAME } from './constants.js';

/**
 * Composition root of sync. The process owns the SYNC_REQUESTS and SYNC_STREAMS mailboxes (declared
 * with the topology); the SyncManager that consumes them — heartbeats, scheduling and the catch-up
 * protocols — is added here by the sync issue.
 */
export function createSyncService(config: SyncConfig, ctx: ServiceContext): ServiceHandle {
  return new ServiceBuilder(SERVICE_NAME, config, ctx).build();
}
