import { BoundedCache, startable, type ServiceContext, type ServiceHandle } from '@cnode/runtime';
import { ServiceBuilder, newInstanceId, requireMasterKey } from '@cnode/service-kit';
import {
  AliasRepo,
  DeltaBufferRepo,
  ReplicaPresence,
  GovernancePendingRepo,
  GroupStore,
  HotTrees,
  IdentityRepo,
  StateStore,
} from '@cnode/store';
import type { StateDeltaConfig } from './config.js';
import { DEFERRED_FETCHES_MAX, PRESENCE_REFRESH_MS, PRESENCE_TTL_MS, SERVICE_NAME } from './constants.js';
import { createStateDeltaMetrics, type StateDeltaMetrics } from './metrics.js';
import type { PipelineDeps } from './pipeline/deps.js';
import {
  MALFORMED_LANE,
  decodeStateDeltaReceived,
  handleDeltaBatch,
  laneOfDelta,
} from './pipeline/handle-delta-batch.js';
import { withLaneLock } from './pipeline/lane-lock.js';
import { HeartbeatPublisher } from './pipeline/heartbeat.js';
import { handleDrainRequest } from './pipeline/governance-drain.js';
import { bus } from '@cnode/proto';

export interface StateDeltaService extends ServiceHandle {
  metrics: StateDeltaMetrics;
}

/**
 * Composition root of state-delta: infra → stores → event outbox → the STATE_DELTA consumer running
 * the pipeline in per-context lanes. Replicas share the durable consumer; within a replica a context's
 * deltas are applied batch after batch, and across replicas a per-context lane lock (Redis) lets one
 * lane of a context run at a time.
 */
export function createStateDeltaService(config: StateDeltaConfig, ctx: ServiceContext): StateDeltaService {
  const masterKey = requireMasterKey(config);
  const builder = new ServiceBuilder(SERVICE_NAME, config, ctx);
  const { lifecycle, infra } = builder;
  const metrics = createStateDeltaMetrics(ctx.registry);
  const log = (module: string) => ctx.logger.child({ module: `state-delta.${module}` });

  const network = builder.networkClient();
  const outbox = builder.addEventOutbox();
  const governanceLog = log('governance');
  const sync = builder.syncClient(network, () => ({
    groups: pipeline().groups,
    identities: pipeline().identities,
    logger: governanceLog,
    divergences: metrics.projectionDivergences,
    onApplied: async (groupId) => {
      hot.invalidate('group', groupId);
      await builder.governanceApplied(groupId, governanceLog);
    },
  }));
  // Counted before the consumer starts, so a replica that joins others locks its lanes from its first batch.
  const presence = lifecycle.add(
    new ReplicaPresence({
      redis: () => infra.redis.redis,
      key: infra.catalog.redis.stateDeltaReplicas,
      instanceId: newInstanceId(),
      refreshMs: PRESENCE_REFRESH_MS,
      ttlMs: PRESENCE_TTL_MS,
      onCount: (live) => metrics.replicasLive.set(live),
    }),
  );
  const heartbeat = new HeartbeatPublisher({ network, metrics, logger: log('heartbeat') });

  // Stores are built once Postgres is up (the pool exists only after start).
  let stores: ReturnType<typeof newStores> | undefined;
  const newStores = () => ({
    // Events of a commit are published at once (the outbox drain takes what could not be). The
    // contexts applied to most are held whole, so a batch on their heads commits in one round trip.
    states: new StateStore(
      infra.postgres.sql,
      undefined,
      outbox,
      HotTrees.optional(() => infra.postgres.sql, config.hotTrees, log('hot-trees'), ctx.registry),
    ),
    groups: new GroupStore(infra.postgres.sql, masterKey),
    identities: new IdentityRepo(infra.postgres.sql, masterKey),
    aliases: new AliasRepo(infra.postgres.sql),
    buffers: new DeltaBufferRepo(infra.postgres.sql),
    pending: new GovernancePendingRepo(infra.postgres.sql),
  });
  const store = () => (stores ??= newStores());
  const hot = builder.addHotState(store);

  let deps: PipelineDeps | undefined;
  const pipeline = (): PipelineDeps =>
    (deps ??= {
      ...store(),
      hot,
      redis: infra.redis.redis,
      presence,
      catalog: infra.catalog,
      network,
      sync,
      heartbeat,
      metrics,
      logger: log('pipeline'),
      deferredFetches: new BoundedCache('state_delta_deferred_parent_fetches', DEFERRED_FETCHES_MAX, ctx.registry),
    });
  lifecycle.add(startable('pipeline', async () => void pipeline()));

  // One lane per context: a context's deltas are applied batch after batch, in order; contexts in parallel.
  const consumer = builder.addLaneConsumer({
    spec: infra.catalog.consumers.stateDelta,
    decode: decodeStateDeltaReceived,
    laneOf: laneOfDelta,
    handleBatch: async (lane, items, more) => {
      const run = () =>
        handleDeltaBatch(
          pipeline(),
          items.map((i) => i.message),
          more,
        );
      // Malformed messages share one lane that touches no context: no lock to take.
      await (lane === MALFORMED_LANE ? run() : withLaneLock(pipeline(), lane, run));
      return items.map(() => undefined);
    },
    maxInFlight: config.stateDelta.maxInFlight,
    maxBatch: config.stateDelta.batchMax,
    maxLanes: config.stateDelta.lanes,
  });

  // Drain requests have their own mailbox: a backlog of deltas never delays them, nor they the deltas.
  const drains = builder.addConsumer({
    spec: infra.catalog.consumers.governance,
    decode: (data) => bus.GovernanceDrainRequest.decode(data),
    handle: (request) => handleDrainRequest(pipeline(), request),
    concurrency: 4,
  });

  return { ...builder.build(() => consumer.isConsuming && drains.isConsuming), metrics };
}
