import {
  NatsComponent,
  createBusMetrics,
  createCatalog,
  ensureConsumer,
  ensureStream,
  type BusMetrics,
  type Catalog,
} from '@cnode/bus';
import type { NodeConfig } from '@cnode/config';
import { createQueueMetrics, startable, type Lifecycle, type QueueMetrics, type ServiceContext } from '@cnode/runtime';
import { PostgresComponent, RedisComponent, runMigrations } from '@cnode/store';

/** The shared infrastructure every service process talks to, wired into its lifecycle. */
export interface Infra {
  catalog: Catalog;
  nats: NatsComponent;
  postgres: PostgresComponent;
  redis: RedisComponent;
  busMetrics: BusMetrics;
  queueMetrics: QueueMetrics;
}

/** The catalog of a node with the mailbox sizes its configuration asks for. */
export function catalogFor(config: NodeConfig): Catalog {
  return createCatalog(config.node.name, {
    netEventsMax: config.netEvents.queueMax,
    netEventsInFlight: config.netEvents.maxInFlight,
    stateDeltaMax: config.stateDelta.queueMax,
    stateDeltaInFlight: config.stateDelta.maxInFlight,
    syncMaxConcurrent: config.sync.maxConcurrent,
    syncRequestDedupWindowMs: config.sync.intervalMs,
    mailboxMaxBytes: config.nats.streamMaxBytes,
  });
}

/**
 * Adds, in start order: NATS → Postgres → migrations → Redis → JetStream topology. Stop runs in
 * reverse, after the service's own components (added later) have stopped: intake stops first,
 * connections close last.
 */
export function addInfra(lifecycle: Lifecycle, config: NodeConfig, ctx: ServiceContext): Infra {
  const catalog = catalogFor(config);
  const clientName = `${config.node.name}/${config.service}`;
  const nats = lifecycle.add(new NatsComponent({ url: config.nats.url, clientName, logger: ctx.logger }));
  const postgres = lifecycle.add(
    new PostgresComponent({
      url: config.postgres.url,
      schema: catalog.postgres.schema,
      poolMax: config.postgres.poolMax,
      applicationName: clientName,
      logger: ctx.logger,
    }),
  );
  lifecycle.add(
    startable('migrations', async () => {
      await runMigrations(postgres.sql, { schema: catalog.postgres.schema, logger: ctx.logger });
    }),
  );
  const redis = lifecycle.add(
    new RedisComponent({ url: config.redis.url, keyPrefix: catalog.redis.prefix, clientName, logger: ctx.logger }),
  );
  // Every service declares the whole topology, so start order across services does not matter.
  lifecycle.add(
    startable('jetstream-topology', async () => {
      for (const stream of Object.values(catalog.streams)) await ensureStream(nats.jsm, stream);
      for (const consumer of Object.values(catalog.consumers)) await ensureConsumer(nats.jsm, consumer);
    }),
  );
  return {
    catalog,
    nats,
    postgres,
    redis,
    busMetrics: createBusMetrics(ctx.registry),
    queueMetrics: createQueueMetrics(ctx.registry),
  };
}
