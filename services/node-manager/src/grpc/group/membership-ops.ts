import { status } from '@grpc/grpc-js';
import { generateSymmetricKey, keyIdOf, sealKeyEnvelope, toBase58, verifyGroupOp } from '@cnode/primitives';
import { admin, wire } from '@cnode/proto';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { groupAdmin, requireGroup } from '../../groups/group-access.js';
import { commitAndPublish, signOpChain } from '../../groups/group-ops.js';
import { AdminCallError, AdminErrorCode, badArgument, idArg } from '../admin-errors.js';

const ROLES = new Set([
  admin.MemberRole.MEMBER_ROLE_MEMBER,
  admin.MemberRole.MEMBER_ROLE_ADMIN,
  admin.MemberRole.MEMBER_ROLE_READ_ONLY,
]);

function roleArg(role: admin.MemberRole, fallback?: wire.GroupRole): wire.GroupRole {
  if (role === admin.MemberRole.MEMBER_ROLE_UNSPECIFIED && fallback !== undefined) return fallback;
  if (role === admin.MemberRole.MEMBER_ROLE_READ_ONLY_TEE) {
    throw badArgument('read_only_tee is granted only through attested admission (InviteSpecializedNode)');
  }
  if (!ROLES.has(role)) throw badArgument('role must be member, admin or read_only');
  return role as number;
}

/**
 * Signs `ops` with our admin identity on our heads, refusing up front what the group's rules would
 * refuse (so the caller hears why, instead of an op that never applies), then applies and publishes.
 */
async function change(deps: ContextDeps, groupId: Buffer, ops: wire.GroupOp[]): Promise<string[]> {
  const signer = await groupAdmin(deps, groupId);
  const signed = await signOpChain(deps, groupId, signer, ops);
  const cut = await deps.groups.currentProjection(groupId);
  const refusal = cut?.refusal(verifyGroupOp(signed[0]!));
  if (refusal) throw new AdminCallError(status.FAILED_PRECONDITION, AdminErrorCode.GovernanceRefused, refusal);
  const ids = await commitAndPublish(deps, groupId, signed);
  deps.logger.info({ group: groupId.toString('hex'), ops: ids, kinds: ops.map((o) => o.kind?.$case) }, 'Group changed');
  return ids;
}

/** A RotateKey op: a fresh key, sealed to each current member except `without` (being removed). */
async function rotation(deps: ContextDeps, groupId: Buffer, without?: Buffer): Promise<wire.GroupOp> {
  const cut = await deps.groups.currentProjection(groupId);
  const key = generateSymmetricKey();
  const recipients = [...(cut?.members.keys() ?? [])]
    .map((m) => Buffer.from(m, 'hex'))
    .filter((m) => !without || !m.equals(without));
  return {
    kind: {
      $case: 'rotateKey',
      rotateKey: { keyId: keyIdOf(key), envelopes: recipients.map((m) => sealKeyEnvelope(key, m)) },
    },
  };
}

/** GroupService.AddMember. */
export async function addMember(deps: ContextDeps, req: admin.AddMemberRequest): Promise<admin.AddMemberResponse> {
  const groupId = await requireGroup(deps, req.groupId);
  const member = idArg(req.member, 'member');
  const role = roleArg(req.role, wire.GroupRole.GROUP_ROLE_MEMBER);
  const key = req.keyFromPeers ? undefined : await deps.groups.currentKey(groupId);
  if (!req.keyFromPeers && !key) {
    throw new AdminCallError(
      status.FAILED_PRECONDITION,
      AdminErrorCode.NoGroupKey,
      'this node holds no current key of the group',
    );
  }
  const opIds = await change(deps, groupId, [
    { kind: { $case: 'addMember', addMember: { member, role, keyEnvelope: key && sealKeyEnvelope(key, member) } } },
  ]);
  return { opIds };
}

/**
 * GroupService.RemoveMember: RemoveMember, then RotateKey to the members that remain, as one causal
 * chain gossiped as one GroupGovernanceDelta. Deltas written after it are sealed with the new key,
 * which the removed member never receives.
 */
export async function removeMember(
  deps: ContextDeps,
  req: admin.RemoveMemberRequest,
): Promise<admin.RemoveMemberResponse> {
  const groupId = await requireGroup(deps, req.groupId);
  const member = idArg(req.member, 'member');
  const opIds = await change(deps, groupId, [
    { kind: { $case: 'removeMember', removeMember: { member } } },
    await rotation(deps, groupId, member),
  ]);
  deps.logger.info(
    { group: groupId.toString('hex'), member: toBase58(member) },
    'Removed member and rotated the group key',
  );
  return { opIds };
}

/** GroupService.SetMemberRole. */
export async function setMemberRole(
  deps: ContextDeps,
  req: admin.SetMemberRoleRequest,
): Promise<admin.SetMemberRoleResponse> {
  const groupId = await requireGroup(deps, req.groupId);
  const member = idArg(req.member, 'member');
  const role = roleArg(req.role);
  return { opIds: await change(deps, groupId, [{ kind: { $case: 'setRole', setRole: { member, role } } }]) };
}

/** GroupService.RotateKey: a fresh key sealed to every current member. */
export async function rotateKey(deps: ContextDeps, req: admin.RotateKeyRequest): Promise<admin.RotateKeyResponse> {
  const groupId = await requireGroup(deps, req.groupId);
  return { opIds: await change(deps, groupId, [await rotation(deps, groupId)]) };
}

/** GroupService.UnregisterContext. */
export async function unregisterContext(
  deps: ContextDeps,
  req: admin.UnregisterContextRequest,
): Promise<admin.UnregisterContextResponse> {
  const groupId = await requireGroup(deps, req.groupId);
  const contextId = idArg(req.contextId, 'context_id');
  return {
    opIds: await change(deps, groupId, [{ kind: { $case: 'unregisterContext', unregisterContext: { contextId } } }]),
  };
}
