import { DEFAULT_WASM_LIMITS, WasmRuntime, overlayPage, type WasmLimits } from '@cnode/wasm-runtime';
import { WasmModules } from './apps/wasm-modules.js';
import { ContextCallLocks, QueuedWrites } from './contexts/wasm-calls.js';
import { AppHandlerRunner, handlerJobsChannel } from './contexts/app-handlers.js';
import { randomBytes } from 'node:crypto';
import { HLC_NODE_ID_BYTES, HlcClock, type VerifiedGroupOp } from '@cnode/primitives';
import {
  ProcessingAction,
  ProcessingError,
  errorMessage,
  startable,
  type ServiceContext,
  type ServiceHandle,
} from '@cnode/runtime';
import { ServiceBuilder, readServiceStatuses, requireMasterKey } from '@cnode/service-kit';
import {
  AliasRepo,
  ApplicationRepo,
  BlobRepo,
  GcRepo,
  GovernancePendingRepo,
  HandlerJobRepo,
  PrivateEntryRepo,
  ClientGrantRepo,
  GroupStore,
  IdentityRepo,
  StateStore,
  StateSyncStore,
  HotTrees,
} from '@cnode/store';
import { BlobCache } from './blobs/blob-cache.js';
import { BlobMaintenance } from './blobs/blob-maintenance.js';
import { TransferMeters, type BlobTransferDeps } from './blobs/blob-transfer.js';
import { serveBlobStream } from './blobs/serve-blob.js';
import { DEFAULT_URL_LIMITS } from './apps/url-fetch.js';
import type { NodeManagerConfig } from './config.js';
import { GROUP_COMMIT_LIMITS, SERVICE_NAME, SUBSCRIPTION_RETRY_MS } from './constants.js';
import { GroupCommitter } from './contexts/group-commit.js';
import { gossipDeltas } from './contexts/delta-gossip.js';
import { HeadsClock } from './contexts/heads-clock.js';
import type { ContextDeps } from './contexts/context-deps.js';
import { TopicSubscriptions } from './contexts/topic-subscriptions.js';
import { AdminServer } from './grpc/admin-server.js';
import { AppApiServer } from './app-api/app-api-server.js';
import { ClientTokens, clientTokenSecret } from './app-api/client-tokens.js';
import { EventHub } from './app-api/event-hub.js';
import { PendingInvites } from './specialized/pending-invites.js';
import {
  answerDiscovery,
  confirmSpecializedJoin,
  serveSpecializedInvite,
  type SpecializedDeps,
} from './specialized/specialized-invites.js';
import {
  handleGovernanceDelta,
  handleGroupHeartbeat,
  handleGroupMutation,
  handleGroupOpsGossip,
  handleGroupPeerSubscribed,
  type GroupGossipDeps,
} from './handlers/group-gossip.js';
import { reconcileAllGroups, reconcileGroup } from './groups/group-reconciler.js';
import { decodeNetworkEvent, handleNetworkEvent, type NetworkEventRoutes } from './handlers/network-event.js';
import { handleHashHeartbeat } from './handlers/hash-heartbeat.js';
import { handlePeerSubscribed } from './handlers/peer-subscribed.js';
import { NodeManagerErrorCode } from './errors.js';
import { routeStream } from './handlers/route-stream.js';
import { createNodeManagerMetrics, type NodeManagerMetrics } from './metrics.js';

export interface NodeManagerService extends ServiceHandle {
  admin: AdminServer;
  /** The API for application frontends (APP_API_LISTEN). */
  appApi: AppApiServer;
  metrics: NodeManagerMetrics;
}

/**
 * Composition root of node-manager: infra → stores → topic subscriptions → event outbox →
 * NET_EVENTS consumer → admin gRPC → app API (event reader, then listener) → status.
 */
export function createNodeManagerService(config: NodeManagerConfig, ctx: ServiceContext): NodeManagerService {
  const masterKey = requireMasterKey(config);
  const builder = new ServiceBuilder(SERVICE_NAME, config, ctx);
  const { lifecycle, infra } = builder;
  const metrics = createNodeManagerMetrics(ctx.registry);
  const log = (module: string) => ctx.logger.child({ module: `node-manager.${module}` });

  const network = builder.networkClient();
  const governanceLog = log('governance');
  // Every op applied here (gossip, admin calls, catch-ups) asks for a governance-pending drain and
  // re-evaluates the group's subscriptions.
  const governance = {
    divergences: metrics.projectionDivergences,
    onApplied: async (groupId: Buffer, applied: readonly VerifiedGroupOp[]): Promise<void> => {
      // At once for this process; the other processes hear it from the database.
      hot.invalidate('group', groupId);
      await builder.governanceApplied(groupId, governanceLog);
      await reconcileGroup(contextDeps(), groupId, applied).catch((err: unknown) =>
        governanceLog.warn({ group: groupId.toString('hex'), err: errorMessage(err) }, 'Group reconcile failed'),
      );
    },
  };
  const sync = builder.syncClient(network, () => ({
    groups: store().groups,
    identities: store().identities,
    logger: governanceLog,
    ...governance,
  }));
  // Stores are built once Postgres is up (the pool exists only after start).
  const newStores = () => ({
    // Events of a commit are published at once (the outbox drain takes what could not be). The
    // contexts written most are held whole, so a group commit on their heads takes one round trip.
    states: new StateStore(
      infra.postgres.sql,
      undefined,
      outbox,
      HotTrees.optional(() => infra.postgres.sql, config.hotTrees, log('hot-trees'), ctx.registry),
    ),
    stateSync: new StateSyncStore(infra.postgres.sql),
    groups: new GroupStore(infra.postgres.sql, masterKey),
    identities: new IdentityRepo(infra.postgres.sql, masterKey),
    aliases: new AliasRepo(infra.postgres.sql),
    applications: new ApplicationRepo(infra.postgres.sql),
    blobs: new BlobRepo(infra.postgres.sql),
    gcRuns: new GcRepo(infra.postgres.sql),
    pending: new GovernancePendingRepo(infra.postgres.sql),
    handlerJobs: new HandlerJobRepo(infra.postgres.sql),
    privateEntries: new PrivateEntryRepo(infra.postgres.sql),
    clientGrants: new ClientGrantRepo(infra.postgres.sql),
  });
  let stores: ReturnType<typeof newStores> | undefined;
  const store = () => (stores ??= newStores());
  const hot = builder.addHotState(store);
  lifecycle.add(
    startable('stores', async () => {
      const filled = await store().groups.fillProjectionColumns();
      if (filled > 0) governanceLog.info({ ops: filled }, 'Filled the projection columns of stored group ops');
    }),
  );

  const subscriptions = lifecycle.add(
    new TopicSubscriptions({
      network,
      states: () => store().states,
      logger: log('subscriptions'),
      retryMs: SUBSCRIPTION_RETRY_MS,
    }),
  );
  const outbox = builder.addEventOutbox();
  lifecycle.add(
    startable('group-reconcile', async () => {
      // Governance may have changed while we were down (a removal caught up by another service).
      await reconcileAllGroups(contextDeps()).catch((err: unknown) =>
        governanceLog.warn({ err: errorMessage(err) }, 'Group reconcile at start failed'),
      );
    }),
  );

  const blobCache = new BlobCache({
    redis: () => infra.redis.redis,
    catalog: infra.catalog,
    limits: {
      maxAgeMs: config.blobs.cacheMaxAgeMs,
      maxCount: config.blobs.cacheMaxCount,
      maxBytes: config.blobs.cacheMaxBytes,
      entryMaxBytes: config.blobs.cacheEntryMax,
      evictionIntervalMs: config.blobs.cacheEvictionIntervalMs,
    },
    metrics: metrics.blobCache,
  });
  lifecycle.add(
    new BlobMaintenance({
      cache: blobCache,
      blobs: () => store().blobs,
      intervalMs: config.blobs.cacheEvictionIntervalMs,
      orphanGraceMs: config.blobs.orphanGraceMs,
      swept: metrics.blobOrphanChunksSwept,
      logger: log('blobs'),
    }),
  );

  const blobTransfer = (): BlobTransferDeps => ({
    ...store(),
    sync,
    network,
    nc: () => infra.nats.nc,
    catalog: infra.catalog,
    idleTimeoutMs: config.network.streamIdleTimeoutMs,
    limits: {
      maxBytes: config.blobs.maxStreamSize,
      fetchDeadlineMs: config.blobs.fetchDeadlineMs,
      serveMaxConcurrent: config.blobs.serveMaxConcurrent,
    },
    metrics,
    meters: transferMeters,
    logger: log('blob-transfer'),
  });
  const transferMeters = new TransferMeters(metrics);

  const clock = new HlcClock(randomBytes(HLC_NODE_ID_BYTES));
  const gossipLog = log('delta-gossip');
  const committer = new GroupCommitter(
    {
      states: () => store().states,
      clock,
      metrics: metrics.groupCommit,
      logger: log('group-commit'),
      gossip: (contextId, deltas) => gossipDeltas({ network, metrics, logger: gossipLog }, contextId, deltas),
    },
    GROUP_COMMIT_LIMITS,
  );
  const wasmLimits: WasmLimits = {
    ...DEFAULT_WASM_LIMITS,
    maxModuleBytes: config.wasm.maxModuleBytes,
    maxMemoryPages: config.wasm.maxMemoryPages,
    maxExecMs: config.wasm.maxExecMs,
    workerHeapMb: Math.max(16, Math.floor(config.wasm.workerHeapBytes / (1024 * 1024))),
    workerStackMb: Math.max(1, Math.floor(config.wasm.workerStackBytes / (1024 * 1024))),
    maxRegisters: config.wasm.maxRegisters,
    maxRegisterBytes: config.wasm.maxRegisterBytes,
    maxLogs: config.wasm.maxLogs,
    maxLogBytes: config.wasm.maxLogBytes,
    maxEvents: config.wasm.maxEvents,
    maxEventDataBytes: config.wasm.maxEventDataBytes,
    maxStorageWrites: config.wasm.maxStorageWrites,
    maxStorageWriteBytes: config.wasm.maxStorageWriteBytes,
    maxReturnBytes: config.wasm.maxReturnBytes,
  };
  const queuedWrites = new QueuedWrites();
  const queuedPrivate = new QueuedWrites();
  const wasm = {
    runtime: lifecycle.add(
      new WasmRuntime({
        workers: config.wasm.workers,
        queueMax: config.wasm.queueMax,
        limits: wasmLimits,
        registry: ctx.registry,
        logger: log('wasm'),
        storage: {
          // What calls whose deltas still commit wrote comes first.
          read: async (contextId, key) => {
            const queued = queuedWrites.lookup(contextId, key);
            if (queued) return queued.value ?? undefined;
            return store().states.get(Buffer.from(contextId), Buffer.from(key));
          },
          scan: async (contextId, request) => {
            const queued = queuedWrites.inRange(contextId, request);
            const removals = queued.filter((op) => op.value === null).length;
            const base = await store().states.scan(
              Buffer.from(contextId),
              Buffer.from(request.prefix),
              request.after && Buffer.from(request.after),
              request.limit + removals,
            );
            return overlayPage(base, base.length === request.limit + removals, queued, request.limit);
          },
          readPrivate: async (contextId, key) => {
            const queued = queuedPrivate.lookup(contextId, key);
            if (queued) return queued.value ?? undefined;
            return store().privateEntries.get(Buffer.from(contextId), Buffer.from(key));
          },
        },
      }),
    ),
    modules: new WasmModules({ blobs: () => store().blobs, limits: wasmLimits }, config.wasm.moduleCache, ctx.registry),
    locks: new ContextCallLocks(GROUP_COMMIT_LIMITS, metrics.groupCommit.rejected),
    queued: queuedWrites,
    queuedPrivate,
  };
  const headsClock = new HeadsClock({ states: () => store().states, clock, logger: log('contexts') });
  const specialized: SpecializedDeps = {
    invites: new PendingInvites({
      redis: () => infra.redis.redis,
      catalog: infra.catalog,
      ttlMs: config.specialized.inviteTtlMs,
      max: config.specialized.maxPending,
    }),
    inviteTopic: config.specialized.inviteTopic,
    acceptMockTee: config.specialized.acceptMockTee,
    relay: () => ({ nc: infra.nats.nc, catalog: infra.catalog, idleTimeoutMs: config.network.streamIdleTimeoutMs }),
  };
  if (config.node.mode === 'read-only') {
    // A read-only node listens for specialized-node discoveries.
    lifecycle.add(startable('specialized-invite-topic', () => subscriptions.joinTopic(config.specialized.inviteTopic)));
  }
  const clientTokens = new ClientTokens({
    secret: clientTokenSecret(masterKey),
    accessTtlMs: config.appApi.accessTokenTtlMs,
    grants: () => store().clientGrants,
  });
  const contextDeps = (): ContextDeps => ({
    ...store(),
    nodeMode: config.node.mode,
    convergenceIntervalMs: config.sync.convergenceIntervalMs,
    clientTokens,
    specialized,
    hot,
    headsClock,
    network,
    outbox,
    subscriptions,
    blobCache,
    blobTransfer: blobTransfer(),
    blobLimits: { maxBytes: config.blobs.maxStreamSize, wholeMaxBytes: config.blobs.cacheEntryMax },
    urlFetch: {
      ...DEFAULT_URL_LIMITS,
      allowLoopback: config.apps.urlAllowLoopback,
      maxBytes: config.blobs.maxStreamSize,
    },
    clock,
    committer,
    wasm,
    catalog: infra.catalog,
    js: () => infra.nats.js,
    nc: () => infra.nats.nc,
    redis: () => infra.redis.redis,
    busMetrics: infra.busMetrics,
    metrics,
    logger: log('contexts'),
    ...governance,
  });

  lifecycle.add(
    new AppHandlerRunner({
      contexts: contextDeps,
      sql: () => infra.postgres.sql,
      channel: handlerJobsChannel(infra.catalog.postgres.schema),
      metrics,
      logger: log('app-handlers'),
    }),
  );

  const groupGossip = (): GroupGossipDeps => ({
    ...store(),
    ...governance,
    logger: governanceLog,
    sync,
    metrics,
    reconcile: (groupId) => reconcileGroup(contextDeps(), groupId),
  });
  const routing = { js: () => infra.nats.js, catalog: infra.catalog, busMetrics: infra.busMetrics, metrics };
  const routes: NetworkEventRoutes = {
    // The network service sends state deltas of context topics straight to STATE_DELTA: one here came
    // on another topic, where no context's delta belongs.
    stateDeltas: (_deltas, gossip) =>
      Promise.reject(
        new ProcessingError(
          ProcessingAction.Reject,
          NodeManagerErrorCode.StateDeltaOffTopic,
          'a state delta gossiped outside its context topic',
          { meta: { topic: gossip.topic, source: gossip.sourcePeer } },
        ),
      ),
    groupOp: (op, gossip) => handleGroupOpsGossip(groupGossip(), [op], gossip),
    groupGovernanceDelta: (delta, gossip) => handleGovernanceDelta(groupGossip(), delta, gossip),
    groupHeartbeat: (heartbeat, gossip) => handleGroupHeartbeat(groupGossip(), heartbeat, gossip),
    groupMutation: (note, gossip) => handleGroupMutation(groupGossip(), note, gossip),
    streamOpened: (opened) =>
      routeStream(
        {
          ...routing,
          logger: log('stream-route'),
          serveBlob: (o) => serveBlobStream(blobTransfer(), o),
          serveSpecializedInvite: (o) => serveSpecializedInvite(contextDeps(), o),
        },
        opened,
      ),
    hashHeartbeat: (heartbeat, gossip) =>
      handleHashHeartbeat(
        { ...store(), ...routing, redis: () => infra.redis.redis, logger: log('heartbeat') },
        heartbeat,
        gossip,
      ),
    specializedDiscovery: async (discovery, gossip) => answerDiscovery(contextDeps(), discovery, gossip),
    specializedConfirmation: (confirmation) => confirmSpecializedJoin(contextDeps(), confirmation),
    peerSubscribed: (event) =>
      handlePeerSubscribed(
        {
          ...store(),
          ...routing,
          logger: log('peer-subscribed'),
          groupSync: (groupId, peer) => handleGroupPeerSubscribed(groupGossip(), groupId, peer),
        },
        event,
      ),
  };
  const eventLog = log('network-event');
  const netEvents = builder.addConsumer({
    spec: infra.catalog.consumers.netEvents,
    decode: decodeNetworkEvent,
    handle: (event) => handleNetworkEvent({ metrics, logger: eventLog, routes }, event),
    concurrency: config.netEvents.maxInFlight,
  });

  const admin = lifecycle.add(
    new AdminServer({
      listen: config.admin.grpcListen,
      home: config.node.home,
      token: config.admin.token,
      tokenFile: config.admin.tokenFile,
      tlsCertFile: config.admin.tlsCertFile,
      tlsKeyFile: config.admin.tlsKeyFile,
      metrics,
      logger: log('admin'),
      info: {
        nodeName: config.node.name,
        nodeMode: config.node.mode,
        version: ctx.version,
        network,
        serviceStatuses: () => readServiceStatuses(infra.redis.redis, infra.catalog),
      },
      contexts: contextDeps,
      isReady: () => handle.isReady(),
    }),
  );

  const eventHub = lifecycle.add(
    new EventHub({
      js: () => infra.nats.js,
      catalog: infra.catalog,
      replayEvents: config.appApi.replayEvents,
      metrics,
      logger: log('app-api'),
    }),
  );
  const appApi = lifecycle.add(
    new AppApiServer({
      config: config.appApi,
      home: config.node.home,
      contexts: contextDeps,
      tokens: clientTokens,
      hub: eventHub,
      metrics,
      registry: ctx.registry,
      logger: log('app-api'),
    }),
  );

  const handle = builder.build(() => netEvents.isConsuming);
  return { ...handle, admin, appApi, metrics };
}
