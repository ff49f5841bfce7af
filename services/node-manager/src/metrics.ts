import { Counter, type Registry } from '@cnode/runtime';

export function createNodeManagerMetrics(registry: Registry) {
  return {
    networkEvents: new Counter({
      name: 'node_manager_network_events_total',
      help: 'Network events taken from NET_EVENTS and dispatched, by kind',
      labelNames: ['kind'],
      registers: [registry],
    }),
    broadcastMessages: new Counter({
      name: 'node_manager_broadcast_messages_total',
      help: 'Gossip BroadcastMessages decoded, by variant',
      labelNames: ['variant'],
      registers: [registry],
    }),
    grpcRequests: new Counter({
      name: 'admin_grpc_requests_total',
      help: 'Admin gRPC calls, by method and status code',
      labelNames: ['method', 'code'],
      registers: [registry],
    }),
  };
}

export type NodeManagerMetrics = ReturnType<typeof createNodeManagerMetrics>;
