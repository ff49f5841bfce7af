import { KV_APPLICATION_ID, KV_APPLICATION_NAME } from '@cnode/kv-app';
import { toBase58 } from '@cnode/primitives';
import type { admin } from '@cnode/proto';
import type { ContextRow } from '@cnode/store';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { requireContext } from '../../contexts/context-access.js';

/** The admin view of one hosted context. */
export async function contextInfo(deps: ContextDeps, ctx: ContextRow): Promise<admin.ContextInfo> {
  const [owned, members, pending] = await Promise.all([
    deps.identities.owned(ctx.id),
    ctx.groupId ? deps.groups.members(ctx.groupId) : Promise.resolve([]),
    deps.states.pendingCount(ctx.id),
  ]);
  return {
    contextId: toBase58(ctx.id),
    groupId: ctx.groupId ? toBase58(ctx.groupId) : '',
    application: ctx.applicationId?.equals(KV_APPLICATION_ID)
      ? KV_APPLICATION_NAME
      : (ctx.applicationId?.toString('hex') ?? ''),
    rootHash: toBase58(ctx.rootHash),
    heads: ctx.heads.map(toBase58),
    ownMembers: owned.map((i) => toBase58(i.publicKey)),
    memberCount: members.length,
    pendingDeltas: pending,
    initialized: ctx.initialized,
    applicationVersion: ctx.applicationVersion ?? '',
  };
}

/** ContextService.ListContexts. */
export async function listContexts(deps: ContextDeps): Promise<admin.ListContextsResponse> {
  const rows = await deps.states.listContexts();
  return { contexts: await Promise.all(rows.map((row) => contextInfo(deps, row))) };
}

/** ContextService.GetContext. */
export async function getContext(deps: ContextDeps, req: admin.GetContextRequest): Promise<admin.GetContextResponse> {
  return { context: await contextInfo(deps, await requireContext(deps, req.contextId)) };
}
