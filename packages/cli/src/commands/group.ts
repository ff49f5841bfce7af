import { admin } from '@cnode/proto';
import { withAdminApi } from '../client.js';
import { need, printer } from './common.js';
import { UsageError, type Endpoint } from '../endpoint.js';

export const GROUP_USAGE = `  group create                       create a group (this node becomes its admin)
  group list                         the groups this node holds governance of
  group get GROUP                    one group: heads, contexts, current key, ops
  group members GROUP                members at our governance heads, with roles
  group add GROUP PUBLIC_KEY [ROLE]  add a member (ROLE: member, admin, read_only; --key-from-peers)
  group remove GROUP PUBLIC_KEY      remove a member and rotate the group key to the others
  group set-role GROUP PUBLIC_KEY ROLE
                                     change a member's role
  group rotate-key GROUP             rotate the group key to the current members
  group unregister GROUP CONTEXT     unregister a context from the group
  group ops GROUP [--limit N]        the governance ops log, oldest first
`;

export interface GroupCommandOptions {
  keyFromPeers?: boolean;
  limit: string;
  json: boolean;
  timeoutMs: number;
  write: (text: string) => void;
}

const ROLE_NAMES: Record<string, admin.MemberRole> = {
  member: admin.MemberRole.MEMBER_ROLE_MEMBER,
  admin: admin.MemberRole.MEMBER_ROLE_ADMIN,
  read_only: admin.MemberRole.MEMBER_ROLE_READ_ONLY,
  'read-only': admin.MemberRole.MEMBER_ROLE_READ_ONLY,
};

function roleArg(text: string | undefined, fallback?: admin.MemberRole): admin.MemberRole {
  if (text === undefined && fallback !== undefined) return fallback;
  const role = ROLE_NAMES[text ?? ''];
  if (role === undefined) throw new UsageError(`role must be member, admin or read_only, not "${text ?? ''}"`);
  return role;
}

const roleName = (role: admin.MemberRole): string =>
  admin.memberRoleToJSON(role).replace('MEMBER_ROLE_', '').toLowerCase();

function formatMembers(members: admin.GroupMemberInfo[]): string {
  if (members.length === 0) return 'no members\n';
  return members
    .map((m) => `${m.member}  ${roleName(m.role)}${m.liveAgrees ? '' : '  (live view differs)'}\n`)
    .join('');
}

function formatSummary(g: admin.GroupSummary): string {
  return [
    `group     ${g.groupId}`,
    `members   ${g.memberCount} (ours: ${g.ownMembers.map((m) => `${m.member} ${roleName(m.role)}`).join(', ')})`,
    `contexts  ${g.contexts.join(' ')}`,
    '',
  ].join('\n');
}

/** `cnode group …`: the GroupService from the command line. */
export async function runGroupCommand(endpoint: Endpoint, args: string[], opts: GroupCommandOptions): Promise<number> {
  const out = printer(opts.json, opts.write);
  const opsDone = (res: { opIds: string[] }): void => out(res, res.opIds.map((id) => `op ${id}\n`).join(''));
  const [sub, ...rest] = args;
  return withAdminApi(endpoint, opts.timeoutMs, async (api) => {
    switch (sub) {
      case 'create': {
        const res = await api.createGroup();
        out(res, `group     ${res.groupId}\nmember    ${res.member}\n`);
        return 0;
      }
      case 'list': {
        const res = await api.listGroups();
        out(res, res.groups.length === 0 ? 'no groups\n' : res.groups.map(formatSummary).join('\n'), (v) =>
          admin.ListGroupsResponse.toJSON(v),
        );
        return 0;
      }
      case 'get': {
        const [id] = need(rest, 1, 'group get GROUP');
        const res = await api.getGroup(id!);
        out(
          res,
          formatSummary(res.group!) +
            [
              `heads     ${res.heads.join(' ')}`,
              `key       ${res.currentKeyId || '(no rotation yet)'}${res.holdsCurrentKey ? '' : ' (not held here)'}`,
              `ops       ${res.appliedOps} applied, ${res.pendingOps} waiting for parents`,
              '',
            ].join('\n'),
          (v) => admin.GetGroupResponse.toJSON(v),
        );
        return 0;
      }
      case 'members': {
        const [id] = need(rest, 1, 'group members GROUP');
        const res = await api.listMembers(id!);
        out(res, formatMembers(res.members), (v) => admin.ListMembersResponse.toJSON(v));
        return 0;
      }
      case 'add': {
        const [id, member, role] = need(rest, 2, 'group add GROUP PUBLIC_KEY [ROLE]');
        opsDone(
          await api.addMember(id!, member!, roleArg(role, admin.MemberRole.MEMBER_ROLE_MEMBER), opts.keyFromPeers),
        );
        return 0;
      }
      case 'remove': {
        const [id, member] = need(rest, 2, 'group remove GROUP PUBLIC_KEY');
        opsDone(await api.removeMember(id!, member!));
        return 0;
      }
      case 'set-role': {
        const [id, member, role] = need(rest, 3, 'group set-role GROUP PUBLIC_KEY ROLE');
        opsDone(await api.setMemberRole(id!, member!, roleArg(role)));
        return 0;
      }
      case 'rotate-key': {
        const [id] = need(rest, 1, 'group rotate-key GROUP');
        opsDone(await api.rotateKey(id!));
        return 0;
      }
      case 'unregister': {
        const [id, context] = need(rest, 2, 'group unregister GROUP CONTEXT');
        opsDone(await api.unregisterContext(id!, context!));
        return 0;
      }
      case 'ops': {
        const [id] = need(rest, 1, 'group ops GROUP');
        const limit = Number(opts.limit || '0');
        if (!Number.isInteger(limit) || limit < 0) throw new UsageError('--limit must be a non-negative integer');
        const res = await api.listOps(id!, limit);
        out(
          res,
          res.ops
            .map(
              (op) =>
                `${op.generation.toString().padStart(4)} ${op.opId.slice(0, 16)} ${op.kind.padEnd(18)} ${op.subject}` +
                `${op.role ? ` ${roleName(op.role as number as admin.MemberRole)}` : ''} by ${op.signer}\n`,
            )
            .join('') || 'no ops\n',
          (v) => admin.ListOpsResponse.toJSON(v),
        );
        return 0;
      }
      default:
        throw new UsageError(`unknown group command "${sub ?? ''}"\n${GROUP_USAGE}`);
    }
  });
}
