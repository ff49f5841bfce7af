import { status } from '@grpc/grpc-js';
import { contextTopic } from '@cnode/context-core';
import { KV_APPLICATION_ID, KvError, executeKv } from '@cnode/kv-app';
import { MAX_GOVERNANCE_HEADS, toBase58 } from '@cnode/primitives';
import { wire, type admin } from '@cnode/proto';
import { errorMessage } from '@cnode/runtime';
import { actingMember, currentGroupKey, requireContext } from '../../contexts/context-access.js';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { AdminCallError, AdminErrorCode, badArgument } from '../admin-errors.js';

/** Largest JSON argument object accepted (a value is at most 1 MiB; leave room for the rest). */
const MAX_ARGS_BYTES = 1024 * 1024 + 64 * 1024;

/**
 * ContextService.Execute. Reads answer from the state. A mutating call becomes one delta: parents are
 * the current heads (or the delta before it in its group commit), the HLC follows the causal past,
 * and the delta is committed locally (state, DAG, root, event) before the caller hears back. Then it is gossiped on the context topic; if that
 * fails the delta is still committed and peers get it through catch-up.
 */
export async function execute(deps: ContextDeps, req: admin.ExecuteRequest): Promise<admin.ExecuteResponse> {
  const ctx = await requireContext(deps, req.contextId);
  if (ctx.applicationId && !ctx.applicationId.equals(KV_APPLICATION_ID)) {
    throw new AdminCallError(
      status.UNIMPLEMENTED,
      AdminErrorCode.ApplicationUnknown,
      'this context runs an installed application; only the built-in kv application executes until the WASM runtime lands',
    );
  }
  if (req.args.length > MAX_ARGS_BYTES) throw badArgument('args are too large');
  if (!ctx.initialized) {
    throw new AdminCallError(
      status.UNAVAILABLE,
      AdminErrorCode.ContextNotReady,
      'the context is still syncing its initial state',
    );
  }
  const member = await actingMember(deps, ctx, req.executor);

  // Local writes order after everything this node has applied.
  const past = await deps.states.maxHlcOf(ctx.id, ctx.heads);
  if (past) {
    try {
      deps.clock.update(past);
    } catch (err) {
      // Only if our wall clock jumped back by more than the drift bound: write with our own clock.
      deps.logger.warn({ err: errorMessage(err) }, 'The context is ahead of our clock');
    }
  }

  let result;
  try {
    result = await executeKv(
      req.method,
      req.args,
      {
        get: (key) => deps.states.get(ctx.id, key),
        scan: (prefix, after, limit) => deps.states.scan(ctx.id, prefix, after, limit),
      },
      () => deps.clock.now(),
    );
  } catch (err) {
    if (err instanceof KvError)
      throw new AdminCallError(status.INVALID_ARGUMENT, AdminErrorCode.BadArgument, err.message);
    throw err;
  }
  const output = Buffer.from(JSON.stringify(result.output ?? null));
  if (result.kind === 'read' || result.actions.length === 0) {
    return { output, deltaId: '', rootHash: toBase58(ctx.rootHash) };
  }

  const groupKey = await currentGroupKey(deps, ctx);
  const governanceHeads = (await deps.groups.heads(ctx.groupId)).slice(0, MAX_GOVERNANCE_HEADS);
  // Calls on this context that arrive while its previous batch commits share the next transaction.
  const committed = await deps.committer.commit(ctx.id, {
    author: member,
    actions: result.actions,
    events: [],
    groupKey,
    governanceHeads,
  });
  const gossip = committed.gossip;
  deps.outbox.kick();
  deps.metrics.localDeltas.inc();

  const payload = wire.BroadcastMessage.encode({ payload: { $case: 'stateDelta', stateDelta: gossip } }).finish();
  await deps.network.publish(contextTopic(ctx.id), payload).then(
    (res) => {
      if (res.noPeers) deps.metrics.gossipPublishFailures.inc({ kind: 'state_delta_no_peers' });
    },
    (err: unknown) => {
      deps.metrics.gossipPublishFailures.inc({ kind: 'state_delta' });
      deps.logger.warn(
        { context: toBase58(ctx.id), delta: toBase58(committed.delta.deltaId), err: errorMessage(err) },
        'Delta committed but not gossiped; peers will fetch it on catch-up',
      );
    },
  );
  return { output, deltaId: toBase58(committed.delta.deltaId), rootHash: toBase58(committed.rootHash) };
}
