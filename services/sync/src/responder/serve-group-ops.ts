import type { wire } from '@cnode/proto';
import { MAX_GROUP_OPS_SERVED } from '@cnode/store';
import type { ResponderDeps } from './deps.js';

/** Answers a GroupOpsRequest with the group's applied ops, parents first. */
export async function serveGroupOps(deps: ResponderDeps, groupId: Buffer): Promise<wire.SyncStreamMessage> {
  const ops = await deps.groups.appliedOps(groupId, MAX_GROUP_OPS_SERVED + 1);
  return {
    payload: {
      $case: 'groupOpsResponse',
      groupOpsResponse: { ops: ops.slice(0, MAX_GROUP_OPS_SERVED), truncated: ops.length > MAX_GROUP_OPS_SERVED },
    },
  };
}
