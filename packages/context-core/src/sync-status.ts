import type { JetStreamClient } from '@nats-io/jetstream';
import { publishToStream, type BusMetrics, type Catalog } from '@cnode/bus';
import { toBase58 } from '@cnode/primitives';
import { admin, bus } from '@cnode/proto';
import type { Redis } from '@cnode/store';

/** How long a context's sync bookkeeping survives without any update (it is rebuilt by the next sync). */
export const SYNC_STATE_TTL_MS = 7 * 24 * 3600_000;

/** The sync bookkeeping of one context, kept in a Redis hash shared by every sync replica. */
export interface SyncBook {
  state: admin.SyncStatus_State;
  failures: number;
  lastError: string;
  /** Attempts are not started before this (failure backoff). */
  retryAtMs: number;
  /** When the last session ended, whatever its outcome (minimum spacing). */
  lastSyncAtMs: number;
  lastSuccessAtMs: number;
  lastProtocol: string;
  lastPeer: string;
  received: number;
  total: number;
  updatedAtMs: number;
}

const EMPTY: SyncBook = {
  state: admin.SyncStatus_State.STATE_IDLE,
  failures: 0,
  lastError: '',
  retryAtMs: 0,
  lastSyncAtMs: 0,
  lastSuccessAtMs: 0,
  lastProtocol: '',
  lastPeer: '',
  received: 0,
  total: 0,
  updatedAtMs: 0,
};

const NUMERIC: (keyof SyncBook)[] = [
  'state',
  'failures',
  'retryAtMs',
  'lastSyncAtMs',
  'lastSuccessAtMs',
  'received',
  'total',
  'updatedAtMs',
];

export async function readSyncBook(redis: Redis, catalog: Catalog, contextId: Buffer): Promise<SyncBook> {
  const raw = await redis.hgetall(catalog.redis.syncState(toBase58(contextId)));
  const book: Record<string, unknown> = { ...EMPTY };
  for (const [k, v] of Object.entries(raw)) {
    if (!(k in EMPTY)) continue;
    book[k] = NUMERIC.includes(k as keyof SyncBook) ? Number(v) || 0 : v;
  }
  return book as unknown as SyncBook;
}

/** Writes part of the bookkeeping; returns whether the state changed (worth an event). */
export async function writeSyncBook(
  redis: Redis,
  catalog: Catalog,
  contextId: Buffer,
  patch: Partial<SyncBook>,
): Promise<{ before: SyncBook; after: SyncBook }> {
  const key = catalog.redis.syncState(toBase58(contextId));
  const before = await readSyncBook(redis, catalog, contextId);
  const after: SyncBook = { ...before, ...patch, updatedAtMs: Date.now() };
  await redis
    .multi()
    .hset(key, Object.fromEntries(Object.entries(after).map(([k, v]) => [k, String(v)])))
    .pexpire(key, SYNC_STATE_TTL_MS)
    .exec();
  return { before, after };
}

/** The admin view of the bookkeeping (`retry_in_secs` counted from now). */
export function syncStatusOf(book: SyncBook, nowMs = Date.now()): admin.SyncStatus {
  const backingOff = book.state === admin.SyncStatus_State.STATE_BACKING_OFF && book.retryAtMs > nowMs;
  return {
    state:
      book.state === admin.SyncStatus_State.STATE_BACKING_OFF && !backingOff
        ? admin.SyncStatus_State.STATE_IDLE
        : book.state,
    failureCount: book.failures,
    lastError: book.lastError,
    retryInSecs: backingOff ? Math.ceil((book.retryAtMs - nowMs) / 1000) : 0,
    received: BigInt(book.received),
    total: BigInt(book.total),
    lastProtocol: book.lastProtocol,
    lastPeer: book.lastPeer,
    lastSuccessAtMs: BigInt(book.lastSuccessAtMs),
    updatedAtMs: BigInt(book.updatedAtMs),
  };
}

/**
 * Asks the sync service to sync a context: a SyncRequest on SYNC_REQUESTS. The message id collapses
 * repeats of the same (context, reason, peer) inside the stream's duplicate window; a full mailbox
 * is the caller's to count (the periodic tick repairs a lost request).
 */
export async function requestSync(
  deps: { js: JetStreamClient; metrics: BusMetrics; catalog: Catalog },
  request: { contextId: Buffer; reason: bus.SyncReason; peer?: string; forced?: boolean },
  dedupKey: string,
): Promise<void> {
  const context = toBase58(request.contextId);
  const message: bus.SyncRequest = {
    contextId: request.contextId,
    peer: request.peer ?? '',
    reason: request.reason,
    forced: request.forced ?? false,
    requestedAtMs: BigInt(Date.now()),
  };
  await publishToStream(
    { js: deps.js, metrics: deps.metrics },
    deps.catalog.streams.syncRequests,
    deps.catalog.subjects.syncRequestFor(context),
    bus.SyncRequest.encode(message).finish(),
    { msgId: `${context}:${request.reason}:${request.peer ?? ''}:${dedupKey}` },
  );
}
