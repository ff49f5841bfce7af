import { commitInit, runInit } from '../../contexts/app-init.js';
import { status } from '@grpc/grpc-js';
import { ingestGroupOps } from '@cnode/context-core';
import { KV_APPLICATION_ID, KV_APPLICATION_NAME } from '@cnode/kv-app';
import { generateIdentity, signGroupOp, toBase58, verifyGroupOp } from '@cnode/primitives';
import type { admin } from '@cnode/proto';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { requireWritableNode } from '../../contexts/context-access.js';
import { AdminCallError, AdminErrorCode, idArg } from '../admin-errors.js';
import { commitAndPublish, opNonce, signGenesis, signOpChain } from '../../groups/group-ops.js';
import { groupAdmin } from '../../groups/group-access.js';
import { resolveIdArg } from '../alias-args.js';

/**
 * The application a request names: empty or "kv" is the built-in kv application; anything else is
 * an installed application's base58 id or alias, at the version installed last (the version a new
 * context is registered with and runs until an admin moves it to another).
 */
export async function applicationOf(deps: ContextDeps, name: string): Promise<{ id: Buffer; version: string }> {
  if (name === '' || name === KV_APPLICATION_NAME) return { id: KV_APPLICATION_ID, version: '' };
  const id = await resolveIdArg(deps.hot, 'application', name, 'application').catch(() => undefined);
  const record = id && (await deps.applications.get(id));
  if (record) return { id: record.id, version: record.version };
  throw new AdminCallError(
    status.NOT_FOUND,
    AdminErrorCode.ApplicationUnknown,
    `application "${name}" is not installed (install it, or use the built-in "${KV_APPLICATION_NAME}")`,
  );
}

/**
 * ContextService.CreateContext: a context id (the public key of a fresh key pair), a group whose
 * genesis op makes a fresh identity of ours its admin (with the group key sealed to it), and a
 * RegisterContext op; then the context row, our identity in it, and the topic subscriptions. With
 * `group_id`, the context joins that existing group instead (createContextInGroup).
 */
export async function createContext(
  deps: ContextDeps,
  req: admin.CreateContextRequest,
): Promise<admin.CreateContextResponse> {
  requireWritableNode(deps, 'creating a context');
  const application = await applicationOf(deps, req.application);
  const applicationId = application.id;
  const applicationVersion = application.version;
  if (req.groupId) {
    return createContextInGroup(deps, idArg(req.groupId, 'group_id'), application, req.initParams);
  }
  const member = generateIdentity();
  const contextId = generateIdentity().publicKey;
  const init = await runInit(deps, applicationId, contextId, member, req.initParams);
  await deps.identities.create(member);
  const { groupId, genesis } = signGenesis(member);
  const register = signGroupOp({
    groupId,
    parents: [verifyGroupOp(genesis).opId],
    signer: member,
    nonce: opNonce(),
    op: { kind: { $case: 'registerContext', registerContext: { contextId, applicationId, applicationVersion } } },
  });
  await ingestGroupOps(deps, [genesis, register]);

  await deps.states.createContext(contextId, { applicationId, applicationVersion, groupId });
  await deps.identities.addOwned(contextId, member);
  deps.hot.invalidate('context', contextId);
  await deps.subscriptions.join(contextId, groupId);
  if (init) await commitInit(deps, { id: contextId, groupId }, member, init);
  deps.logger.info({ context: toBase58(contextId), group: groupId.toString('hex') }, 'Created context');
  return { contextId: toBase58(contextId), groupId: toBase58(groupId), member: toBase58(member.publicKey) };
}

/**
 * A context in an existing group of ours: a RegisterContext op signed by our admin identity of the
 * group, published with a GroupMutationNotification (the group's members join the context's topic
 * and sync it); then the context row with that identity, and the subscriptions.
 */
async function createContextInGroup(
  deps: ContextDeps,
  groupId: Buffer,
  application: { id: Buffer; version: string },
  initParams: Uint8Array,
): Promise<admin.CreateContextResponse> {
  const { id: applicationId, version: applicationVersion } = application;
  const admin = await groupAdmin(deps, groupId);
  const contextId = generateIdentity().publicKey;
  const init = await runInit(deps, applicationId, contextId, admin, initParams);
  const ops = await signOpChain(deps, groupId, admin, [
    { kind: { $case: 'registerContext', registerContext: { contextId, applicationId, applicationVersion } } },
  ]);
  await commitAndPublish(deps, groupId, ops);
  await deps.states.createContext(contextId, { applicationId, applicationVersion, groupId });
  await deps.identities.addOwned(contextId, admin);
  deps.hot.invalidate('context', contextId);
  await deps.subscriptions.join(contextId, groupId);
  if (init) await commitInit(deps, { id: contextId, groupId }, admin, init);
  deps.logger.info({ context: toBase58(contextId), group: groupId.toString('hex') }, 'Created context in a group');
  return { contextId: toBase58(contextId), groupId: toBase58(groupId), member: toBase58(admin.publicKey) };
}
