import { status } from '@grpc/grpc-js';
import { ingestGroupOps } from '@cnode/context-core';
import { ID_BYTES, toBase58, type Identity } from '@cnode/primitives';
import { bus, wire, type admin } from '@cnode/proto';
import { errorMessage } from '@cnode/runtime';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { queueSync } from '../../contexts/queue-sync.js';
import { AdminCallError, AdminErrorCode, badArgument } from '../admin-errors.js';

/** An invitation is a few KiB per member; anything near this is not one. */
const MAX_INVITATION_BYTES = 4 * 1024 * 1024;

const badInvitation = (message: string): AdminCallError =>
  new AdminCallError(status.INVALID_ARGUMENT, AdminErrorCode.BadInvitation, message);

function decodeInvitation(req: admin.JoinContextRequest): wire.Invitation {
  const bytes =
    req.invitation.length > 0 ? Buffer.from(req.invitation) : Buffer.from(req.invitationText.trim(), 'base64url');
  if (bytes.length === 0) throw badArgument('invitation or invitation_text is required');
  if (bytes.length > MAX_INVITATION_BYTES) throw badInvitation('invitation is too large');
  let invitation: wire.Invitation;
  try {
    invitation = wire.Invitation.decode(bytes);
  } catch {
    throw badInvitation('invitation does not decode');
  }
  if (invitation.contextId.length !== ID_BYTES || invitation.groupId.length !== ID_BYTES) {
    throw badInvitation('invitation carries malformed ids');
  }
  return invitation;
}

/** Our identity an AddMember op of the invitation is addressed to. */
async function invitedIdentity(deps: ContextDeps, invitation: wire.Invitation): Promise<Identity> {
  for (const op of invitation.groupOps) {
    const kind = op.op?.kind;
    if (kind?.$case !== 'addMember') continue;
    const me = await deps.identities.find(Buffer.from(kind.addMember.member));
    if (me) return me;
  }
  throw new AdminCallError(
    status.FAILED_PRECONDITION,
    AdminErrorCode.IdentityUnknown,
    'the invitation is not addressed to any identity of this node (create one with CreateIdentity and get invited with it)',
  );
}

/**
 * ContextService.JoinContext: verifies and applies the invitation's governance ops (which must make
 * our identity a member, and may hand us the group key), creates the context, subscribes, and dials
 * the inviter so gossip and history flow. Without a key in the invitation, the first sync obtains it
 * from a member peer (key share) before anything that needs it.
 */
export async function joinContext(
  deps: ContextDeps,
  req: admin.JoinContextRequest,
): Promise<admin.JoinContextResponse> {
  const invitation = decodeInvitation(req);
  const contextId = Buffer.from(invitation.contextId);
  const groupId = Buffer.from(invitation.groupId);
  if (await deps.states.context(contextId)) {
    throw new AdminCallError(
      status.ALREADY_EXISTS,
      AdminErrorCode.AlreadyJoined,
      `context ${toBase58(contextId)} is already hosted here`,
    );
  }
  const me = await invitedIdentity(deps, invitation);
  // Not reconciled: the invitation's registrations of other contexts of the group are not joins.
  const ingest = await ingestGroupOps({ ...deps, onApplied: undefined }, invitation.groupOps);
  if (!(await deps.groups.isMember(groupId, me.publicKey))) {
    throw badInvitation(`the invitation's group ops do not make us a member (${JSON.stringify(ingest.outcomes)})`);
  }
  const withKey = Boolean(await deps.groups.currentKey(groupId));

  // No state yet: deltas are buffered until the first sync brings a snapshot (or finds the context empty).
  // The application and version the group's newest registration of the context names.
  const registered = await deps.groups.registeredApplication(groupId, contextId);
  await deps.states.createContext(contextId, {
    applicationId:
      registered?.applicationId ??
      (invitation.applicationId.length === ID_BYTES ? Buffer.from(invitation.applicationId) : undefined),
    ...(registered?.version ? { applicationVersion: registered.version } : {}),
    groupId,
    initialized: false,
  });
  await deps.identities.addOwned(contextId, me);
  deps.hot.invalidate('context', contextId);
  await deps.subscriptions.join(contextId, groupId);
  await deps.states.queueNodeEvent(contextId, {
    $case: 'contextJoined',
    contextJoined: { member: toBase58(me.publicKey) },
  });
  deps.outbox.kick();
  for (const addr of invitation.bootstrapAddrs.slice(0, 16)) {
    deps.network.dial(addr).catch((err: unknown) => deps.logger.debug({ addr, err: errorMessage(err) }, 'Dial failed'));
  }
  await queueSync(deps, { contextId, reason: bus.SyncReason.SYNC_REASON_JOIN, forced: true }, toBase58(me.publicKey));
  deps.logger.info(
    { context: toBase58(contextId), member: toBase58(me.publicKey), groupKey: withKey ? 'invitation' : 'from_peers' },
    'Joined context',
  );
  return { contextId: toBase58(contextId), member: toBase58(me.publicKey) };
}
