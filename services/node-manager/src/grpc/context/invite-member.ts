import { contextTopic, groupTopic, ingestGroupOps } from '@cnode/context-core';
import { sealKeyEnvelope, signGroupOp, toBase58, MAX_GROUP_OP_PARENTS } from '@cnode/primitives';
import { wire, type admin } from '@cnode/proto';
import { errorMessage } from '@cnode/runtime';
import { actingMember, currentGroupKey, requireContext } from '../../contexts/context-access.js';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { idArg } from '../admin-errors.js';
import { opNonce } from './create-context.js';

/** Multiaddrs peers can dial us at, each ending in our peer id. */
export function dialableAddrs(listenAddrs: readonly string[], peerId: string): string[] {
  return listenAddrs.map((a) => (a.includes('/p2p/') ? a : `${a}/p2p/${peerId}`));
}

/**
 * ContextService.InviteMember: an AddMember op for the invitee, signed by one of our admin
 * identities, with the group key sealed to the invitee (unless `key_from_peers`: the joiner then
 * gets it by key share at its first sync); published on the group topic so members learn of it,
 * and returned inside an invitation with the group's ops and our addresses.
 */
export async function inviteMember(
  deps: ContextDeps,
  req: admin.InviteMemberRequest,
): Promise<admin.InviteMemberResponse> {
  const ctx = await requireContext(deps, req.contextId);
  const invitee = idArg(req.invitee, 'invitee');
  const signer = await actingMember(deps, ctx, '', { admin: true });
  const groupKey = await currentGroupKey(deps, ctx);
  const parents = (await deps.groups.heads(ctx.groupId)).slice(0, MAX_GROUP_OP_PARENTS);
  const op = signGroupOp({
    groupId: ctx.groupId,
    parents,
    signer,
    nonce: opNonce(),
    op: {
      kind: {
        $case: 'addMember',
        addMember: {
          member: invitee,
          role: wire.GroupRole.GROUP_ROLE_MEMBER,
          keyEnvelope: req.keyFromPeers ? undefined : sealKeyEnvelope(groupKey, invitee),
        },
      },
    },
  });
  await ingestGroupOps(deps, [op]);
  const broadcast = wire.BroadcastMessage.encode({ payload: { $case: 'signedGroupOp', signedGroupOp: op } }).finish();
  await deps.network.publish(groupTopic(ctx.groupId), broadcast).catch((err: unknown) => {
    deps.metrics.gossipPublishFailures.inc({ kind: 'group_op' });
    deps.logger.warn({ err: errorMessage(err) }, 'Could not publish the AddMember op; members learn it on catch-up');
  });

  const info = await deps.network.info();
  const invitation: wire.Invitation = {
    contextId: ctx.id,
    groupId: ctx.groupId,
    applicationId: ctx.applicationId ?? Buffer.alloc(0),
    inviterPeerId: info.peerId,
    bootstrapAddrs: dialableAddrs(info.listenAddrs, info.peerId),
    groupOps: await deps.groups.appliedOps(ctx.groupId),
  };
  const bytes = Buffer.from(wire.Invitation.encode(invitation).finish());
  deps.logger.info({ context: contextTopic(ctx.id), invitee: toBase58(invitee) }, 'Invited member');
  return { invitation: bytes, invitationText: bytes.toString('base64url') };
}
