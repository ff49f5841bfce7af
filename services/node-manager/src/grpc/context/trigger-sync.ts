import { status } from '@grpc/grpc-js';
import { bus, type admin } from '@cnode/proto';
import { requireContext } from '../../contexts/context-access.js';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { queueSync } from '../../contexts/queue-sync.js';
import { AdminCallError, AdminErrorCode } from '../admin-errors.js';

/** ContextService.TriggerSync (`cnode context sync`): a forced sync request for the sync service. */
export async function triggerSync(
  deps: ContextDeps,
  req: admin.TriggerSyncRequest,
): Promise<admin.TriggerSyncResponse> {
  const ctx = await requireContext(deps, req.contextId);
  const queued = await queueSync(
    deps,
    { contextId: ctx.id, reason: bus.SyncReason.SYNC_REASON_ADMIN, peer: req.peer || undefined, forced: true },
    String(Date.now()),
  );
  if (!queued) {
    throw new AdminCallError(
      status.UNAVAILABLE,
      AdminErrorCode.SyncUnavailable,
      'the sync request could not be queued',
    );
  }
  return {};
}
