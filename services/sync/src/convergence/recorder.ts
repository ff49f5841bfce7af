import {
  ContextErrorCode,
  SyncRefusal,
  peerStateOf,
  recordPeer,
  type PeerSessionRecord,
  type PeerStateRecord,
} from '@cnode/context-core';
import type { Catalog } from '@cnode/bus';
import { errorMessage, isCodedError, type Logger } from '@cnode/runtime';
import type { Redis } from '@cnode/store';
import { failureReason } from '../initiator/run-sync.js';

const REFUSALS: ReadonlySet<string> = new Set(Object.values(SyncRefusal));

/**
 * The failure label of a convergence record: a refusal keeps the peer's refusal code (when it is
 * one we know: the peer chooses the string), so "the peer does not host the context" and "the
 * peer says we are no member" read apart; anything else is labelled as sessions label it.
 */
export function peerFailureLabel(err: unknown): string {
  if (isCodedError(err) && err.code === (ContextErrorCode.PeerRefused as string)) {
    const code = (err.meta as { code?: unknown }).code;
    return typeof code === 'string' && REFUSALS.has(code) ? `refused_${code}` : 'refused_other';
  }
  return failureReason(err);
}

/**
 * Writes what sync learns about peers into the convergence bookkeeping: the state a peer
 * told (probe or session), the outcome of each session with it, the failures to hear from it.
 * Bookkeeping never fails a session: when Redis is away it is skipped with a debug line.
 */
export class ConvergenceRecorder {
  constructor(private readonly deps: { redis: () => Redis; catalog: Catalog; logger: Logger }) {}

  state(
    contextId: Buffer,
    peer: string,
    answer: { initialized: boolean; rootHash: Uint8Array; heads: Uint8Array[] },
    via: PeerStateRecord['via'],
  ): Promise<void> {
    return this.write(contextId, peer, { state: peerStateOf(answer, via) });
  }

  session(contextId: Buffer, peer: string, session: Omit<PeerSessionRecord, 'atMs'>): Promise<void> {
    return this.write(contextId, peer, { session: { ...session, atMs: Date.now() } });
  }

  failure(contextId: Buffer, peer: string, err: unknown): Promise<void> {
    return this.write(contextId, peer, {
      failure: { reason: peerFailureLabel(err), message: errorMessage(err).slice(0, 300), atMs: Date.now() },
    });
  }

  private async write(contextId: Buffer, peer: string, record: Parameters<typeof recordPeer>[4]): Promise<void> {
    try {
      await recordPeer(this.deps.redis(), this.deps.catalog, contextId, peer, record);
    } catch (err) {
      this.deps.logger.debug({ peer, err: errorMessage(err) }, 'Convergence record not written');
    }
  }
}
