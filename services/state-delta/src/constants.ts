import { packageVersion } from '@cnode/runtime';

export const SERVICE_NAME = 'state-delta';
export const VERSION = packageVersion(import.meta.url);

/** After this many consecutive failed parent fetches from a peer, fetches from it back off. */
export const PARENT_FETCH_FAILURES_BEFORE_BACKOFF = 3;
/** The backoff starts here and doubles per further failure… */
export const PARENT_FETCH_BACKOFF_BASE_MS = 2_000;
/** …up to this. */
export const PARENT_FETCH_BACKOFF_MAX_MS = 60_000;
/** A failure streak is forgotten after this long without failures. */
export const PARENT_FETCH_FAILURE_MEMORY_MS = 10 * 60_000;
/** Most ids asked for in one DeltaRequest, and most deltas accepted in one answer. */
export const PARENT_FETCH_BATCH = 256;
export const PARENT_FETCH_MAX_DELTAS = 1_000;
/** Round trips one fetch may take before it yields (what is still missing waits for the next delta). */
export const PARENT_FETCH_MAX_ROUNDS = 64;
/** The per-context parent-fetch lock's TTL, renewed after every round. */
export const PARENT_FETCH_LOCK_MS = 60_000;
/** At most one HashHeartbeat per context this often from one process. */
export const HEARTBEAT_MIN_INTERVAL_MS = 1_000;
/** Contexts whose last heartbeat time is remembered (oldest forgotten first). */
export const HEARTBEAT_TRACKED_CONTEXTS = 10_000;
/** A governance-pending drain holds its per-context lock this long (renewed per delta). */
export const GOVERNANCE_DRAIN_LOCK_MS = 30_000;
/** A drain request finding the context's drain busy is redelivered after this long. */
export const GOVERNANCE_DRAIN_RETRY_MS = 500;
/** Contexts remembered as waiting for a parent fetch until their lane drains (oldest forgotten first). */
export const DEFERRED_FETCHES_MAX = 10_000;
/** The per-context lane lock across replicas: its TTL (renewed every third while a batch runs)… */
export const LANE_LOCK_TTL_MS = 5_000;
/** …how long a lane waits for another replica's lane before its batch is retried… */
export const LANE_LOCK_WAIT_MS = 10_000;
/** …and how often it asks meanwhile. */
export const LANE_LOCK_POLL_MS = 2;
/** Each replica renews its presence this often (lanes skip their lock while a replica is alone)… */
export const PRESENCE_REFRESH_MS = 1_000;
/** …and one not heard of for this long is gone. */
export const PRESENCE_TTL_MS = 3_000;
