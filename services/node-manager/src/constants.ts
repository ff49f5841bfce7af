import { packageVersion } from '@cnode/runtime';

export const SERVICE_NAME = 'node-manager';
export const VERSION = packageVersion(import.meta.url);

/** Bytes of randomness in a generated admin token (hex-encoded: 64 characters). */
export const ADMIN_TOKEN_BYTES = 32;

/** File the admin server writes into the node home so `cnode` finds the local node. */
export const ADMIN_ENDPOINT_FILE = 'admin.json';

/** Calls that need no token: the standard health service, which probes cannot authenticate to. */
export const UNAUTHENTICATED_PATH_PREFIXES = ['/grpc.health.v1.Health/'];

/** How often topic (un)subscriptions the network service could not take are retried. */
export const SUBSCRIPTION_RETRY_MS = 5_000;

/** How long a provider waits for the request on a blob stream, and a requester for each answer. */
export const BLOB_FRAME_TIMEOUT_MS = 30_000;
/** Whole serve budget of one blob stream. */
export const BLOB_SERVE_BUDGET_MS = 300_000;
/** Rounds of provider lookups and downloads one fetch makes. */
export const BLOB_FETCH_ROUNDS = 6;
/** Backoff between fetch rounds: 100 ms doubling up to 2 s. */
export const BLOB_FETCH_BACKOFF_BASE_MS = 100;
export const BLOB_FETCH_BACKOFF_MAX_MS = 2_000;
/** Largest BlobRequest frame a provider reads. */
export const BLOB_REQUEST_MAX_BYTES = 1024;

/**
 * Group commit of local writes: at most `maxBatch` in one transaction, at most `maxQueuedPerContext`
 * waiting on one context and `maxQueued` on all of them (beyond, RESOURCE_EXHAUSTED).
 */
export const GROUP_COMMIT_LIMITS = { maxBatch: 256, maxQueuedPerContext: 4096, maxQueued: 16_384 } as const;
