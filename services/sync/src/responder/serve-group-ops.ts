import { MAX_GROUP_OP_PARENTS } from '@cnode/primitives';
import type { wire } from '@cnode/proto';
import { MAX_GROUP_OPS_SERVED } from '@cnode/store';
import type { ResponderDeps } from './deps.js';

/**
 * Answers a GroupOpsRequest with the group's applied ops, parents first, leaving out the ancestry
 * of the heads the requester says it holds (at most 32 are looked at; unknown ones are ignored).
 */
export async function serveGroupOps(
  deps: ResponderDeps,
  groupId: Buffer,
  request: wire.GroupOpsRequest,
): Promise<wire.SyncStreamMessage> {
  const known = request.knownHeads
    .slice(0, MAX_GROUP_OP_PARENTS)
    .filter((h) => h.length === 32)
    .map((h) => Buffer.from(h));
  const ops = await deps.groups.appliedOps(groupId, MAX_GROUP_OPS_SERVED + 1, known);
  return {
    payload: {
      $case: 'groupOpsResponse',
      groupOpsResponse: { ops: ops.slice(0, MAX_GROUP_OPS_SERVED), truncated: ops.length > MAX_GROUP_OPS_SERVED },
    },
  };
}
