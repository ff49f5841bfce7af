import { ConfigError, parseEnv, deepFreeze } from '@cnode/runtime';
import { nodeEnvSchema, type ServiceName, type NodeEnv } from './schema.js';

/** The whole node's configuration, grouped the way upstream's NodeConfig is. */
export interface NodeConfig {
  service: ServiceName;
  node: { name: string; home: string; mode: 'standard' | 'read-only'; masterKeyHex: string | undefined };
  log: { level: NodeEnv['LOG_LEVEL'] };
  http: { host: string; port: number };
  shutdown: { deadlineMs: number };
  status: { intervalMs: number };
  /** `streamMaxBytes`: disk each mailbox stream may use (NODE_EVENTS: at most 256 MiB). */
  nats: { url: string; streamMaxBytes: number };
  postgres: { url: string; poolMax: number };
  redis: { url: string };
  /** The in-memory caches of rarely changing rows (HotState): entries per cache, and their maximum age. */
  hotState: { entries: number; maxAgeMs: number };
  /**
   * Whole context states held in memory by the processes that commit deltas (state-delta for
   * received ones, node-manager for local writes): how many contexts (0: none), the most entries one
   * may have, and how long a context another writer changed under us is not loaded again.
   */
  hotTrees: { contexts: number; maxEntries: number; cooldownMs: number };
  network: {
    listen: string[];
    announce: string[];
    bootstrap: string[];
    mdns: boolean;
    commandTimeoutMs: number;
    bootstrapIntervalMs: number;
    /** Steady-state period of the search for each context topic's peers (DHT provider records). */
    discoveryIntervalMs: number;
    peerBookMax: number;
    /** Gossip messages per second one peer may send us; the excess is ignored. */
    gossipPeerRate: number;
    /** Invalid gossip messages within a minute that get a peer banned, and for how long. */
    peerStrikes: number;
    peerBanMs: number;
    redialPeers: number;
    maxRelayedStreams: number;
    streamWindowBytes: number;
    streamIdleTimeoutMs: number;
    streamAttachTimeoutMs: number;
    /** Test flag: serve `inject-faults` (gossip loss, duplication, delay; blocked peers). Never in production. */
    faultInjection: boolean;
  };
  admin: {
    grpcListen: string;
    token: string | undefined;
    tokenFile: string | undefined;
    tlsCertFile: string | undefined;
    tlsKeyFile: string | undefined;
  };
  /** Specialized-node invites (node-manager). */
  specialized: {
    /** Gossip topic of discoveries; read-only nodes listen on it. */
    inviteTopic: string;
    /** Admit nodes whose attestation is a mock quote (tests and development only). */
    acceptMockTee: boolean;
    /** How long an invite waits for an answer and then for the join confirmation. */
    inviteTtlMs: number;
    /** Pending invites at most. */
    maxPending: number;
  };
  /** The HTTP/WebSocket API for application frontends (node-manager). */
  appApi: {
    /** host:port of the listener. */
    listen: string;
    /** Browser origins allowed by CORS (`*` for any); empty: no cross-origin access. */
    corsOrigins: string[];
    maxBodyBytes: number;
    accessTokenTtlMs: number;
    /** Requests per second per client token (token bucket), and the bucket's size. */
    ratePerSecond: number;
    rateBurst: number;
    /** HTTP requests handled at once; more are answered 503. */
    maxRequests: number;
    /** Open WebSocket and SSE connections. */
    maxConnections: number;
    /** Contexts one connection subscribes to. */
    maxSubscriptions: number;
    /** Bytes queued to one connection before it is cut off as a slow consumer. */
    connectionBufferBytes: number;
    /** Recent events kept to resume SSE streams (Last-Event-ID). */
    replayEvents: number;
  };
  sync: {
    timeoutMs: number;
    sessionDeadlineMs: number;
    intervalMs: number;
    frequencyMs: number;
    maxConcurrent: number;
    snapshotChunkSize: number;
    deltaSyncThreshold: number;
    peerStateProbeConcurrency: number;
    parentPullAdditionalPeers: number;
    parentPullBudgetMs: number;
    openStreamTimeoutMs: number;
    namespaceDiscoveryWaitMs: number;
    heartbeatIntervalMs: number;
    /** Period of the convergence probe; a peer's state older than 3 periods is stale, 10 forgotten. */
    convergenceIntervalMs: number;
    maxCatchupDeltas: number;
    maxRequestsPerSession: number;
  };
  stateDelta: {
    queueMax: number;
    maxInFlight: number;
    processingTimeoutMs: number;
    /** Most deltas of one context applied in one transaction. */
    batchMax: number;
    /** Contexts whose batches are applied at once. */
    lanes: number;
  };
  netEvents: { queueMax: number; maxInFlight: number };
  apps: { urlAllowLoopback: boolean };
  wasm: {
    workers: number;
    queueMax: number;
    maxExecMs: number;
    maxMemoryPages: number;
    maxModuleBytes: number;
    workerHeapBytes: number;
    /** Prepared (compiled) application modules kept per process. */
    moduleCache: number;
    /** The per-call limits of the host ABI (see docs/configuration.md). */
    workerStackBytes: number;
    maxRegisters: number;
    maxRegisterBytes: number;
    maxLogs: number;
    maxLogBytes: number;
    maxEvents: number;
    maxEventDataBytes: number;
    maxStorageWrites: number;
    maxStorageWriteBytes: number;
    maxReturnBytes: number;
  };
  blobs: {
    cacheMaxCount: number;
    cacheMaxBytes: number;
    cacheMaxAgeMs: number;
    cacheEvictionIntervalMs: number;
    cacheEntryMax: number;
    maxStreamSize: number;
    orphanGraceMs: number;
    fetchDeadlineMs: number;
    serveMaxConcurrent: number;
  };
  gc: {
    intervalMs: number;
    tombstoneRetentionMs: number;
    pendingDeltaMaxAgeMs: number;
    pendingDeltaExpiryIntervalMs: number;
    maxDeletionsPerRun: number;
    batchSize: number;
    leaderTtlMs: number;
    dagCompaction: { enabled: boolean; minDeltas: number; retainRecent: number; checkIntervalMs: number };
  };
}

/**
 * Reads the node configuration from the environment once. Throws ConfigError naming every bad key.
 * Nothing outside a service's `config.ts` reads `process.env`.
 */
export function loadNodeConfig(service: ServiceName, env: NodeJS.ProcessEnv): Readonly<NodeConfig> {
  const e = parseEnv(nodeEnvSchema(service), env);
  // Upstream refuses a compaction config that would keep everything it looks at, or never look.
  if (e.DAG_COMPACTION_ENABLED && e.DAG_COMPACTION_RETAIN_RECENT >= e.DAG_COMPACTION_MIN_DELTAS) {
    throw new ConfigError([
      {
        key: 'DAG_COMPACTION_RETAIN_RECENT',
        message: `must be less than DAG_COMPACTION_MIN_DELTAS (${e.DAG_COMPACTION_MIN_DELTAS}), got ${e.DAG_COMPACTION_RETAIN_RECENT}`,
      },
    ]);
  }
  return deepFreeze({
    service,
    node: {
      name: e.NODE_NAME,
      home: e.NODE_HOME ?? `.cnode/${e.NODE_NAME}`,
      mode: e.NODE_MODE,
      masterKeyHex: e.NODE_MASTER_KEY,
    },
    log: { level: e.LOG_LEVEL },
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT },
    shutdown: { deadlineMs: e.SHUTDOWN_DEADLINE },
    status: { intervalMs: e.SERVICE_STATUS_INTERVAL },
    nats: { url: e.NATS_URL, streamMaxBytes: e.NATS_STREAM_MAX_BYTES },
    postgres: { url: e.DATABASE_URL, poolMax: e.DATABASE_POOL_MAX },
    redis: { url: e.REDIS_URL },
    hotState: { entries: e.HOT_STATE_ENTRIES, maxAgeMs: e.HOT_STATE_MAX_AGE },
    hotTrees: { contexts: e.HOT_TREE_CONTEXTS, maxEntries: e.HOT_TREE_MAX_ENTRIES, cooldownMs: e.HOT_TREE_COOLDOWN },
    network: {
      listen: e.NETWORK_LISTEN,
      announce: e.NETWORK_ANNOUNCE,
      bootstrap: e.NETWORK_BOOTSTRAP,
      mdns: e.NETWORK_MDNS,
      commandTimeoutMs: e.NETWORK_COMMAND_TIMEOUT,
      bootstrapIntervalMs: e.NETWORK_BOOTSTRAP_INTERVAL,
      discoveryIntervalMs: e.NETWORK_DISCOVERY_INTERVAL,
      peerBookMax: e.NETWORK_PEER_BOOK_MAX,
      gossipPeerRate: e.NETWORK_GOSSIP_PEER_RATE,
      peerStrikes: e.NETWORK_PEER_STRIKES,
      peerBanMs: e.NETWORK_PEER_BAN,
      redialPeers: e.NETWORK_REDIAL_PEERS,
      maxRelayedStreams: e.NETWORK_MAX_RELAYED_STREAMS,
      streamWindowBytes: e.NETWORK_STREAM_WINDOW,
      streamIdleTimeoutMs: e.NETWORK_STREAM_IDLE_TIMEOUT,
      streamAttachTimeoutMs: e.NETWORK_STREAM_ATTACH_TIMEOUT,
      faultInjection: e.NETWORK_FAULT_INJECTION,
    },
    admin: {
      grpcListen: e.ADMIN_GRPC_LISTEN,
      token: e.ADMIN_TOKEN,
      tokenFile: e.ADMIN_TOKEN_FILE,
      tlsCertFile: e.ADMIN_TLS_CERT_FILE,
      tlsKeyFile: e.ADMIN_TLS_KEY_FILE,
    },
    specialized: {
      inviteTopic: e.SPECIALIZED_NODE_INVITE_TOPIC,
      acceptMockTee: e.ACCEPT_MOCK_TEE,
      inviteTtlMs: e.SPECIALIZED_INVITE_TTL,
      maxPending: e.SPECIALIZED_INVITES_MAX,
    },
    appApi: {
      listen: e.APP_API_LISTEN,
      corsOrigins: e.APP_API_CORS_ORIGINS,
      maxBodyBytes: e.APP_API_MAX_BODY,
      accessTokenTtlMs: e.APP_API_ACCESS_TOKEN_TTL,
      ratePerSecond: e.APP_API_RATE_LIMIT,
      rateBurst: e.APP_API_RATE_BURST,
      maxRequests: e.APP_API_MAX_REQUESTS,
      maxConnections: e.APP_API_MAX_CONNECTIONS,
      maxSubscriptions: e.APP_API_MAX_SUBSCRIPTIONS,
      connectionBufferBytes: e.APP_API_CONNECTION_BUFFER,
      replayEvents: e.APP_API_REPLAY_EVENTS,
    },
    sync: {
      timeoutMs: e.SYNC_TIMEOUT,
      sessionDeadlineMs: e.SYNC_SESSION_DEADLINE,
      intervalMs: e.SYNC_INTERVAL,
      frequencyMs: e.SYNC_FREQUENCY,
      maxConcurrent: e.SYNC_MAX_CONCURRENT,
      snapshotChunkSize: e.SYNC_SNAPSHOT_CHUNK_SIZE,
      deltaSyncThreshold: e.SYNC_DELTA_SYNC_THRESHOLD,
      peerStateProbeConcurrency: e.SYNC_PEER_STATE_PROBE_CONCURRENCY,
      parentPullAdditionalPeers: e.SYNC_PARENT_PULL_ADDITIONAL_PEERS,
      parentPullBudgetMs: e.SYNC_PARENT_PULL_BUDGET,
      openStreamTimeoutMs: e.SYNC_OPEN_STREAM_TIMEOUT,
      namespaceDiscoveryWaitMs: e.SYNC_NAMESPACE_DISCOVERY_WAIT,
      heartbeatIntervalMs: e.SYNC_HEARTBEAT_INTERVAL,
      convergenceIntervalMs: e.SYNC_CONVERGENCE_INTERVAL,
      maxCatchupDeltas: e.SYNC_MAX_CATCHUP_DELTAS,
      maxRequestsPerSession: e.SYNC_MAX_REQUESTS_PER_SESSION,
    },
    stateDelta: {
      queueMax: e.STATE_DELTA_QUEUE_MAX,
      maxInFlight: e.STATE_DELTA_MAX_IN_FLIGHT,
      processingTimeoutMs: e.STATE_DELTA_PROCESSING_TIMEOUT,
      batchMax: e.STATE_DELTA_BATCH_MAX,
      lanes: e.STATE_DELTA_LANES,
    },
    netEvents: { queueMax: e.NET_EVENTS_QUEUE_MAX, maxInFlight: e.NET_EVENTS_MAX_IN_FLIGHT },
    apps: { urlAllowLoopback: e.APP_INSTALL_URL_ALLOW_LOOPBACK },
    wasm: {
      workers: e.WASM_WORKERS,
      queueMax: e.WASM_QUEUE_MAX,
      maxExecMs: e.WASM_MAX_EXEC_MS,
      maxMemoryPages: e.WASM_MAX_MEMORY_PAGES,
      maxModuleBytes: e.WASM_MAX_MODULE_SIZE,
      workerHeapBytes: e.WASM_WORKER_HEAP,
      moduleCache: e.WASM_MODULE_CACHE,
      workerStackBytes: e.WASM_WORKER_STACK,
      maxRegisters: e.WASM_MAX_REGISTERS,
      maxRegisterBytes: e.WASM_MAX_REGISTER_SIZE,
      maxLogs: e.WASM_MAX_LOGS,
      maxLogBytes: e.WASM_MAX_LOG_SIZE,
      maxEvents: e.WASM_MAX_EVENTS,
      maxEventDataBytes: e.WASM_MAX_EVENT_DATA_SIZE,
      maxStorageWrites: e.WASM_MAX_STORAGE_WRITES,
      maxStorageWriteBytes: e.WASM_MAX_STORAGE_WRITE_SIZE,
      maxReturnBytes: e.WASM_MAX_RETURN_SIZE,
    },
    blobs: {
      cacheMaxCount: e.BLOB_CACHE_MAX_COUNT,
      cacheMaxBytes: e.BLOB_CACHE_MAX_BYTES,
      cacheMaxAgeMs: e.BLOB_CACHE_MAX_AGE,
      cacheEvictionIntervalMs: e.BLOB_CACHE_EVICTION_INTERVAL,
      cacheEntryMax: e.BLOB_CACHE_ENTRY_MAX,
      maxStreamSize: e.BLOB_MAX_STREAM_SIZE,
      orphanGraceMs: e.BLOB_ORPHAN_GRACE,
      fetchDeadlineMs: e.BLOB_FETCH_DEADLINE,
      serveMaxConcurrent: e.BLOB_SERVE_MAX_CONCURRENT,
    },
    gc: {
      intervalMs: e.GC_INTERVAL,
      tombstoneRetentionMs: e.GC_TOMBSTONE_RETENTION,
      pendingDeltaMaxAgeMs: e.PENDING_DELTA_MAX_AGE,
      pendingDeltaExpiryIntervalMs: e.PENDING_DELTA_EXPIRY_INTERVAL,
      maxDeletionsPerRun: e.GC_MAX_DELETIONS_PER_RUN,
      batchSize: e.GC_BATCH_SIZE,
      leaderTtlMs: e.GC_LEADER_TTL,
      dagCompaction: {
        enabled: e.DAG_COMPACTION_ENABLED,
        minDeltas: e.DAG_COMPACTION_MIN_DELTAS,
        retainRecent: e.DAG_COMPACTION_RETAIN_RECENT,
        checkIntervalMs: e.DAG_COMPACTION_CHECK_INTERVAL,
      },
    },
  });
}

/** Environment variable names of every knob (for docs and the launcher). */
export function knobNames(): string[] {
  return Object.keys(nodeEnvSchema('network').shape);
}
