import { Counter, type Registry } from '@cnode/runtime';

export { DeltaOutcomeLabel } from '@cnode/context-core';

export function createStateDeltaMetrics(registry: Registry) {
  return {
    outcomes: new Counter({
      name: 'delta_outcomes_total',
      help: 'Received deltas (gossip and fetched parents) by outcome',
      labelNames: ['outcome', 'via'],
      registers: [registry],
    }),
    parentFetches: new Counter({
      name: 'state_delta_parent_fetches_total',
      help: 'Missing-parent fetches from a source peer, by outcome (ok, empty, failed, backoff, busy, no_identity)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    governanceFetches: new Counter({
      name: 'state_delta_governance_fetches_total',
      help: 'Governance catch-ups for deltas citing unknown group ops, by outcome (ok, failed)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    bufferEvictions: new Counter({
      name: 'state_delta_buffer_evictions_total',
      help: 'Buffered deltas evicted (oldest first) because a context waiting for its snapshot had a full buffer',
      registers: [registry],
    }),
    heartbeats: new Counter({
      name: 'state_delta_heartbeats_total',
      help: 'HashHeartbeats published after applying remote deltas, by outcome (sent, failed, debounced)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
}

export type StateDeltaMetrics = ReturnType<typeof createStateDeltaMetrics>;
