import { contextTopic } from '@cnode/context-core';
import { sealKeyEnvelope, toBase58 } from '@cnode/primitives';
import { wire, type admin } from '@cnode/proto';
import { actingMember, currentGroupKey, requireContext, type HostedContext } from '../../contexts/context-access.js';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { idArg } from '../admin-errors.js';
import { commitAndPublish, signOpChain } from '../../groups/group-ops.js';

/** Multiaddrs peers can dial us at, each ending in our peer id. */
export function dialableAddrs(listenAddrs: readonly string[], peerId: string): string[] {
  return listenAddrs.map((a) => (a.includes('/p2p/') ? a : `${a}/p2p/${peerId}`));
}

/**
 * ContextService.InviteMember: an AddMember op for the invitee, signed by one of our admin
 * identities, with the group key sealed to the invitee (unless `key_from_peers`: the joiner then
 * gets it by key share at its first sync); published on the group topic (with a mutation
 * notification) so members learn of it,
 * and returned inside an invitation with the group's ops and our addresses.
 */
export async function inviteMember(
  deps: ContextDeps,
  req: admin.InviteMemberRequest,
): Promise<admin.InviteMemberResponse> {
  const ctx = await requireContext(deps, req.contextId);
  const invitee = idArg(req.invitee, 'invitee');
  const bytes = await admitMember(deps, ctx, invitee, {
    role: wire.GroupRole.GROUP_ROLE_MEMBER,
    keyFromPeers: req.keyFromPeers,
  });
  return { invitation: bytes, invitationText: bytes.toString('base64url') };
}

/**
 * Adds `invitee` to the context's group with `role` (an AddMember op signed by one of our admin
 * identities, the group key sealed to the invitee unless `keyFromPeers`, and for a TEE node the
 * attestation verified), publishes it, and returns the encoded invitation.
 */
export async function admitMember(
  deps: ContextDeps,
  ctx: HostedContext,
  invitee: Buffer,
  opts: { role: wire.GroupRole; keyFromPeers?: boolean; tee?: wire.TeeAdmission },
): Promise<Buffer> {
  const signer = await actingMember(deps, ctx, '', { admin: true });
  const groupKey = await currentGroupKey(deps, ctx);
  const ops = await signOpChain(deps, ctx.groupId, signer, [
    {
      kind: {
        $case: 'addMember',
        addMember: {
          member: invitee,
          role: opts.role,
          keyEnvelope: opts.keyFromPeers ? undefined : sealKeyEnvelope(groupKey, invitee),
          tee: opts.tee,
        },
      },
    },
  ]);
  await commitAndPublish(deps, ctx.groupId, ops);

  const info = await deps.network.info();
  const invitation: wire.Invitation = {
    contextId: ctx.id,
    groupId: ctx.groupId,
    applicationId: ctx.applicationId ?? Buffer.alloc(0),
    inviterPeerId: info.peerId,
    bootstrapAddrs: [
      ...dialableAddrs(info.listenAddrs, info.peerId),
      ...(await contextPeerAddrs(deps, ctx.id, info.peerId)),
    ].slice(0, MAX_BOOTSTRAP_ADDRS),
    groupOps: await deps.groups.appliedOps(ctx.groupId),
  };
  const bytes = Buffer.from(wire.Invitation.encode(invitation).finish());
  deps.logger.info(
    { context: contextTopic(ctx.id), invitee: toBase58(invitee), role: wire.groupRoleToJSON(opts.role) },
    'Invited member',
  );
  return bytes;
}

/** Addresses an invitation carries, at most (the joiner dials as many). */
const MAX_BOOTSTRAP_ADDRS = 16;

/**
 * Where the context's other peers (those we see subscribed to its topic) can be dialled, so the
 * joiner connects to them at once, not only to us; none when the network service cannot say.
 */
async function contextPeerAddrs(deps: ContextDeps, contextId: Buffer, ourPeerId: string): Promise<string[]> {
  try {
    const [topic, connected] = await Promise.all([
      deps.network.topicPeers(contextTopic(contextId)),
      deps.network.listPeers(),
    ]);
    const members = new Set([...topic.subscribers, ...topic.meshPeers]);
    return connected.peers
      .filter((p) => p.peer !== ourPeerId && members.has(p.peer))
      .flatMap((p) => dialableAddrs(p.addrs, p.peer));
  } catch {
    return [];
  }
}
