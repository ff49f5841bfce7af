import {
  generateIdentity,
  generateSymmetricKey,
  groupIdOf,
  sealKeyEnvelope,
  signGroupOp,
  toBase58,
} from '@cnode/primitives';
import { wire, type admin } from '@cnode/proto';
import { ingestGroupOps } from '@cnode/context-core';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { opNonce } from '../../groups/group-ops.js';

/**
 * GroupService.CreateGroup: a genesis op making a fresh identity of ours the admin of a new group
 * (the group id binds to that identity and the nonce), with a fresh group key sealed to it; then the
 * group topic. Contexts join it with CreateContext(group_id).
 */
export async function createGroup(deps: ContextDeps): Promise<admin.CreateGroupResponse> {
  const member = generateIdentity();
  await deps.identities.create(member);
  const nonce = opNonce();
  const groupId = groupIdOf(member.publicKey, nonce);
  const genesis = signGroupOp({
    groupId,
    parents: [],
    signer: member,
    nonce,
    op: {
      kind: {
        $case: 'addMember',
        addMember: {
          member: member.publicKey,
          role: wire.GroupRole.GROUP_ROLE_ADMIN,
          keyEnvelope: sealKeyEnvelope(generateSymmetricKey(), member.publicKey),
        },
      },
    },
  });
  await ingestGroupOps(deps, [genesis]);
  await deps.subscriptions.joinGroup(groupId);
  deps.logger.info({ group: groupId.toString('hex'), member: toBase58(member.publicKey) }, 'Created group');
  return { groupId: toBase58(groupId), member: toBase58(member.publicKey) };
}
