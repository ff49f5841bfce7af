import type { admin } from '@cnode/proto';
import type { ContextDeps } from '../contexts/context-deps.js';
import { createGroup } from './group/create-group.js';
import { getGroup, listGroups, listMembers } from './group/describe-group.js';
import { listOps } from './group/list-ops.js';
import { addMember, removeMember, rotateKey, setMemberRole, unregisterContext } from './group/membership-ops.js';
import { unary } from './unary.js';

/** GroupService: each method's implementation lives under ./group. */
export function groupService(deps: ContextDeps): admin.GroupServiceServer {
  return {
    createGroup: unary('CreateGroup', deps, () => createGroup(deps)),
    listGroups: unary('ListGroups', deps, () => listGroups(deps)),
    getGroup: unary('GetGroup', deps, (req: admin.GetGroupRequest) => getGroup(deps, req)),
    listMembers: unary('ListMembers', deps, (req: admin.ListMembersRequest) => listMembers(deps, req)),
    addMember: unary('AddMember', deps, (req: admin.AddMemberRequest) => addMember(deps, req)),
    removeMember: unary('RemoveMember', deps, (req: admin.RemoveMemberRequest) => removeMember(deps, req)),
    setMemberRole: unary('SetMemberRole', deps, (req: admin.SetMemberRoleRequest) => setMemberRole(deps, req)),
    rotateKey: unary('RotateKey', deps, (req: admin.RotateKeyRequest) => rotateKey(deps, req)),
    unregisterContext: unary('UnregisterContext', deps, (req: admin.UnregisterContextRequest) =>
      unregisterContext(deps, req),
    ),
    listOps: unary('ListOps', deps, (req: admin.ListOpsRequest) => listOps(deps, req)),
  };
}
