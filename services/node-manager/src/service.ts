import { NetworkClient, StreamConsumer } from '@cnode/bus';
import type { ServiceContext, ServiceHandle } from '@cnode/runtime';
import { ServiceBuilder, readServiceStatuses } from '@cnode/service-kit';
import type { NodeManagerConfig } from './config.js';
import { SERVICE_NAME } from './constants.js';
import { AdminServer } from './grpc/admin-server.js';
import { decodeNetworkEvent, handleNetworkEvent } from './handlers/network-event.js';
import { createNodeManagerMetrics, type NodeManagerMetrics } from './metrics.js';

export interface NodeManagerService extends ServiceHandle {
  admin: AdminServer;
  metrics: NodeManagerMetrics;
}

/** Composition root of node-manager: infra → NET_EVENTS consumer → admin gRPC → status. */
export function createNodeManagerService(config: NodeManagerConfig, ctx: ServiceContext): NodeManagerService {
  const builder = new ServiceBuilder(SERVICE_NAME, config, ctx);
  const { lifecycle, infra } = builder;
  const metrics = createNodeManagerMetrics(ctx.registry);
  const eventLog = ctx.logger.child({ module: 'node-manager.network-event' });

  const netEvents = lifecycle.add(
    new StreamConsumer({
      spec: infra.catalog.consumers.netEvents,
      decode: decodeNetworkEvent,
      handle: (event) => handleNetworkEvent({ metrics, logger: eventLog }, event),
      concurrency: config.netEvents.maxInFlight,
      js: () => infra.nats.js,
      metrics: infra.busMetrics,
      logger: ctx.logger,
      drainTimeoutMs: config.shutdown.deadlineMs / 2,
    }),
  );

  const network = new NetworkClient({
    nc: () => infra.nats.nc,
    catalog: infra.catalog,
    timeoutMs: config.network.commandTimeoutMs,
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
      logger: ctx.logger.child({ module: 'node-manager.admin' }),
      info: {
        nodeName: config.node.name,
        version: ctx.version,
        network,
        serviceStatuses: () => readServiceStatuses(infra.redis.redis, infra.catalog),
      },
    }),
  );

  return { ...builder.build(() => netEvents.isConsuming), admin, metrics };
}
