import { toBase58, type VerifiedGroupOp } from '@cnode/primitives';
import { bus } from '@cnode/proto';
import { errorMessage } from '@cnode/runtime';
import type { ContextDeps } from '../contexts/context-deps.js';
import { queueSync } from '../contexts/queue-sync.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * Re-evaluates what this node does for a group after its governance changed (upstream's reaction to
 * GroupMutationNotification): with no identity of ours a member any more (removed), leave the topics
 * of the group and of its contexts; otherwise leave the topics of contexts unregistered from the
 * group, and join those of contexts `applied` newly registers (hosting them uninitialised and
 * syncing them, with our member identity) unless one of our identities registered it (we created
 * it) or it was unregistered since. Only new registrations join: a context left on purpose
 * (LeaveContext is local) is not re-joined at the next restart. Idempotent.
 */
export async function reconcileGroup(
  deps: ContextDeps,
  groupId: Buffer,
  applied: readonly VerifiedGroupOp[] = [],
): Promise<void> {
  const hosted = (await deps.states.listContexts()).filter((c) => c.groupId?.equals(groupId));
  const me = await deps.identities.ownedInGroup(groupId);
  if (!me) {
    if (hosted.length === 0) return;
    for (const ctx of hosted) await deps.subscriptions.leave(ctx.id);
    await deps.subscriptions.leaveGroup(groupId);
    deps.metrics.groupReconciles.inc({ action: 'left_removed' });
    deps.logger.warn(
      { group: hex(groupId), contexts: hosted.map((c) => toBase58(c.id)) },
      'No identity of ours is a member of the group any more: left its topics',
    );
    return;
  }
  const cut = await deps.groups.currentProjection(groupId);
  if (!cut) return;
  const hostedIds = new Set(hosted.map((c) => hex(c.id)));
  for (const ctx of hosted) {
    if (cut.unregistered.has(hex(ctx.id))) {
      await deps.subscriptions.leave(ctx.id);
      deps.metrics.groupReconciles.inc({ action: 'left_unregistered' });
      deps.logger.info(
        { group: hex(groupId), context: toBase58(ctx.id) },
        'Context unregistered from its group: left its topic',
      );
    }
  }
  for (const op of applied) {
    const kind = op.op.kind;
    if (kind?.$case !== 'registerContext') continue;
    const contextHex = hex(kind.registerContext.contextId);
    if (hostedIds.has(contextHex) || !cut.contexts.has(contextHex)) continue;
    if (await deps.identities.find(op.signer)) continue;
    const contextId = Buffer.from(contextHex, 'hex');
    try {
      const registered = await deps.groups.registeredApplication(groupId, contextId);
      await deps.states.createContext(contextId, {
        ...(registered ? { applicationId: registered.applicationId } : {}),
        ...(registered?.version ? { applicationVersion: registered.version } : {}),
        groupId,
        initialized: false,
      });
      await deps.identities.addOwned(contextId, me);
      deps.hot.invalidate('context', contextId);
      await deps.subscriptions.join(contextId, groupId);
      await queueSync(
        deps,
        { contextId, reason: bus.SyncReason.SYNC_REASON_JOIN, forced: true },
        toBase58(me.publicKey),
      );
      deps.metrics.groupReconciles.inc({ action: 'joined_registered' });
      deps.logger.info(
        { group: hex(groupId), context: toBase58(contextId), member: toBase58(me.publicKey) },
        'Joined a context registered in our group',
      );
    } catch (err) {
      deps.metrics.groupReconciles.inc({ action: 'failed' });
      deps.logger.warn({ context: toBase58(contextId), err: errorMessage(err) }, 'Could not join a registered context');
    }
  }
}

/**
 * Every group this node holds governance of, at start: catches up on what changed while it was
 * down, and keeps the topic of every group we are a member of (a group without contexts here has
 * no context to bring its topic back).
 */
export async function reconcileAllGroups(deps: ContextDeps): Promise<void> {
  for (const groupId of await deps.groups.groupIds()) {
    if (await deps.identities.ownedInGroup(groupId)) await deps.subscriptions.joinGroup(groupId);
    await reconcileGroup(deps, groupId);
  }
}
