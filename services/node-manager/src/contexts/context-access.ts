import { MAX_GOVERNANCE_HEADS } from '@cnode/primitives';
import { status } from '@grpc/grpc-js';
import { wire } from '@cnode/proto';
import { toBase58, type Identity } from '@cnode/primitives';
import type { ContextSettings, ContextState } from '@cnode/store';
import { AdminCallError, AdminErrorCode } from '../grpc/admin-errors.js';
import { resolveIdArg } from '../grpc/alias-args.js';
import type { ContextDeps } from './context-deps.js';

export type HostedContext = ContextState & { id: Buffer; groupId: Buffer };
/** What a call needs to know of a context that does not read its root or heads. */
export type HostedSettings = ContextSettings & { groupId: Buffer };

/** The context named by a request field (base58 id or alias), with its current root and heads, or NOT_FOUND. */
export async function requireContext(deps: ContextDeps, contextIdText: string): Promise<HostedContext> {
  const id = await resolveIdArg(deps.hot, 'context', contextIdText, 'context_id');
  const ctx = await deps.states.context(id);
  if (!ctx?.groupId) throw contextUnknown(contextIdText);
  return { ...ctx, id, groupId: ctx.groupId };
}

/** The context named by a request field, its settings from the hot state (no read), or NOT_FOUND. */
export async function requireContextSettings(deps: ContextDeps, contextIdText: string): Promise<HostedSettings> {
  const id = await resolveIdArg(deps.hot, 'context', contextIdText, 'context_id');
  const ctx = await deps.hot.contextSettings(id);
  if (!ctx?.groupId) throw contextUnknown(contextIdText);
  return { ...ctx, groupId: ctx.groupId };
}

export function contextUnknown(contextIdText: string): AdminCallError {
  return new AdminCallError(
    status.NOT_FOUND,
    AdminErrorCode.ContextUnknown,
    `context ${contextIdText} is not hosted here`,
  );
}

/**
 * The identity of ours that acts in the context: the one named (it must be ours and a member), or
 * the first of ours that is a member. `admin` additionally requires the admin role.
 */
export async function actingMember(
  deps: ContextDeps,
  ctx: { id: Buffer; groupId: Buffer },
  named: string,
  opts: { admin?: boolean } = {},
): Promise<Identity> {
  const owned = await deps.hot.ownedIdentities(ctx.id);
  // The identity may be named by an alias scoped to the context.
  const aliased = named ? await deps.hot.alias('identity', named, ctx.id) : undefined;
  const wanted = aliased ? toBase58(aliased) : named;
  const candidates = named ? owned.filter((i) => toBase58(i.publicKey) === wanted) : owned;
  if (named && candidates.length === 0) {
    throw new AdminCallError(
      status.NOT_FOUND,
      AdminErrorCode.IdentityUnknown,
      `identity ${named} is not one of this node's identities in the context`,
    );
  }
  for (const identity of candidates) {
    const role = await deps.hot.role(ctx.groupId, identity.publicKey);
    if (role === undefined) continue;
    if (opts.admin && role !== wire.GroupRole.GROUP_ROLE_ADMIN) continue;
    return identity;
  }
  throw new AdminCallError(
    status.PERMISSION_DENIED,
    opts.admin ? AdminErrorCode.NotAdmin : AdminErrorCode.NotMember,
    opts.admin
      ? 'none of our identities in this context is an admin of its group'
      : 'none of our identities in this context is a member of its group',
  );
}

/**
 * Refuses, on a read-only node (NODE_MODE=read-only), anything that would write state or sign a
 * governance op: such a node follows, verifies, stores and serves, and is never a writer.
 */
export function requireWritableNode(deps: Pick<ContextDeps, 'nodeMode' | 'metrics'>, what: string): void {
  if (deps.nodeMode !== 'read-only') return;
  deps.metrics.readOnlyRefusals.inc({ reason: 'node_read_only' });
  throw new AdminCallError(
    status.FAILED_PRECONDITION,
    AdminErrorCode.NodeReadOnly,
    `${what}: this node runs in read-only mode (NODE_MODE=read-only) and never writes`,
  );
}

/** Whether a group role may only read (read-only members, and TEE nodes admitted by attestation). */
export function isReadOnlyRole(role: wire.GroupRole | undefined): boolean {
  return role === wire.GroupRole.GROUP_ROLE_READ_ONLY || role === wire.GroupRole.GROUP_ROLE_READ_ONLY_TEE;
}

/** The group key new deltas are sealed with, or FAILED_PRECONDITION. */
export async function currentGroupKey(deps: ContextDeps, ctx: { groupId: Buffer }): Promise<Buffer> {
  const key = await deps.hot.currentKey(ctx.groupId);
  if (!key) {
    throw new AdminCallError(
      status.FAILED_PRECONDITION,
      AdminErrorCode.NoGroupKey,
      'this node holds no key of the group',
    );
  }
  return key;
}

/** What sealing a local delta needs: the group's current key and our governance heads (as many as a delta cites). */
export async function sealingOf(
  deps: ContextDeps,
  ctx: { groupId: Buffer },
): Promise<{ groupKey: Buffer; governanceHeads: Buffer[] }> {
  return {
    groupKey: await currentGroupKey(deps, ctx),
    governanceHeads: (await deps.hot.headsOf(ctx.groupId)).slice(0, MAX_GOVERNANCE_HEADS),
  };
}
