import { toBase58 } from '@cnode/primitives';
import { type admin, type wire } from '@cnode/proto';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { requireGroup } from '../../groups/group-access.js';

const roleOf = (role: wire.GroupRole): admin.MemberRole => role as number;

/** Members at our heads (the projection), each with whether the live view agrees. */
async function membersOf(deps: ContextDeps, groupId: Buffer): Promise<admin.GroupMemberInfo[]> {
  const cut = await deps.groups.currentProjection(groupId);
  const live = new Map((await deps.groups.members(groupId)).map((m) => [m.member.toString('hex'), m.role]));
  const out: admin.GroupMemberInfo[] = [];
  for (const [memberHex, role] of cut?.members ?? []) {
    out.push({
      member: toBase58(Buffer.from(memberHex, 'hex')),
      role: roleOf(role),
      liveAgrees: live.get(memberHex) === role,
    });
  }
  // Live members the projection does not hold are shown too: they are what a divergence looks like.
  for (const [memberHex, role] of live) {
    if (cut?.members.has(memberHex)) continue;
    out.push({ member: toBase58(Buffer.from(memberHex, 'hex')), role: roleOf(role), liveAgrees: false });
  }
  return out.sort((a, b) => a.member.localeCompare(b.member));
}

async function summaryOf(deps: ContextDeps, groupId: Buffer): Promise<admin.GroupSummary> {
  const cut = await deps.groups.currentProjection(groupId);
  const own: admin.GroupMemberInfo[] = [];
  const live = new Map((await deps.groups.members(groupId)).map((m) => [m.member.toString('hex'), m.role]));
  for (const [memberHex, role] of cut?.members ?? []) {
    const member = Buffer.from(memberHex, 'hex');
    if (!(await deps.identities.find(member))) continue;
    own.push({ member: toBase58(member), role: roleOf(role), liveAgrees: live.get(memberHex) === role });
  }
  return {
    groupId: toBase58(groupId),
    memberCount: cut?.members.size ?? 0,
    contexts: [...(cut?.contexts ?? [])].map((c) => toBase58(Buffer.from(c, 'hex'))),
    ownMembers: own,
  };
}

/** GroupService.ListGroups: every group we hold governance of and still have a member identity in. */
export async function listGroups(deps: ContextDeps): Promise<admin.ListGroupsResponse> {
  const groups: admin.GroupSummary[] = [];
  for (const groupId of await deps.groups.groupIds()) groups.push(await summaryOf(deps, groupId));
  return { groups };
}

/** GroupService.GetGroup. */
export async function getGroup(deps: ContextDeps, req: admin.GetGroupRequest): Promise<admin.GetGroupResponse> {
  const groupId = await requireGroup(deps, req.groupId);
  const keyId = await deps.groups.currentKeyId(groupId);
  const keys = await deps.groups.keys(groupId);
  return {
    group: await summaryOf(deps, groupId),
    heads: (await deps.groups.heads(groupId)).map((h) => h.toString('hex')),
    currentKeyId: keyId?.toString('hex') ?? '',
    holdsCurrentKey: keyId ? keys.has(keyId.toString('hex')) : keys.size > 0,
    appliedOps: await deps.groups.appliedCount(groupId),
    pendingOps: await deps.groups.pendingCount(groupId),
  };
}

/** GroupService.ListMembers. */
export async function listMembers(
  deps: ContextDeps,
  req: admin.ListMembersRequest,
): Promise<admin.ListMembersResponse> {
  const groupId = await requireGroup(deps, req.groupId);
  return { members: await membersOf(deps, groupId) };
}
