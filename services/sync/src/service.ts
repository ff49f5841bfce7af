import { startable, type ServiceContext, type ServiceHandle } from '@cnode/runtime';
import { ServiceBuilder, requireMasterKey } from '@cnode/service-kit';
import { GroupStore, StateStore } from '@cnode/store';
import type { SyncConfig } from './config.js';
import { SERVICE_NAME } from './constants.js';
import { createSyncMetrics, type SyncMetrics } from './metrics.js';
import type { ResponderDeps } from './responder/deps.js';
import { decodeStreamOpened, handleSyncStream } from './responder/handle-sync-stream.js';

export interface SyncService extends ServiceHandle {
  metrics: SyncMetrics;
}

/**
 * Composition root of sync. For now: the responder side of the sync stream protocol (DeltaRequest,
 * DagHeadsRequest, GroupOpsRequest) fed from SYNC_STREAMS, at most `SYNC_MAX_CONCURRENT` at once.
 * Heartbeats, scheduling and the initiator sessions consume SYNC_REQUESTS with the sync issue.
 */
export function createSyncService(config: SyncConfig, ctx: ServiceContext): SyncService {
  const masterKey = requireMasterKey(config);
  const builder = new ServiceBuilder(SERVICE_NAME, config, ctx);
  const { lifecycle, infra } = builder;
  const metrics = createSyncMetrics(ctx.registry);

  let deps: ResponderDeps | undefined;
  const responder = (): ResponderDeps =>
    (deps ??= {
      states: new StateStore(infra.postgres.sql),
      groups: new GroupStore(infra.postgres.sql, masterKey),
      nc: () => infra.nats.nc,
      catalog: infra.catalog,
      idleTimeoutMs: config.network.streamIdleTimeoutMs,
      metrics,
      logger: ctx.logger.child({ module: 'sync.responder' }),
    });
  lifecycle.add(startable('responder', async () => void responder()));

  const streams = builder.addConsumer({
    spec: infra.catalog.consumers.syncStreams,
    decode: decodeStreamOpened,
    handle: (opened) => handleSyncStream(responder(), opened),
    concurrency: config.sync.maxConcurrent,
  });

  return { ...builder.build(() => streams.isConsuming), metrics };
}
