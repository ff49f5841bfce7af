import type { admin } from '@cnode/proto';
import { runCalls } from '../../contexts/call-runner.js';
import type { ContextDeps } from '../../contexts/context-deps.js';

/**
 * ContextService.Execute: one call (see `runCalls`). Reads answer from the state; a mutating call
 * commits one delta (by group commit with the calls on the context that arrive meanwhile) and is
 * answered once it is committed and handed to gossip.
 */
export async function execute(deps: ContextDeps, req: admin.ExecuteRequest): Promise<admin.ExecuteResponse> {
  const [outcome] = await runCalls(deps, req.contextId, [req]);
  if (!outcome!.ok) throw outcome!.error;
  return outcome!.response;
}
