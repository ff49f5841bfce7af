import { toBase58 } from '@cnode/primitives';
import type { admin } from '@cnode/proto';
import { requireContext } from '../../contexts/context-access.js';
import type { ContextDeps } from '../../contexts/context-deps.js';

/** ContextService.LeaveContext: unsubscribes and deletes the context's local data. */
export async function leaveContext(
  deps: ContextDeps,
  req: admin.LeaveContextRequest,
): Promise<admin.LeaveContextResponse> {
  const ctx = await requireContext(deps, req.contextId);
  await deps.subscriptions.leave(ctx.id);
  await deps.states.deleteContext(ctx.id);
  // Names of its identities go with it; an alias of the context itself stays (it may be joined again).
  await deps.aliases.deleteScope(ctx.id);
  deps.hot.invalidate('context', ctx.id);
  deps.hot.invalidate('aliases');
  await deps.states.queueNodeEvent(ctx.id, { $case: 'contextLeft', contextLeft: {} });
  deps.outbox.kick();
  deps.logger.info({ context: toBase58(ctx.id) }, 'Left context');
  return {};
}
