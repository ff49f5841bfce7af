import { Counter, Gauge, Histogram, type Registry } from '@cnode/runtime';

export function createSyncMetrics(registry: Registry) {
  return {
    // --- responder ---
    responderRequests: new Counter({
      name: 'sync_responder_requests_total',
      help: 'Requests served on inbound sync sessions, by request kind and outcome (served or a refusal code)',
      labelNames: ['kind', 'outcome'],
      registers: [registry],
    }),
    responderBytes: new Counter({
      name: 'sync_responder_bytes_sent_total',
      help: 'Bytes of answer frames sent on inbound sync sessions',
      registers: [registry],
    }),
    deltasServed: new Counter({
      name: 'sync_responder_deltas_served_total',
      help: 'Deltas sent to peers in DeltaResponses',
      registers: [registry],
    }),
    treeNodesServed: new Counter({
      name: 'sync_responder_tree_nodes_served_total',
      help: 'State tree nodes sent to peers in TreeNodeResponses',
      registers: [registry],
    }),
    keysShared: new Counter({
      name: 'sync_responder_keys_shared_total',
      help: 'Group keys sealed to requesting members in KeyShareResponses',
      registers: [registry],
    }),
    entitiesServed: new Counter({
      name: 'sync_entities_served_total',
      help: 'State entries sent to peers, by protocol',
      labelNames: ['protocol'],
      registers: [registry],
    }),
    // --- both sides ---
    bytes: new Counter({
      name: 'sync_bytes_total',
      help: 'Sync bytes by protocol and direction (sent, received), counted by initiators and by snapshot responders',
      labelNames: ['protocol', 'direction'],
      registers: [registry],
    }),
    entitiesMerged: new Counter({
      name: 'sync_entities_merged_total',
      help: "State entries that changed our state or the peer's, by direction (pulled, pushed_to_peer, pushed_to_us, snapshot)",
      labelNames: ['direction'],
      registers: [registry],
    }),
    // --- initiator and scheduling ---
    requests: new Counter({
      name: 'sync_requests_total',
      help: 'Sync requests taken from SYNC_REQUESTS, by reason and what became of them (ran, spacing, backoff, busy, no_permit, unknown_context)',
      labelNames: ['reason', 'outcome'],
      registers: [registry],
    }),
    sessionsActive: new Gauge({
      name: 'sync_sessions_active',
      help: 'Initiator sessions running in this process',
      registers: [registry],
    }),
    sessionDuration: new Histogram({
      name: 'sync_session_duration_seconds',
      help: 'Initiator session duration by protocol',
      labelNames: ['protocol'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers: [registry],
    }),
    sessions: new Counter({
      name: 'sync_sessions_total',
      help: 'Initiator sessions by protocol and outcome (ok, or a failure reason: timeout, peer_refused, bad_answer, root_mismatch, no_peers, not_materialized, error)',
      labelNames: ['protocol', 'outcome'],
      registers: [registry],
    }),
    deltasFetched: new Counter({
      name: 'sync_deltas_fetched_total',
      help: 'Deltas received during catch-up (DAG heads, buffer replay), by outcome',
      labelNames: ['outcome', 'via'],
      registers: [registry],
    }),
    keyShares: new Counter({
      name: 'sync_key_shares_total',
      help: 'Group keys obtained from member peers by key share, by outcome (received: new keys kept; unopenable: envelopes that did not open)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    divergences: new Counter({
      name: 'sync_divergences_detected_total',
      help: "Sessions that found the peer's root differing from ours, by the protocol chosen to repair it",
      labelNames: ['protocol'],
      registers: [registry],
    }),
    heartbeats: new Counter({
      name: 'sync_heartbeats_total',
      help: 'Periodic HashHeartbeats, by outcome (sent, failed, skipped: sent by another replica this interval)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    groupHeartbeats: new Counter({
      name: 'sync_group_heartbeats_total',
      help: 'Periodic GroupStateHeartbeats (governance DAG heads per group), by outcome (sent, failed, skipped)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    preSyncDrains: new Counter({
      name: 'sync_pre_sync_governance_total',
      help: 'Governance pulls and drain requests before interval syncs of contexts with parked deltas, by outcome (requested, failed)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    // --- convergence ---
    convergenceRounds: new Counter({
      name: 'sync_convergence_rounds_total',
      help: "Convergence probe rounds, by outcome (ran; skipped: another replica ran this period's round; failed)",
      labelNames: ['outcome'],
      registers: [registry],
    }),
    convergenceProbes: new Counter({
      name: 'sync_convergence_probes_total',
      help: 'Peers asked for their DAG heads by the convergence probe, by outcome (ok, fresh: a session told us lately, or a failure reason)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    convergencePeers: new Gauge({
      name: 'sync_convergence_peers',
      help: 'Peers of all hosted contexts by verdict at the last probe round (converged, behind, ahead, diverged, unknown, not_member), summed over contexts',
      labelNames: ['verdict'],
      registers: [registry],
    }),
    convergenceContexts: new Gauge({
      name: 'sync_convergence_contexts',
      help: 'Hosted contexts by convergence at the last probe round (converged: with every counted peer; not_converged; no_peers)',
      labelNames: ['state'],
      registers: [registry],
    }),
    convergenceLag: new Gauge({
      name: 'sync_convergence_lag_seconds',
      help: 'Seconds since the least converged context was last converged with all its peers (0 when every context is)',
      registers: [registry],
    }),
    divergenceEpisodes: new Counter({
      name: 'sync_divergence_episodes_total',
      help: 'Times a context went from converged with all its peers to not converged',
      registers: [registry],
    }),
    convergenceForgotten: new Counter({
      name: 'sync_convergence_peers_forgotten_total',
      help: 'Peers dropped from the convergence bookkeeping, by reason (stale: not heard of for 10 probe periods; bound: past 64 peers per context)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    convergenceSyncs: new Counter({
      name: 'sync_convergence_syncs_requested_total',
      help: 'Syncs the convergence probe queued for a peer, by verdict (behind, diverged) or failed',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    projectionDivergences: new Counter({
      name: 'unified_projection_divergence_total',
      help: 'Disagreements between the projection at our governance heads and the live membership, by plane (membership-sync)',
      labelNames: ['plane'],
      registers: [registry],
    }),
  };
}

export type SyncMetrics = ReturnType<typeof createSyncMetrics>;
