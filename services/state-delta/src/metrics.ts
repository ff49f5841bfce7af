import { Counter, type Registry } from '@cnode/runtime';

/** What became of one received delta. Metric label values of delta_outcomes_total. */
export enum DeltaOutcomeLabel {
  Applied = 'applied',
  /** Stored until its parents arrive. */
  Pending = 'pending',
  Duplicate = 'duplicate',
  /** Our own delta came back through gossip. */
  OwnEcho = 'own_echo',
  /** Held durably while a sync session runs or the context has no state yet. */
  Buffered = 'buffered',
  UnknownContext = 'unknown_context',
  NotMember = 'not_member',
  Malformed = 'malformed',
  BadSignature = 'bad_signature',
  HlcDrift = 'hlc_drift',
  KeyUnknown = 'key_unknown',
  DecryptFailed = 'decrypt_failed',
  IdMismatch = 'id_mismatch',
}

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
    heartbeats: new Counter({
      name: 'state_delta_heartbeats_total',
      help: 'HashHeartbeats published after applying remote deltas, by outcome (sent, failed, debounced)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
}

export type StateDeltaMetrics = ReturnType<typeof createStateDeltaMetrics>;
