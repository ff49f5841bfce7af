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
export const MAX_KNOWN_HEADS = 64;
