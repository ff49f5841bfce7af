import { randomUUID } from 'node:crypto';
import { requestSync } from '@cnode/context-core';
import { bus } from '@cnode/proto';
import { errorMessage, startable, type ServiceContext, type ServiceHandle } from '@cnode/runtime';
import { ServiceBuilder, requireMasterKey } from '@cnode/service-kit';
import {
  DeltaBufferRepo,
  GovernancePendingRepo,
  GroupStore,
  IdentityRepo,
  StateStore,
  StateSyncStore,
} from '@cnode/store';
import type { SyncConfig } from './config.js';
import { SERVICE_NAME } from './constants.js';
import { decodeSyncRequest, handleSyncRequest, type DriverDeps } from './driver/handle-sync-request.js';
import { SessionPermits } from './driver/permits.js';
import { StatusBoard } from './driver/status-board.js';
import { SyncTicker } from './driver/ticker.js';
import { ConvergenceProbe } from './convergence/probe.js';
import { ConvergenceRecorder } from './convergence/recorder.js';
import { createSyncMetrics, type SyncMetrics } from './metrics.js';
import type { ResponderDeps } from './responder/deps.js';
import { decodeStreamOpened, handleSyncStream } from './responder/handle-sync-stream.js';

export interface SyncService extends ServiceHandle {
  metrics: SyncMetrics;
}

/**
 * Composition root of sync: the responder (SYNC_STREAMS: inbound sessions, at most
 * `SYNC_MAX_CONCURRENT` per replica), the driver (SYNC_REQUESTS: spacing, backoff, one initiator per
 * context, a global permit cap, then the initiator session), and the ticker (interval sync requests
 * and periodic HashHeartbeats).
 */
export function createSyncService(config: SyncConfig, ctx: ServiceContext): SyncService {
  const masterKey = requireMasterKey(config);
  const builder = new ServiceBuilder(SERVICE_NAME, config, ctx);
  const { lifecycle, infra } = builder;
  const metrics = createSyncMetrics(ctx.registry);
  const log = (module: string) => ctx.logger.child({ module: `sync.${module}` });
  const network = builder.networkClient();
  const outbox = builder.addEventOutbox();
  const governanceLog = log('governance');
  const sync = builder.syncClient(network, () => ({
    groups: parts().driver.initiator.groups,
    identities: parts().driver.initiator.identities,
    logger: governanceLog,
    divergences: metrics.projectionDivergences,
    onApplied: (groupId) => builder.governanceApplied(groupId, governanceLog),
  }));
  const redis = () => infra.redis.redis;
  const recorder = new ConvergenceRecorder({ redis, catalog: infra.catalog, logger: log('convergence') });

  let built: { responder: ResponderDeps; driver: DriverDeps } | undefined;
  const parts = () => {
    if (built) return built;
    const sql = infra.postgres.sql;
    // Events of a commit are published at once (the outbox drain takes what could not be).
    const states = new StateStore(sql, undefined, outbox);
    const stateSync = new StateSyncStore(sql);
    const groups = new GroupStore(sql, masterKey);
    const identities = new IdentityRepo(sql, masterKey);
    const status = new StatusBoard({ redis, catalog: infra.catalog, states, outbox, logger: log('status') });
    built = {
      responder: {
        states,
        stateSync,
        groups,
        identities,
        sync,
        redis,
        nc: () => infra.nats.nc,
        catalog: infra.catalog,
        idleTimeoutMs: config.network.streamIdleTimeoutMs,
        // The initiator's own deadline plus a grace: a well-behaved initiator always ends first.
        sessionDeadlineMs: Math.ceil(config.sync.sessionDeadlineMs * 1.5),
        maxRequestsPerSession: config.sync.maxRequestsPerSession,
        metrics,
        logger: log('responder'),
      },
      driver: {
        initiator: {
          states,
          stateSync,
          groups,
          identities,
          buffers: new DeltaBufferRepo(sql),
          pending: new GovernancePendingRepo(sql),
          outbox,
          sync,
          network,
          redis,
          catalog: infra.catalog,
          status,
          convergence: recorder,
          metrics,
          logger: log('initiator'),
          limits: {
            sessionDeadlineMs: config.sync.sessionDeadlineMs,
            maxCatchupDeltas: config.sync.maxCatchupDeltas,
            probeConcurrency: config.sync.peerStateProbeConcurrency,
            snapshotPageBytes: config.sync.snapshotChunkSize,
          },
        },
        permits: new SessionPermits(
          redis,
          { permits: infra.catalog.redis.syncPermits, lock: infra.catalog.redis.syncLock },
          config.sync.maxConcurrent,
        ),
        status,
        metrics,
        logger: log('driver'),
        bus: () => ({ js: infra.nats.js, metrics: infra.busMetrics, catalog: infra.catalog }),
        continueSync: (contextId, peer) =>
          requestSync(
            { js: infra.nats.js, metrics: infra.busMetrics, catalog: infra.catalog },
            { contextId, peer, reason: bus.SyncReason.SYNC_REASON_CONTINUE, forced: true },
            String(Date.now()),
          ).catch((err: unknown) =>
            log('driver').warn({ err: errorMessage(err) }, 'Follow-up sync not queued: the next tick goes on'),
          ),
        limits: { intervalMs: config.sync.intervalMs },
      },
    };
    return built;
  };
  lifecycle.add(startable('sync-parts', async () => void parts()));

  const streams = builder.addConsumer({
    spec: infra.catalog.consumers.syncStreams,
    decode: decodeStreamOpened,
    handle: (opened) => handleSyncStream(parts().responder, opened),
    concurrency: config.sync.maxConcurrent,
  });
  const requests = builder.addConsumer({
    spec: infra.catalog.consumers.syncRequests,
    decode: decodeSyncRequest,
    handle: (request) => handleSyncRequest(parts().driver, request),
    concurrency: config.sync.maxConcurrent,
  });
  lifecycle.add(
    new SyncTicker({
      states: () => parts().driver.initiator.states,
      groups: () => parts().driver.initiator.groups,
      identities: () => parts().driver.initiator.identities,
      network,
      js: () => infra.nats.js,
      busMetrics: infra.busMetrics,
      redis,
      catalog: infra.catalog,
      metrics,
      logger: log('ticker'),
      frequencyMs: config.sync.frequencyMs,
      heartbeatIntervalMs: config.sync.heartbeatIntervalMs,
    }),
  );
  lifecycle.add(
    new ConvergenceProbe({
      states: () => parts().driver.initiator.states,
      identities: () => parts().driver.initiator.identities,
      sync,
      network,
      redis,
      catalog: infra.catalog,
      js: () => infra.nats.js,
      busMetrics: infra.busMetrics,
      recorder,
      metrics,
      logger: log('convergence'),
      instanceId: randomUUID(),
      intervalMs: config.sync.convergenceIntervalMs,
      concurrency: config.sync.peerStateProbeConcurrency,
    }),
  );

  return { ...builder.build(() => streams.isConsuming && requests.isConsuming), metrics };
}
