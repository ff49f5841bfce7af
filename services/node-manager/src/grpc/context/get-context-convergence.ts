import {
  assessConvergence,
  peerConvergenceOf,
  readConvergenceBook,
  CONVERGENCE_STALE_PERIODS,
} from '@cnode/context-core';
import { toBase58 } from '@cnode/primitives';
import type { admin } from '@cnode/proto';
import { contextUnknown, requireContext } from '../../contexts/context-access.js';
import type { ContextDeps } from '../../contexts/context-deps.js';

/**
 * ContextService.GetContextConvergence (`cnode context status`): every peer the sync service's
 * probe and sessions heard from, judged against our state now, with the context's convergence
 * history the probe keeps.
 */
export async function getContextConvergence(
  deps: ContextDeps,
  req: admin.GetContextConvergenceRequest,
): Promise<admin.GetContextConvergenceResponse> {
  const ctx = await requireContext(deps, req.contextId);
  const [assessment, book] = await Promise.all([
    assessConvergence(deps, ctx.id, { staleAfterMs: CONVERGENCE_STALE_PERIODS * deps.convergenceIntervalMs }),
    readConvergenceBook(deps.redis(), deps.catalog, ctx.id),
  ]);
  // Left between the two reads.
  if (!assessment) throw contextUnknown(req.contextId);
  return {
    initialized: assessment.ours.initialized,
    rootHash: toBase58(assessment.ours.rootHash),
    heads: assessment.ours.heads.map(toBase58),
    converged: assessment.converged,
    convergedAtMs: BigInt(book.convergedAtMs),
    divergedSinceMs: BigInt(assessment.converged ? 0 : book.divergedSinceMs),
    divergenceEpisodes: BigInt(book.episodes),
    peers: assessment.peers.map((p) => peerConvergenceOf(p.record, p.judgement, p.connected)),
    syncStatus: assessment.sync,
  };
}
