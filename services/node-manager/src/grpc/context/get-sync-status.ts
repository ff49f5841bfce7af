import { readSyncBook, syncStatusOf } from '@cnode/context-core';
import type { admin } from '@cnode/proto';
import { requireContext } from '../../contexts/context-access.js';
import type { ContextDeps } from '../../contexts/context-deps.js';

/** ContextService.GetSyncStatus (`cnode context status`): the status the sync service keeps. */
export async function getSyncStatus(
  deps: ContextDeps,
  req: admin.GetSyncStatusRequest,
): Promise<admin.GetSyncStatusResponse> {
  const ctx = await requireContext(deps, req.contextId);
  return { status: syncStatusOf(await readSyncBook(deps.redis(), deps.catalog, ctx.id)) };
}
