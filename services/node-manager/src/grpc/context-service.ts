import type { admin } from '@cnode/proto';
import type { ContextDeps } from '../contexts/context-deps.js';
import { createContext } from './context/create-context.js';
import { createIdentity } from './context/create-identity.js';
import { execute } from './context/execute.js';
import { executeBatch } from './context/execute-batch.js';
import { inviteMember } from './context/invite-member.js';
import { joinContext } from './context/join-context.js';
import { leaveContext } from './context/leave-context.js';
import { getContext, listContexts } from './context/list-contexts.js';
import { getSyncStatus } from './context/get-sync-status.js';
import { getContextConvergence } from './context/get-context-convergence.js';
import { getPeersCount } from './context/peers-count.js';
import { subscribeEvents } from './context/subscribe-events.js';
import { triggerSync } from './context/trigger-sync.js';
import { updateContextApplication } from './context/update-application.js';
import { serverStreaming, unary } from './unary.js';
import { inviteSpecializedNode, listSpecializedInvites } from '../specialized/specialized-invites.js';

/** ContextService: each method's implementation lives in its own module under ./context. */
export function contextService(deps: ContextDeps): admin.ContextServiceServer {
  return {
    createContext: unary('CreateContext', deps, (req: admin.CreateContextRequest) => createContext(deps, req)),
    listContexts: unary('ListContexts', deps, () => listContexts(deps)),
    getContext: unary('GetContext', deps, (req: admin.GetContextRequest) => getContext(deps, req)),
    leaveContext: unary('LeaveContext', deps, (req: admin.LeaveContextRequest) => leaveContext(deps, req)),
    createIdentity: unary('CreateIdentity', deps, () => createIdentity(deps)),
    inviteMember: unary('InviteMember', deps, (req: admin.InviteMemberRequest) => inviteMember(deps, req)),
    joinContext: unary('JoinContext', deps, (req: admin.JoinContextRequest) => joinContext(deps, req)),
    execute: unary('Execute', deps, (req: admin.ExecuteRequest) => execute(deps, req)),
    executeBatch: unary('ExecuteBatch', deps, (req: admin.ExecuteBatchRequest) => executeBatch(deps, req)),
    subscribeEvents: serverStreaming('SubscribeEvents', deps, (call) => subscribeEvents(deps, call)),
    getPeersCount: unary('GetPeersCount', deps, (req: admin.GetPeersCountRequest) => getPeersCount(deps, req)),
    triggerSync: unary('TriggerSync', deps, (req: admin.TriggerSyncRequest) => triggerSync(deps, req)),
    getSyncStatus: unary('GetSyncStatus', deps, (req: admin.GetSyncStatusRequest) => getSyncStatus(deps, req)),
    getContextConvergence: unary('GetContextConvergence', deps, (req: admin.GetContextConvergenceRequest) =>
      getContextConvergence(deps, req),
    ),
    inviteSpecializedNode: unary('InviteSpecializedNode', deps, (req: admin.InviteSpecializedNodeRequest) =>
      inviteSpecializedNode(deps, req),
    ),
    listSpecializedInvites: unary('ListSpecializedInvites', deps, () => listSpecializedInvites(deps)),
    updateContextApplication: unary('UpdateContextApplication', deps, (req: admin.UpdateContextApplicationRequest) =>
      updateContextApplication(deps, req),
    ),
  };
}
