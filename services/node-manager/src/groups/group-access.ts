import { status } from '@grpc/grpc-js';
import { toBase58, type Identity } from '@cnode/primitives';
import type { ContextDeps } from '../contexts/context-deps.js';
import { AdminCallError, AdminErrorCode, idArg } from '../grpc/admin-errors.js';

/** The group named by a request field: one we hold applied ops of, or NOT_FOUND. */
export async function requireGroup(deps: ContextDeps, groupIdText: string): Promise<Buffer> {
  const groupId = idArg(groupIdText, 'group_id');
  if ((await deps.groups.heads(groupId)).length === 0) {
    throw new AdminCallError(status.NOT_FOUND, AdminErrorCode.GroupUnknown, `group ${groupIdText} is not known here`);
  }
  return groupId;
}

/** One of our identities that is an admin of the group now, or PERMISSION_DENIED. */
export async function groupAdmin(deps: ContextDeps, groupId: Buffer): Promise<Identity> {
  const admin = await deps.identities.ownedInGroup(groupId, { admin: true });
  if (!admin) {
    throw new AdminCallError(
      status.PERMISSION_DENIED,
      AdminErrorCode.NotAdmin,
      `none of this node's identities is an admin of group ${toBase58(groupId)}`,
    );
  }
  return admin;
}
