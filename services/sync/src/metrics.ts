import { Counter, type Registry } from '@cnode/runtime';

export function createSyncMetrics(registry: Registry) {
  return {
    responderRequests: new Counter({
      name: 'sync_responder_requests_total',
      help: 'Requests served on inbound sync streams, by request kind and outcome (served or a refusal code)',
      labelNames: ['kind', 'outcome'],
      registers: [registry],
    }),
    deltasServed: new Counter({
      name: 'sync_responder_deltas_served_total',
      help: 'Deltas sent to peers in DeltaResponses',
      registers: [registry],
    }),
  };
}

export type SyncMetrics = ReturnType<typeof createSyncMetrics>;
