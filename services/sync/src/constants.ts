import { KNOWN_IDS_SENT } from '@cnode/context-core';
import { packageVersion } from '@cnode/runtime';

export const SERVICE_NAME = 'sync';
export const VERSION = packageVersion(import.meta.url);

/** A requester must send its request within this long after the stream is accepted. */
export const REQUEST_READ_TIMEOUT_MS = 10_000;
/** Most deltas served per DeltaRequest, and most encoded bytes (stream frames are capped at 8 MiB). */
export const MAX_DELTAS_SERVED = 1_000;
export const MAX_RESPONSE_BYTES = 6 * 1024 * 1024;
/** Most wanted ids / known heads read from one DeltaRequest (upstream MAX_DELTA_QUERY_LIMIT). */
export const MAX_WANTED_IDS = 3_000;
export const MAX_KNOWN_HEADS = KNOWN_IDS_SENT;
/** Most tree paths asked for in one TreeNodeRequest (level-wise asks for a whole level's differing nodes). */
export const MAX_TREE_PATHS_PER_REQUEST = 1_024;
/** Salt sizes a TreeNodeRequest may carry for its child digests. */
export const TREE_DIGEST_SALT_MIN_BYTES = 8;
export const TREE_DIGEST_SALT_MAX_BYTES = 32;
/**
 * Digest bytes our hash comparisons ask for per child. 4 bytes: a differing child goes unnoticed
 * with probability 2^-32 per comparison, and then only for one session (the salt changes).
 */
export const TREE_DIGEST_BYTES = 4;
/** Tree answers of at least this many bytes are sent deflated when that makes them smaller. */
export const TREE_COMPRESS_MIN_BYTES = 1024;
/** Most bytes a compressed tree answer may inflate to (the uncompressed answer stays under the frame cap). */
export const MAX_TREE_ANSWER_BYTES = 8 * 1024 * 1024;
/** Most entries in one EntityPush (upstream: 500 per push). */
export const MAX_PUSHED_ENTRIES = 500;
/** Most group keys sealed into one KeyShareResponse (the newest ones). */
export const MAX_KEYS_SHARED = 64;
/** Snapshot pages: uncompressed bytes per page when the requester names none, and the bounds it may ask within. */
export const SNAPSHOT_PAGE_BYTES_DEFAULT = 64 * 1024;
export const SNAPSHOT_PAGE_BYTES_MIN = 16 * 1024;
export const SNAPSHOT_PAGE_BYTES_MAX = 4 * 1024 * 1024;
/** Rows read from the database per cursor step while a snapshot is served. */
export const SNAPSHOT_READ_BATCH = 500;
/** Peers remembered per group as having proven membership (peer selection prefers them). */
export const MEMBER_PEERS_KEPT = 64;
/** A broken snapshot transfer resumes at most this many times before the attempt fails. */
export const SNAPSHOT_MAX_RESUMES = 2;
/** Buffered deltas replayed per step after a snapshot. */
export const BUFFER_REPLAY_BATCH = 500;
/** A node without state polls the context topic for subscribers this often, this many times. */
export const PEER_DISCOVERY_POLLS_UNINITIALIZED = 10;
export const PEER_DISCOVERY_POLLS_INITIALIZED = 3;
export const PEER_DISCOVERY_POLL_MS = 500;
/** Peers a session tries, in order, before giving up for this round. */
export const MAX_PEERS_TRIED = 3;
/** Member peers asked for governance before an interval sync of a context with parked deltas. */
export const PRE_SYNC_GOVERNANCE_PEERS = 3;
