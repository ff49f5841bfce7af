import { z } from 'zod';
import { envField as f } from '@cnode/runtime';

/** Node names become NATS subject tokens, stream names, a Postgres schema and a Redis key prefix. */
export const NODE_NAME_PATTERN = /^[a-z][a-z0-9-]{0,30}$/;

export const SERVICE_NAMES = ['network', 'node-manager', 'sync', 'state-delta', 'gc'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/**
 * Default health/metrics HTTP port of each service; `HTTP_PORT` overrides it per process. The
 * launcher gives every process of a devnet its own.
 */
export const DEFAULT_HTTP_PORTS: Readonly<Record<ServiceName, number>> = {
  network: 9101,
  'node-manager': 9102,
  'state-delta': 9103,
  sync: 9104,
  gc: 9105,
};

/**
 * Every knob of the node, keyed by environment variable. Defaults follow the upstream NodeConfig /
 * SyncConfig / node constants (reference spec §11); docs/configuration.md documents each one.
 */
export function nodeEnvSchema(service: ServiceName) {
  return z.object({
    // --- node ---
    NODE_NAME: z
      .string()
      .optional()
      .transform((v) => v ?? 'node1')
      .refine((v) => NODE_NAME_PATTERN.test(v), {
        message: 'expected lowercase letters, digits and dashes, starting with a letter, at most 31 characters',
      }),
    NODE_HOME: f.optionalString(),
    NODE_MODE: f.oneOf(['standard', 'read-only'] as const, 'standard'),
    NODE_MASTER_KEY: f.optionalString().refine((v) => v === undefined || /^[0-9a-f]{64}$/i.test(v), {
      message: 'expected 64 hex characters (a 32-byte key)',
    }),
    LOG_LEVEL: f.oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const, 'info'),
    HTTP_HOST: f.string('127.0.0.1'),
    HTTP_PORT: f.int(DEFAULT_HTTP_PORTS[service], { min: 0, max: 65535 }),
    SHUTDOWN_DEADLINE: f.duration('10s', { min: 100 }),
    SERVICE_STATUS_INTERVAL: f.duration('3s', { min: 100 }),
    // --- infrastructure ---
    NATS_URL: f.string('nats://127.0.0.1:4222'),
    NATS_STREAM_MAX_BYTES: f.size('1GiB'),
    DATABASE_URL: f.url('postgres://postgres@127.0.0.1:5432/postgres', ['postgres', 'postgresql']),
    DATABASE_POOL_MAX: f.int(4, { min: 1, max: 100 }),
    REDIS_URL: f.url('redis://127.0.0.1:6379', ['redis', 'rediss']),
    // --- hot state (in-memory caches of rarely changing rows) ---
    HOT_STATE_ENTRIES: f.int(10_000, { min: 1, max: 10_000_000 }),
    HOT_STATE_MAX_AGE: f.duration('30s', { min: 100 }),
    // --- hot trees (whole context states in memory, for one-round-trip applies) ---
    HOT_TREE_CONTEXTS: f.int(8, { min: 0, max: 10_000 }),
    HOT_TREE_MAX_ENTRIES: f.int(20_000, { min: 1, max: 10_000_000 }),
    HOT_TREE_COOLDOWN: f.duration('5s', { min: 0 }),
    // --- network (NetworkConfig) ---
    NETWORK_LISTEN: f.list(['/ip4/0.0.0.0/tcp/2428']),
    NETWORK_ANNOUNCE: f.list(),
    NETWORK_BOOTSTRAP: f.list(),
    NETWORK_MDNS: f.bool(false),
    NETWORK_COMMAND_TIMEOUT: f.duration('5s', { min: 10 }),
    NETWORK_BOOTSTRAP_INTERVAL: f.duration('10s', { min: 100 }),
    NETWORK_DISCOVERY_INTERVAL: f.duration('60s', { min: 100 }),
    NETWORK_GOSSIP_PEER_RATE: f.int(2000, { min: 1, max: 1_000_000 }),
    NETWORK_PEER_STRIKES: f.int(20, { min: 1, max: 1_000_000 }),
    NETWORK_PEER_BAN: f.duration('10m', { min: 0 }),
    NETWORK_PEER_BOOK_MAX: f.int(1024, { min: 0, max: 100_000 }),
    NETWORK_REDIAL_PEERS: f.int(32, { min: 0, max: 1024 }),
    NETWORK_MAX_RELAYED_STREAMS: f.int(256, { min: 1, max: 10_000 }),
    NETWORK_STREAM_WINDOW: f.size('256KiB'),
    NETWORK_STREAM_IDLE_TIMEOUT: f.duration('30s', { min: 100 }),
    NETWORK_STREAM_ATTACH_TIMEOUT: f.duration('10s', { min: 100 }),
    NETWORK_FAULT_INJECTION: f.bool(false),
    // --- admin API (ServerConfig) ---
    ADMIN_GRPC_LISTEN: f.string('127.0.0.1:2528'),
    ADMIN_TOKEN: f.optionalString(),
    ADMIN_TOKEN_FILE: f.optionalString(),
    ADMIN_TLS_CERT_FILE: f.optionalString(),
    ADMIN_TLS_KEY_FILE: f.optionalString(),
    // --- specialized nodes (node-manager) ---
    SPECIALIZED_NODE_INVITE_TOPIC: f.string('mero_specialized_node_invites'),
    ACCEPT_MOCK_TEE: f.bool(false),
    SPECIALIZED_INVITE_TTL: f.duration('60s', { min: 1000 }),
    SPECIALIZED_INVITES_MAX: f.int(256, { min: 1, max: 100_000 }),
    // --- application API (node-manager) ---
    APP_API_LISTEN: f.string('127.0.0.1:2628'),
    APP_API_CORS_ORIGINS: f.list(),
    APP_API_MAX_BODY: f.size('1MiB'),
    APP_API_ACCESS_TOKEN_TTL: f.duration('1h', { min: 1000 }),
    APP_API_RATE_LIMIT: f.int(100, { min: 1, max: 1_000_000 }),
    APP_API_RATE_BURST: f.int(200, { min: 1, max: 1_000_000 }),
    APP_API_MAX_REQUESTS: f.int(256, { min: 1, max: 100_000 }),
    APP_API_MAX_CONNECTIONS: f.int(256, { min: 1, max: 100_000 }),
    APP_API_MAX_SUBSCRIPTIONS: f.int(64, { min: 1, max: 10_000 }),
    APP_API_CONNECTION_BUFFER: f.size('1MiB'),
    APP_API_REPLAY_EVENTS: f.int(4096, { min: 0, max: 1_000_000 }),
    // --- sync (SyncConfig) ---
    SYNC_TIMEOUT: f.duration('30s', { min: 1 }),
    SYNC_SESSION_DEADLINE: f.duration('120s', { min: 1 }),
    SYNC_INTERVAL: f.duration('5s', { min: 1 }),
    SYNC_FREQUENCY: f.duration('10s', { min: 1 }),
    SYNC_MAX_CONCURRENT: f.int(30, { min: 1, max: 1024 }),
    SYNC_SNAPSHOT_CHUNK_SIZE: f.size('64KiB'),
    SYNC_DELTA_SYNC_THRESHOLD: f.int(128, { min: 1 }),
    SYNC_PEER_STATE_PROBE_CONCURRENCY: f.int(4, { min: 1, max: 64 }),
    SYNC_PARENT_PULL_ADDITIONAL_PEERS: f.int(1, { min: 0, max: 16 }),
    SYNC_PARENT_PULL_BUDGET: f.duration('5s', { min: 1 }),
    SYNC_OPEN_STREAM_TIMEOUT: f.duration('3s', { min: 1 }),
    SYNC_NAMESPACE_DISCOVERY_WAIT: f.duration('45s', { min: 0 }),
    SYNC_HEARTBEAT_INTERVAL: f.duration('30s', { min: 1 }),
    SYNC_CONVERGENCE_INTERVAL: f.duration('30s', { min: 100 }),
    SYNC_MAX_CATCHUP_DELTAS: f.int(10_000, { min: 1, max: 1_000_000 }),
    SYNC_MAX_REQUESTS_PER_SESSION: f.int(10_000, { min: 1, max: 1_000_000 }),
    // --- state-delta ---
    STATE_DELTA_QUEUE_MAX: f.int(2048, { min: 1, max: 1_000_000 }),
    STATE_DELTA_MAX_IN_FLIGHT: f.int(256, { min: 1, max: 10_000 }),
    STATE_DELTA_PROCESSING_TIMEOUT: f.duration('60s', { min: 1 }),
    STATE_DELTA_BATCH_MAX: f.int(256, { min: 1, max: 10_000 }),
    STATE_DELTA_LANES: f.int(8, { min: 1, max: 1_000 }),
    // --- node-manager (network event intake) ---
    NET_EVENTS_QUEUE_MAX: f.int(1000, { min: 1, max: 1_000_000 }),
    NET_EVENTS_MAX_IN_FLIGHT: f.int(64, { min: 1, max: 10_000 }),
    // --- blobs (BlobStoreConfig and blob cache constants) ---
    BLOB_CACHE_MAX_COUNT: f.int(100, { min: 0 }),
    BLOB_CACHE_MAX_BYTES: f.size('500MiB'),
    BLOB_CACHE_MAX_AGE: f.duration('300s', { min: 1 }),
    BLOB_CACHE_EVICTION_INTERVAL: f.duration('300s', { min: 10 }),
    BLOB_CACHE_ENTRY_MAX: f.size('64MiB'),
    BLOB_MAX_STREAM_SIZE: f.size('500MiB'),
    BLOB_ORPHAN_GRACE: f.duration('1h', { min: 0 }),
    BLOB_FETCH_DEADLINE: f.duration('60s', { min: 1000 }),
    BLOB_SERVE_MAX_CONCURRENT: f.int(16, { min: 1 }),
    // --- applications ---
    APP_INSTALL_URL_ALLOW_LOOPBACK: f.bool(false),
    // --- WASM runtime (VMLimits where they apply) ---
    WASM_WORKERS: f.int(2, { min: 1, max: 64 }),
    WASM_QUEUE_MAX: f.int(64, { min: 0, max: 100_000 }),
    WASM_MAX_EXEC_MS: f.duration('10s', { min: 10 }),
    WASM_MAX_MEMORY_PAGES: f.int(1024, { min: 1, max: 65_536 }),
    WASM_MAX_MODULE_SIZE: f.size('20MiB'),
    WASM_WORKER_HEAP: f.size('256MiB'),
    WASM_MODULE_CACHE: f.int(32, { min: 1, max: 10_000 }),
    WASM_WORKER_STACK: f.size('4MiB'),
    WASM_MAX_REGISTERS: f.int(100, { min: 1, max: 100_000 }),
    WASM_MAX_REGISTER_SIZE: f.size('100MiB'),
    WASM_MAX_LOGS: f.int(1024, { min: 0, max: 1_000_000 }),
    WASM_MAX_LOG_SIZE: f.size('16KiB'),
    WASM_MAX_EVENTS: f.int(100, { min: 0, max: 100_000 }),
    WASM_MAX_EVENT_DATA_SIZE: f.size('16KiB'),
    WASM_MAX_STORAGE_WRITES: f.int(100_000, { min: 1 }),
    WASM_MAX_STORAGE_WRITE_SIZE: f.size('128MiB'),
    WASM_MAX_RETURN_SIZE: f.size('16MiB'),
    // --- gc ---
    GC_INTERVAL: f.duration('12h', { min: 1000 }),
    GC_TOMBSTONE_RETENTION: f.duration('1d', { min: 0 }),
    PENDING_DELTA_MAX_AGE: f.duration('300s', { min: 1 }),
    PENDING_DELTA_EXPIRY_INTERVAL: f.duration('60s', { min: 1000 }),
    GC_MAX_DELETIONS_PER_RUN: f.int(10_000, { min: 1 }),
    GC_BATCH_SIZE: f.int(500, { min: 1, max: 10_000 }),
    GC_LEADER_TTL: f.duration('15s', { min: 1000 }),
    DAG_COMPACTION_ENABLED: f.bool(true),
    DAG_COMPACTION_MIN_DELTAS: f.int(10_000, { min: 1 }),
    DAG_COMPACTION_RETAIN_RECENT: f.int(1000, { min: 0 }),
    DAG_COMPACTION_CHECK_INTERVAL: f.duration('3600s', { min: 1000 }),
  });
}

export type NodeEnv = z.output<ReturnType<typeof nodeEnvSchema>>;
