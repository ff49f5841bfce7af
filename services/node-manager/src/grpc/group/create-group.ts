import { ingestGroupOps } from '@cnode/context-core';
import { generateIdentity, toBase58 } from '@cnode/primitives';
import type { admin } from '@cnode/proto';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { requireWritableNode } from '../../contexts/context-access.js';
import { signGenesis } from '../../groups/group-ops.js';

/**
 * GroupService.CreateGroup: a genesis op making a fresh identity of ours the admin of a new group
 * (with a fresh group key sealed to it); then the group topic. Contexts join it with
 * CreateContext(group_id).
 */
export async function createGroup(deps: ContextDeps): Promise<admin.CreateGroupResponse> {
  requireWritableNode(deps, 'creating a group');
  const member = generateIdentity();
  await deps.identities.create(member);
  const { groupId, genesis } = signGenesis(member);
  await ingestGroupOps(deps, [genesis]);
  await deps.subscriptions.joinGroup(groupId);
  deps.logger.info({ group: groupId.toString('hex'), member: toBase58(member.publicKey) }, 'Created group');
  return { groupId: toBase58(groupId), member: toBase58(member.publicKey) };
}
