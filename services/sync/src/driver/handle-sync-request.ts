import { ID_BYTES, toBase58 } from '@cnode/primitives';
import { admin, bus } from '@cnode/proto';
import { backoffMs, errorMessage, ProcessingAction, ProcessingError, type Logger } from '@cnode/runtime';
import { SyncErrorCode } from '../errors.js';
import type { InitiatorDeps } from '../initiator/deps.js';
import { SyncProtocol } from '../initiator/select-protocol.js';
import { BENIGN_FAILURES, failureReason, syncContext, SyncOutcome, type SyncRunResult } from '../initiator/run-sync.js';
import type { SyncMetrics } from '../metrics.js';
import type { SessionPermits } from './permits.js';
import type { StatusBoard } from './status-board.js';
import { governanceBeforeIntervalSync } from './pre-sync-governance.js';
import type { BusMetrics, Catalog } from '@cnode/bus';
import type { JetStreamClient } from '@nats-io/jetstream';

/** Failure backoff: 2^n seconds, at most 2^8 = 256 s. */
export const BACKOFF_BASE_MS = 1_000;
export const BACKOFF_MAX_MS = 256_000;
/** A full permit set redelivers the request after this long. */
const NO_PERMIT_RETRY_MS = 1_000;
/**
 * TTL of a context's initiator lock and of a session permit, renewed every third of it while the
 * session runs: a crashed replica blocks the context's syncs for at most this long.
 */
export const SYNC_LOCK_TTL_MS = 15_000;

export interface DriverDeps {
  initiator: InitiatorDeps;
  permits: SessionPermits;
  status: StatusBoard;
  metrics: SyncMetrics;
  logger: Logger;
  /** JetStream publishing, for governance drain requests. */
  bus: () => { js: JetStreamClient; metrics: BusMetrics; catalog: Catalog };
  /** Queues a forced request to go on with a session that stopped at its budget. */
  continueSync(contextId: Buffer, peer: string | undefined): Promise<void>;
  limits: {
    /** Minimum spacing between sessions of one context (unless forced). */
    intervalMs: number;
  };
}

/** Payload decoder of the SYNC_REQUESTS consumer; a throw marks the message as poison. */
export function decodeSyncRequest(data: Uint8Array): bus.SyncRequest {
  return bus.SyncRequest.decode(data);
}

const reasonLabel = (reason: bus.SyncReason): string =>
  bus.syncReasonToJSON(reason).replace('SYNC_REASON_', '').toLowerCase();

/**
 * One SyncRequest: unless forced, skipped inside the minimum spacing or the failure
 * backoff; then the context's initiator lock (one session per context across replicas) and a global
 * permit (`SYNC_MAX_CONCURRENT` across replicas; none free → redelivered shortly); then the session,
 * and its outcome recorded: success resets the failures, "no peers" and "not materialised" are benign,
 * anything else backs off 2^n s up to 256 s. The status follows along (Syncing → Idle, BackingOff,
 * WaitingForPeers). A session that stopped at its budget with work left queues a forced follow-up
 * (reason `continue`) once the lock is free.
 */
export async function handleSyncRequest(deps: DriverDeps, req: bus.SyncRequest): Promise<void> {
  const reason = reasonLabel(req.reason);
  const count = (outcome: string): void => deps.metrics.requests.inc({ reason, outcome });
  if (req.contextId.length !== ID_BYTES) return count('malformed');
  const contextId = Buffer.from(req.contextId);
  const context = toBase58(contextId);
  const hosted = await deps.initiator.states.context(contextId);
  if (!hosted) return count('unknown_context');
  if (req.reason === bus.SyncReason.SYNC_REASON_INTERVAL && hosted.groupId) {
    await governanceBeforeIntervalSync(deps, contextId, hosted.groupId);
  }

  const book = await deps.status.read(contextId);
  const now = Date.now();
  if (!req.forced) {
    if (now - book.lastSyncAtMs < deps.limits.intervalMs) return count('spacing');
    if (now < book.retryAtMs) return count('backoff');
  }
  const lock = await deps.permits.lock(context, SYNC_LOCK_TTL_MS);
  if (!lock) return count('busy');
  let result: SyncRunResult | undefined;
  let permit: string | undefined;
  // Renewed while the session runs: the lock and permit of a replica that crashed lapse within
  // SYNC_LOCK_TTL_MS instead of blocking the context's syncs for a whole session deadline.
  const renew = setInterval(() => {
    void lock.extend(SYNC_LOCK_TTL_MS).catch(() => false);
    if (permit) void deps.permits.extend(permit, SYNC_LOCK_TTL_MS).catch(() => false);
  }, SYNC_LOCK_TTL_MS / 3);
  try {
    permit = await deps.permits.acquire(SYNC_LOCK_TTL_MS);
    if (!permit) {
      count('no_permit');
      throw new ProcessingError(ProcessingAction.Retry, SyncErrorCode.NoPermit, 'every sync permit is taken', {
        retryDelayMs: NO_PERMIT_RETRY_MS,
      });
    }
    deps.metrics.sessionsActive.inc();
    try {
      count('ran');
      result = await runAndRecord(deps, contextId, req.peer || undefined, book.failures);
    } finally {
      deps.metrics.sessionsActive.dec();
      await deps.permits.release(permit).catch(() => undefined);
    }
  } finally {
    clearInterval(renew);
    await lock.release().catch(() => false);
  }
  // Only now: the follow-up must find the context's lock free.
  if (result?.more) await deps.continueSync(contextId, result.peer);
}

async function runAndRecord(
  deps: DriverDeps,
  contextId: Buffer,
  peer: string | undefined,
  failures: number,
): Promise<SyncRunResult | undefined> {
  const { State } = { State: admin.SyncStatus_State };
  const context = toBase58(contextId);
  await deps.status.update(contextId, { state: State.STATE_SYNCING, received: 0, total: 0 });
  try {
    const result = await syncContext(deps.initiator, contextId, peer);
    const done = Date.now();
    if (result.outcome === SyncOutcome.Ok) {
      await deps.status.update(contextId, {
        state: State.STATE_IDLE,
        failures: 0,
        lastError: '',
        retryAtMs: 0,
        lastSyncAtMs: done,
        lastSuccessAtMs: done,
        lastProtocol: result.protocols.join('+'),
        lastPeer: result.peer ?? '',
      });
      // Most interval syncs find nothing to do: only sessions that moved something are worth an info line.
      const level = result.protocols.every((p) => p === SyncProtocol.None) ? 'debug' : 'info';
      deps.logger[level]({ context, peer: result.peer, protocols: result.protocols, more: result.more }, 'Sync done');
    } else {
      await deps.status.update(contextId, {
        state: State.STATE_WAITING_FOR_PEERS,
        lastSyncAtMs: done,
        lastError: result.outcome,
        retryAtMs: 0,
      });
      deps.logger.debug({ context, outcome: result.outcome }, 'Nobody to sync with');
    }
    return result;
  } catch (err) {
    const reason = failureReason(err);
    const done = Date.now();
    if (BENIGN_FAILURES.has(reason)) {
      await deps.status.update(contextId, {
        state: State.STATE_WAITING_FOR_PEERS,
        lastSyncAtMs: done,
        lastError: reason,
      });
      return undefined;
    }
    const next = failures + 1;
    const delay = backoffMs(next, BACKOFF_BASE_MS, BACKOFF_MAX_MS);
    await deps.status.update(contextId, {
      state: State.STATE_BACKING_OFF,
      failures: next,
      lastError: errorMessage(err),
      retryAtMs: done + delay,
      lastSyncAtMs: done,
    });
    deps.logger.warn(
      { context, peer, reason, failures: next, retryInMs: delay, err: errorMessage(err) },
      'Sync failed',
    );
    return undefined;
  }
}
