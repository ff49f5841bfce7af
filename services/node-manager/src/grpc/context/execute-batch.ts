import { status } from '@grpc/grpc-js';
import type { admin } from '@cnode/proto';
import { errorMessage, isCodedError } from '@cnode/runtime';
import { runCalls } from '../../contexts/call-runner.js';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { badArgument, grpcStatusOf } from '../admin-errors.js';

/** Most calls in one ExecuteBatch. */
export const MAX_BATCH_CALLS = 1024;

/**
 * ContextService.ExecuteBatch: the calls run on one context in order (see `runCalls`) and each is
 * answered: its response, or the status, code and message a lone Execute would have failed with.
 * Mutating calls commit together and leave the node as one gossip message.
 */
export async function executeBatch(
  deps: ContextDeps,
  req: admin.ExecuteBatchRequest,
): Promise<admin.ExecuteBatchResponse> {
  if (req.calls.length === 0) throw badArgument('calls: at least one call is required');
  if (req.calls.length > MAX_BATCH_CALLS) throw badArgument(`calls: at most ${MAX_BATCH_CALLS} per batch`);
  const outcomes = await runCalls(deps, req.contextId, req.calls);
  return {
    results: outcomes.map((o) =>
      o.ok
        ? { outcome: { $case: 'ok', ok: o.response } }
        : { outcome: { $case: 'error', error: callError(deps, o.error) } },
    ),
  };
}

function callError(deps: ContextDeps, err: unknown): admin.ExecuteCallError {
  const code = grpcStatusOf(err) ?? status.INTERNAL;
  // Ours, not the caller's: logged as a failed admin call is.
  if (code === status.INTERNAL)
    deps.logger.error({ method: 'ExecuteBatch', err: errorMessage(err) }, 'A call of a batch failed');
  return { status: code, code: isCodedError(err) ? err.code : '', message: errorMessage(err) };
}
