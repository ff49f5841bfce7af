import {
  LaneConsumer,
  NetworkClient,
  StreamConsumer,
  type LaneConsumerOptions,
  type StreamConsumerOptions,
} from '@cnode/bus';
import type { NodeConfig } from '@cnode/config';
import { NodeEventOutbox, SyncClient, requestGovernanceDrain, type SyncClientOptions } from '@cnode/context-core';
import { bus } from '@cnode/proto';
import {
  Lifecycle,
  LifecycleStatus,
  errorMessage,
  exportProcessWideCaches,
  type Logger,
  type ServiceContext,
  type ServiceHandle,
} from '@cnode/runtime';
import { HotState, hotStateChannel, type HotStateStores } from '@cnode/store';
import { addInfra, type Infra } from './infra.js';
import { addStatusReporter } from './service-status.js';

/** How often a node-event outbox is swept for events a commit did not publish right away. */
const OUTBOX_SWEEP_MS = 1_000;

/**
 * The common shape of every service's composition root: infrastructure first, then the service's own
 * components (added by the caller in start order), then the status reporter. Readiness is "running,
 * NATS connected, and whatever the service adds". The helpers build the parts several services
 * share, wired to this service's infrastructure and configuration.
 */
export class ServiceBuilder {
  readonly lifecycle: Lifecycle;
  readonly infra: Infra;

  constructor(
    private readonly service: string,
    private readonly config: Readonly<NodeConfig>,
    private readonly ctx: ServiceContext,
  ) {
    this.lifecycle = new Lifecycle(ctx.logger);
    this.infra = addInfra(this.lifecycle, config, ctx);
    // Imported keys and cut projections are cached for the whole process: this service reports them.
    exportProcessWideCaches(ctx.registry);
  }

  /** The typed client of this node's network service. */
  networkClient(): NetworkClient {
    return new NetworkClient({
      nc: () => this.infra.nats.nc,
      catalog: this.infra.catalog,
      timeoutMs: this.config.network.commandTimeoutMs,
    });
  }

  /**
   * The initiator side of the sync stream protocol, through this node's network service;
   * `governance` checks (and catches up) the identity a responder proves.
   */
  syncClient(network: NetworkClient, governance: SyncClientOptions['governance']): SyncClient {
    return new SyncClient({
      network,
      governance,
      nc: () => this.infra.nats.nc,
      catalog: this.infra.catalog,
      requestTimeoutMs: this.config.sync.timeoutMs,
      idleTimeoutMs: this.config.network.streamIdleTimeoutMs,
    });
  }

  /**
   * After group ops applied in this service: ask state-delta to drain the group's governance-pending
   * deltas. A hint, so a failure is only logged (the next delta receipt or interval sync drains too).
   */
  async governanceApplied(groupId: Buffer, logger: Logger): Promise<void> {
    await requestGovernanceDrain(
      { js: this.infra.nats.js, metrics: this.infra.busMetrics, catalog: this.infra.catalog },
      { groupId, trigger: bus.DrainTrigger.DRAIN_TRIGGER_GOVERNANCE_APPLIED },
    ).catch((err: unknown) =>
      logger.warn({ group: groupId.toString('hex'), err: errorMessage(err) }, 'Governance drain request not queued'),
    );
  }

  /** Adds the publisher of the node-event outbox to the lifecycle. */
  addEventOutbox(): NodeEventOutbox {
    return this.lifecycle.add(
      new NodeEventOutbox({
        sql: () => this.infra.postgres.sql,
        js: () => this.infra.nats.js,
        redis: () => this.infra.redis.redis,
        catalog: this.infra.catalog,
        busMetrics: this.infra.busMetrics,
        registry: this.ctx.registry,
        logger: this.ctx.logger.child({ module: `${this.service}.outbox` }),
        intervalMs: OUTBOX_SWEEP_MS,
      }),
    );
  }

  /**
   * Adds the process's hot state (cached context settings, identities, group keys, heads, standings,
   * aliases), invalidated through the node's Postgres notifications.
   */
  addHotState(stores: () => HotStateStores): HotState {
    return this.lifecycle.add(
      new HotState({
        stores,
        sql: () => this.infra.postgres.sql,
        channel: hotStateChannel(this.infra.catalog.postgres.schema),
        limits: this.config.hotState,
        registry: this.ctx.registry,
        logger: this.ctx.logger.child({ module: `${this.service}.hot-state` }),
      }),
    );
  }

  /** Adds a durable consumer to the lifecycle; in-flight handlers get half the shutdown deadline. */
  addConsumer<T>(
    opts: Pick<StreamConsumerOptions<T>, 'spec' | 'decode' | 'handle' | 'concurrency'>,
  ): StreamConsumer<T> {
    return this.lifecycle.add(
      new StreamConsumer({
        ...opts,
        js: () => this.infra.nats.js,
        metrics: this.infra.busMetrics,
        logger: this.ctx.logger,
        drainTimeoutMs: this.config.shutdown.deadlineMs / 2,
      }),
    );
  }

  /** A lane consumer (batches per lane, lanes in parallel) with the process's infra and shutdown deadline. */
  addLaneConsumer<T>(
    opts: Pick<
      LaneConsumerOptions<T>,
      'spec' | 'decode' | 'laneOf' | 'handleBatch' | 'maxInFlight' | 'maxBatch' | 'maxLanes'
    >,
  ): LaneConsumer<T> {
    return this.lifecycle.add(
      new LaneConsumer({
        ...opts,
        js: () => this.infra.nats.js,
        metrics: this.infra.busMetrics,
        registry: this.ctx.registry,
        logger: this.ctx.logger,
        drainTimeoutMs: this.config.shutdown.deadlineMs / 2,
      }),
    );
  }

  /** Finishes the lifecycle; `ready` adds the service's own readiness conditions. */
  build(ready: () => boolean = () => true): ServiceHandle {
    // Ready only while every dependency answers: NATS, Postgres (probed) and Redis.
    const isReady = (): boolean =>
      this.lifecycle.status === LifecycleStatus.Running &&
      this.infra.nats.isConnected &&
      this.infra.postgres.isHealthy &&
      this.infra.redis.isConnected &&
      ready();
    addStatusReporter(this.lifecycle, {
      service: this.service,
      version: this.ctx.version,
      intervalMs: this.config.status.intervalMs,
      catalog: this.infra.catalog,
      redis: () => this.infra.redis.redis,
      isReady,
      logger: this.ctx.logger,
    });
    return { lifecycle: this.lifecycle, isReady };
  }
}
