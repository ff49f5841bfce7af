import { createCatalog, type Catalog, type FrameStream } from '@cnode/bus';
import { SyncClient } from '@cnode/context-core';
import { HlcClock } from '@cnode/primitives';
import { bus } from '@cnode/proto';
import { BoundedCache, Counter, Histogram, Registry, type Logger } from '@cnode/runtime';
import {
  AliasRepo,
  DeltaBufferRepo,
  GovernancePendingRepo,
  GroupStore,
  HotState,
  IdentityRepo,
  StateStore,
  StateSyncStore,
  hotStateChannel,
  type Redis,
} from '@cnode/store';
import { freshSchema, testLogger } from '@cnode/testing';
import { GroupCommitter } from '../../services/node-manager/src/contexts/group-commit.js';
import { createStateDeltaMetrics } from '../../services/state-delta/src/metrics.js';
import type { PipelineDeps } from '../../services/state-delta/src/pipeline/deps.js';
import { handleDeltaBatch } from '../../services/state-delta/src/pipeline/handle-delta-batch.js';
import { HeartbeatPublisher } from '../../services/state-delta/src/pipeline/heartbeat.js';
import { StatusBoard } from '../../services/sync/src/driver/status-board.js';
import { ConvergenceRecorder } from '../../services/sync/src/convergence/recorder.js';
import type { InitiatorDeps } from '../../services/sync/src/initiator/deps.js';
import { syncContext, type SyncRunResult } from '../../services/sync/src/initiator/run-sync.js';
import { createSyncMetrics } from '../../services/sync/src/metrics.js';
import type { ResponderDeps } from '../../services/sync/src/responder/deps.js';
import { serveSyncSession } from '../../services/sync/src/responder/handle-sync-stream.js';
import type { SimEndpoint, SimNetwork } from './sim-network.js';

type Schema = Awaited<ReturnType<typeof freshSchema>>;

/** Nothing in the simulation goes over NATS: a call that would is a bug of the simulation. */
const noNats = (): never => {
  throw new Error('the simulation has no NATS');
};

/** The production parts of one node that live in memory (rebuilt by a restart; the database stays). */
interface Volatile {
  hot: HotState;
  sync: SyncClient;
  pipeline: PipelineDeps;
  initiator: InitiatorDeps;
  responder: ResponderDeps;
  committer: GroupCommitter;
  clock: HlcClock;
}

/**
 * One simulated node: the production stores on a Postgres schema of its own, Redis under its own
 * prefix, and in memory the production state-delta pipeline (`handleDeltaBatch`: admission, cut
 * verdicts, buffering, parent fetch), the sync initiator (`syncContext`: protocol selection, delta
 * catch-up, tree comparison, snapshot) and responder (`serveSyncSession`), and node-manager's group
 * commit for local writes. Only the transport is the simulation's: gossip and streams go through
 * `SimNetwork`, and no process boundary or NATS mailbox sits in between.
 */
export class SimNode implements SimEndpoint {
  readonly peerId: string;
  readonly catalog: Catalog;
  private readonly masterKey = Buffer.alloc(32, 7);
  private volatile: Volatile | undefined;
  private clockNode: Buffer = Buffer.alloc(16);
  net: SimNetwork | undefined;
  /** Each history's writes get an HLC wall clock of simulated time from a fixed epoch (reproducible). */
  epochMs = 0;

  private constructor(
    readonly index: number,
    private readonly db: Schema,
    readonly redis: Redis,
    private readonly logger: Logger,
  ) {
    this.peerId = `sim-peer-${index}`;
    this.catalog = createCatalog(`sim${index}-${process.pid}`);
  }

  static async create(index: number, redisFactory: (prefix: string) => Redis): Promise<SimNode> {
    const db = await freshSchema({ applicationName: `cnode-sim-${index}`, max: 4 });
    const catalog = createCatalog(`sim${index}-${process.pid}`);
    return new SimNode(index, db, redisFactory(catalog.redis.prefix), testLogger());
  }

  get sql() {
    return this.db.sql;
  }

  /** The stores (stateless over the pool: one set serves every history). */
  readonly stores = (() => {
    let built:
      | (Pick<InitiatorDeps, 'states' | 'stateSync' | 'groups' | 'identities' | 'buffers' | 'pending'> & {
          aliases: AliasRepo;
        })
      | undefined;
    return () =>
      (built ??= {
        states: new StateStore(this.db.sql),
        stateSync: new StateSyncStore(this.db.sql),
        groups: new GroupStore(this.db.sql, this.masterKey),
        identities: new IdentityRepo(this.db.sql, this.masterKey),
        buffers: new DeltaBufferRepo(this.db.sql),
        pending: new GovernancePendingRepo(this.db.sql),
        aliases: new AliasRepo(this.db.sql),
      });
  })();

  /** Joins a history's network with a fresh memory (and a clock node id drawn from its seed). */
  async begin(net: SimNetwork, clockNode: Buffer, epochMs: number): Promise<void> {
    this.net = net;
    this.clockNode = clockNode;
    this.epochMs = epochMs;
    net.attach(this);
    await this.restart();
  }

  /** A crash and restart of every service of the node: all memory is lost, the database stays. */
  async restart(): Promise<void> {
    await this.volatile?.hot.stop();
    this.volatile = this.build();
    await this.volatile.hot.start();
  }

  async end(): Promise<void> {
    await this.volatile?.hot.stop();
    this.volatile = undefined;
  }

  private get parts(): Volatile {
    if (!this.volatile) throw new Error(`node ${this.index} is not in a history`);
    return this.volatile;
  }

  /** Commits one local write (node-manager's group commit), gossiped on commit. */
  commit(...args: Parameters<GroupCommitter['commit']>) {
    return this.parts.committer.commit(...args);
  }

  /** The node's hybrid clock, as node-manager's call runner stamps a call's actions with it. */
  now() {
    return this.parts.clock.now();
  }

  async receive(messages: bus.StateDeltaReceived[], more: () => boolean): Promise<void> {
    await handleDeltaBatch(this.parts.pipeline, messages, more);
  }

  serve(stream: FrameStream): Promise<void> {
    return serveSyncSession(this.parts.responder, stream);
  }

  sync(contextId: Buffer, peerHint?: string): Promise<SyncRunResult> {
    return syncContext(this.parts.initiator, contextId, peerHint);
  }

  async close(): Promise<void> {
    await this.end();
    this.redis.disconnect();
    await this.db.drop();
  }

  private build(): Volatile {
    const registry = new Registry();
    const logger = this.logger;
    const net = () => {
      if (!this.net) throw new Error('no network');
      return this.net;
    };
    const stores = this.stores();
    const redis = () => this.redis;
    const hot = new HotState({
      sql: () => this.db.sql,
      channel: hotStateChannel(this.db.schema),
      stores: () => stores,
      limits: { entries: 1000, maxAgeMs: 60_000 },
      registry,
      logger,
    });
    const sync = new SyncClient({
      network: { info: async () => bus.NetworkInfoResponse.fromPartial({ peerId: this.peerId }), openStream: noNats },
      nc: noNats,
      catalog: this.catalog,
      requestTimeoutMs: 10_000,
      idleTimeoutMs: 30_000,
      governance: () => ({ groups: stores.groups, identities: stores.identities, logger }),
      openStream: async (peer) => net().openStream(this.peerId, peer),
    });
    // One registry per service, as in separate processes (both define some of the same metrics).
    const deltaMetrics = createStateDeltaMetrics(registry);
    const syncMetrics = createSyncMetrics(new Registry());
    const pipeline: PipelineDeps = {
      ...stores,
      hot,
      redis: this.redis,
      presence: { alone: true },
      catalog: this.catalog,
      network: { reportPeer: async () => bus.ReportPeerResponse.fromPartial({}) },
      sync,
      // Heartbeats only make nodes ask for syncs; the simulation schedules syncs itself.
      heartbeat: new HeartbeatPublisher({
        network: { publish: async () => bus.PublishResponse.fromPartial({}) },
        metrics: deltaMetrics,
        logger,
      }),
      metrics: deltaMetrics,
      logger,
      deferredFetches: new BoundedCache('state_delta_deferred_parent_fetches', 1000, registry),
    };
    const initiator: InitiatorDeps = {
      ...stores,
      outbox: { kick: () => undefined },
      sync,
      network: {
        topicPeers: async () => bus.TopicPeersResponse.fromPartial({ subscribers: net().topicPeers(this.peerId) }),
      },
      redis,
      catalog: this.catalog,
      status: new StatusBoard({
        redis,
        catalog: this.catalog,
        states: stores.states,
        outbox: { kick: () => undefined },
        logger,
      }),
      convergence: new ConvergenceRecorder({ redis, catalog: this.catalog, logger }),
      metrics: syncMetrics,
      logger,
      // Small pages and catch-up budgets: more rounds and more protocol hand-overs per history.
      limits: { sessionDeadlineMs: 60_000, maxCatchupDeltas: 16, probeConcurrency: 2, snapshotPageBytes: 2048 },
    };
    const responder: ResponderDeps = {
      ...stores,
      sync,
      redis,
      nc: noNats,
      catalog: this.catalog,
      idleTimeoutMs: 30_000,
      sessionDeadlineMs: 90_000,
      maxRequestsPerSession: 10_000,
      metrics: syncMetrics,
      logger,
    };
    const clock = new HlcClock(this.clockNode, () => this.epochMs + net().now);
    const committer = new GroupCommitter(
      {
        states: () => stores.states,
        clock,
        metrics: {
          batchSize: new Histogram({ name: 'sim_batch_size', help: 'batch', registers: [registry] }),
          rejected: new Counter({
            name: 'sim_rejected',
            help: 'rejected',
            labelNames: ['reason'],
            registers: [registry],
          }),
        },
        logger,
        gossip: async (_contextId, deltas) => net().publish(this.peerId, deltas),
      },
      { maxBatch: 256, maxQueuedPerContext: 1024, maxQueued: 4096 },
    );
    return { hot, sync, pipeline, initiator, responder, committer, clock };
  }
}
