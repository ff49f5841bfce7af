import { Counter, Gauge, Histogram, type Registry } from '@cnode/runtime';

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
    groupOps: new Counter({
      name: 'node_manager_group_ops_total',
      help: 'Gossiped governance ops, by outcome (applied, pending, duplicate, unauthorized, replayed_nonce, invalid)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    governanceCatchUps: new Counter({
      name: 'node_manager_governance_catchups_total',
      help: 'Governance catch-ups from a peer, by outcome (ok, failed_or_spaced) and trigger (pending_op, heartbeat, mutation, peer_subscribed)',
      labelNames: ['outcome', 'trigger'],
      registers: [registry],
    }),
    groupHeartbeats: new Counter({
      name: 'node_manager_group_heartbeats_total',
      help: 'GroupStateHeartbeats received, by outcome (in_sync_or_ahead, heads_lacking, malformed)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    groupMutations: new Counter({
      name: 'node_manager_group_mutations_total',
      help: 'GroupMutationNotifications received, by outcome (known, caught_up, malformed)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    groupReconciles: new Counter({
      name: 'node_manager_group_reconciles_total',
      help: 'Subscription changes after governance changed, by action (left_removed, left_unregistered, joined_registered, failed)',
      labelNames: ['action'],
      registers: [registry],
    }),
    projectionDivergences: new Counter({
      name: 'unified_projection_divergence_total',
      help: 'Disagreements between the projection and the live membership seen here, by plane',
      labelNames: ['plane'],
      registers: [registry],
    }),
    streamsUnrouted: new Counter({
      name: 'node_manager_streams_unrouted_total',
      help: 'Inbound streams left unattached, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    appHandlers: new Counter({
      name: 'node_manager_app_handlers_total',
      help: 'Handlers received deltas named (emit_with_handler), by outcome (ran, retried, failed, run_elsewhere, context_gone, dropped_backlog)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    appHandlerJobs: new Gauge({
      name: 'node_manager_app_handler_jobs',
      help: 'Handler jobs waiting to run on this node (read at each drain)',
      registers: [registry],
    }),
    groupCommit: {
      batchSize: new Histogram({
        name: 'node_manager_group_commit_batch_size',
        help: 'Local writes committed together in one group-commit transaction',
        buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
        registers: [registry],
      }),
      rejected: new Counter({
        name: 'node_manager_group_commit_rejected_total',
        help: 'Local writes refused before commit, by reason (queue_full; call_lock_full: too many application calls wait for their context)',
        labelNames: ['reason'],
        registers: [registry],
      }),
    },
    localDeltas: new Counter({
      name: 'node_manager_local_deltas_total',
      help: 'Deltas committed by Execute on this node',
      registers: [registry],
    }),
    gossipDeltaMessages: new Counter({
      name: 'node_manager_gossip_delta_messages_total',
      help: 'Gossip messages carrying committed local deltas, by variant (state_delta alone, state_delta_batch for a group commit)',
      labelNames: ['variant'],
      registers: [registry],
    }),
    gossipPublishFailures: new Counter({
      name: 'node_manager_gossip_publish_failures_total',
      help: 'Gossip publishes that failed or reached no peer, by kind (the data stays committed)',
      labelNames: ['kind'],
      registers: [registry],
    }),
    heartbeats: new Counter({
      name: 'node_manager_hash_heartbeats_total',
      help: 'HashHeartbeats received, by what they showed (in_sync, peer_behind, heads_lacking, debounced, divergent_transient, divergent_persistent, recovered, unknown_context, malformed)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    rootDivergences: new Counter({
      name: 'sync_root_hash_divergence_detected_total',
      help: 'Heartbeats with our DAG heads but another root hash, after re-reading our live root',
      registers: [registry],
    }),
    syncRequests: new Counter({
      name: 'node_manager_sync_requests_total',
      help: 'SyncRequests node-manager queued for the sync service, by reason and outcome (queued, failed)',
      labelNames: ['reason', 'outcome'],
      registers: [registry],
    }),
    blobCache: {
      requests: new Counter({
        name: 'blob_cache_requests_total',
        help: 'Blob cache reads, by outcome (hit, miss)',
        labelNames: ['outcome'],
        registers: [registry],
      }),
      evictions: new Counter({
        name: 'blob_cache_evictions_total',
        help: 'Blobs evicted from the cache, by reason (age, count, memory)',
        labelNames: ['reason'],
        registers: [registry],
      }),
      entries: new Gauge({
        name: 'blob_cache_entries',
        help: 'Blobs in the cache after the last eviction pass',
        registers: [registry],
      }),
      bytes: new Gauge({
        name: 'blob_cache_bytes',
        help: 'Bytes in the cache after the last eviction pass',
        registers: [registry],
      }),
    },
    blobsStored: new Counter({
      name: 'blobs_stored_total',
      help: 'Blob uploads and downloads, by source (upload, peer, install) and outcome (created, deduplicated, refused, failed)',
      labelNames: ['source', 'outcome'],
      registers: [registry],
    }),
    blobOrphanChunksSwept: new Counter({
      name: 'blob_orphan_chunks_swept_total',
      help: 'Chunks no blob links, deleted after BLOB_ORPHAN_GRACE',
      registers: [registry],
    }),
    blobServes: new Counter({
      name: 'blob_serves_total',
      help: 'Blob streams served to peers, by outcome (served, not_found, no_auth, auth_expired, auth_malformed, bad_signature, not_member, unknown_context, bad_request, busy, failed)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    blobFetchAttempts: new Counter({
      name: 'blob_fetch_attempts_total',
      help: 'Downloads of a blob from one provider, by outcome (ok, not_found, corrupt, bad_response, too_large, timeout, failed)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    blobFetches: new Counter({
      name: 'blob_fetches_total',
      help: 'Blobs fetched from the network for a local read, by outcome (ok, no_provider, no_identity, unknown_context)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    blobTransferBytes: new Counter({
      name: 'blob_transfer_bytes_total',
      help: 'Blob content bytes moved over the blob protocol, by direction (serve, fetch)',
      labelNames: ['direction'],
      registers: [registry],
    }),
    blobTransfersActive: new Gauge({
      name: 'blob_transfers_active',
      help: 'Blob streams being served or fetched right now, by direction',
      labelNames: ['direction'],
      registers: [registry],
    }),
    blobTransferBufferedMax: new Gauge({
      name: 'blob_transfer_buffered_bytes_max',
      help: 'Most blob bytes one transfer ever held in this process (frames received or read and not yet stored or sent), by direction: the memory bound in practice',
      labelNames: ['direction'],
      registers: [registry],
    }),
    appInstalls: new Counter({
      name: 'app_installs_total',
      help: 'Application installs, by kind (bundle, wasm) and outcome (installed, or the APP_* refusal code)',
      labelNames: ['kind', 'outcome'],
      registers: [registry],
    }),
    specializedInvites: new Counter({
      name: 'node_manager_specialized_invites_total',
      help: 'Specialized-node invites on the inviting node, by outcome (issued, admitted, confirmed, unknown_nonce, mock_not_accepted, tdx_not_supported, nonce_mismatch, key_mismatch, malformed_quote, quote_replayed, malformed, context_gone, failed)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    specializedInvitesPending: new Gauge({
      name: 'node_manager_specialized_invites_pending',
      help: 'Specialized-node invites waiting for an answer or a join confirmation (as last counted)',
      registers: [registry],
    }),
    specializedAnswers: new Counter({
      name: 'node_manager_specialized_answers_total',
      help: 'Specialized-node discoveries heard, by what this node did (joined, refused, not_read_only, malformed, busy, failed)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    readOnlyRefusals: new Counter({
      name: 'node_manager_read_only_refusals_total',
      help: 'Writes refused because the node is read-only (node_read_only) or the acting identity is a read-only member (member_read_only)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    appApi: {
      requests: new Counter({
        name: 'app_api_requests_total',
        help: 'App API requests answered, by route (jsonrpc, refresh, health, ws, sse, sse_subscription, other) and outcome (ok, or the rejection reason)',
        labelNames: ['route', 'outcome'],
        registers: [registry],
      }),
      requestSeconds: new Histogram({
        name: 'app_api_request_duration_seconds',
        help: 'Time to answer an app API HTTP request, by route',
        labelNames: ['route'],
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        registers: [registry],
      }),
      rpcErrors: new Counter({
        name: 'app_api_rpc_errors_total',
        help: 'JSON-RPC error answers, by error type (ParseError, CallError, FunctionCallError, SerdeError, InternalError)',
        labelNames: ['type'],
        registers: [registry],
      }),
      connections: new Gauge({
        name: 'app_api_connections',
        help: 'Open event connections, by kind (ws, sse)',
        labelNames: ['kind'],
        registers: [registry],
      }),
      disconnects: new Counter({
        name: 'app_api_disconnects_total',
        help: 'Event connections closed, by kind and reason (client, slow_consumer, shutdown, error)',
        labelNames: ['kind', 'reason'],
        registers: [registry],
      }),
      eventsSent: new Counter({
        name: 'app_api_events_sent_total',
        help: 'Events pushed to event connections, by kind (ws, sse)',
        labelNames: ['kind'],
        registers: [registry],
      }),
      eventsDropped: new Counter({
        name: 'app_api_events_dropped_total',
        help: 'Node events the app API could not use, by reason (undecodable, consumer_error)',
        labelNames: ['reason'],
        registers: [registry],
      }),
    },
    grpcRequests: new Counter({
      name: 'admin_grpc_requests_total',
      help: 'Admin gRPC calls, by method (its short name, e.g. Execute) and status code',
      labelNames: ['method', 'code'],
      registers: [registry],
    }),
    grpcHandlingSeconds: new Histogram({
      name: 'grpc_server_handling_seconds',
      help: 'Time from receiving an admin gRPC call to its status, by method and status code (streams: until they end)',
      labelNames: ['grpc_method', 'grpc_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
  };
}

export type NodeManagerMetrics = ReturnType<typeof createNodeManagerMetrics>;
