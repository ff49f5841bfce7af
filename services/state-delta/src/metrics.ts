import { Counter, Gauge, type Registry } from '@cnode/runtime';

export { DeltaOutcomeLabel } from '@cnode/context-core';

export function createStateDeltaMetrics(registry: Registry) {
  return {
    outcomes: new Counter({
      name: 'delta_outcomes_total',
      help: 'Received deltas (gossip and fetched parents) by outcome',
      labelNames: ['outcome', 'via'],
      registers: [registry],
    }),
    replicasLive: new Gauge({
      name: 'state_delta_replicas_live',
      help: 'State-delta replicas of this node seen live at the last presence refresh (0: Redis did not answer)',
      registers: [registry],
    }),
    laneLocks: new Counter({
      name: 'state_delta_lane_locks_total',
      help: 'Per-context lane locks for a batch across replicas, by outcome (acquired, waited, timeout, unavailable; alone: not taken, no other replica live)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    peerReports: new Counter({
      name: 'state_delta_peer_reports_total',
      help: 'Refusals of gossiped deltas reported to the network service as strikes against their source peer, by outcome (sent, failed)',
      labelNames: ['outcome'],
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
    governanceParked: new Counter({
      name: 'governance_pending_parked_total',
      help: 'Deltas parked in the governance-pending buffer (their cited cut is unknown here), by outcome (parked, duplicate, parked_evicting_oldest)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    governanceDrainOutcomes: new Counter({
      name: 'governance_drain_outcome_total',
      help: 'Governance-pending deltas drained, by outcome (applied, removed, never_member, not_member, read_only, rebuffered, dropped_max_attempts, no_governance_position, group_disappeared) and trigger (delta_receipt, governance_applied, interval_sync)',
      labelNames: ['outcome', 'trigger'],
      registers: [registry],
    }),
    projectionDivergences: new Counter({
      name: 'unified_projection_divergence_total',
      help: 'Disagreements between the projection at a cut and the live membership, by plane (membership-cut, membership-cut-grant, membership-sync)',
      labelNames: ['plane'],
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
