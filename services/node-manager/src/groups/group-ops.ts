import { randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { groupTopic, ingestGroupOps } from '@cnode/context-core';
import {
  MAX_GROUP_OP_PARENTS,
  generateSymmetricKey,
  groupIdOf,
  sealKeyEnvelope,
  sha256,
  signGroupOp,
  verifyGroupOp,
  type Identity,
} from '@cnode/primitives';
import { wire } from '@cnode/proto';
import { errorMessage } from '@cnode/runtime';
import { GroupOpOutcome } from '@cnode/store';
import type { ContextDeps } from '../contexts/context-deps.js';
import { requireWritableNode } from '../contexts/context-access.js';
import { AdminCallError, AdminErrorCode } from '../grpc/admin-errors.js';

/** A fresh 64-bit nonce for a group op (unique per signer: a reused nonce is refused as a replay). */
export const opNonce = (): bigint => randomBytes(8).readBigUInt64BE();

/** What each op kind tells peers through GroupMutationNotification. */
const MUTATION_OF: Record<NonNullable<wire.GroupOp['kind']>['$case'], wire.GroupMutationKind> = {
  addMember: wire.GroupMutationKind.GROUP_MUTATION_KIND_MEMBER_ADDED,
  removeMember: wire.GroupMutationKind.GROUP_MUTATION_KIND_MEMBER_REMOVED,
  setRole: wire.GroupMutationKind.GROUP_MUTATION_KIND_ROLE_CHANGED,
  setCapability: wire.GroupMutationKind.GROUP_MUTATION_KIND_ROLE_CHANGED,
  registerContext: wire.GroupMutationKind.GROUP_MUTATION_KIND_CONTEXT_REGISTERED,
  unregisterContext: wire.GroupMutationKind.GROUP_MUTATION_KIND_CONTEXT_UNREGISTERED,
  rotateKey: wire.GroupMutationKind.GROUP_MUTATION_KIND_KEY_ROTATED,
};

/** The member, context or key an op is about. */
export function subjectOf(op: wire.GroupOp): Buffer {
  const kind = op.kind!;
  switch (kind.$case) {
    case 'addMember':
      return Buffer.from(kind.addMember.member);
    case 'removeMember':
      return Buffer.from(kind.removeMember.member);
    case 'setRole':
      return Buffer.from(kind.setRole.member);
    case 'setCapability':
      return Buffer.from(kind.setCapability.member);
    case 'registerContext':
      return Buffer.from(kind.registerContext.contextId);
    case 'unregisterContext':
      return Buffer.from(kind.unregisterContext.contextId);
    case 'rotateKey':
      return Buffer.from(kind.rotateKey.keyId);
  }
}

/**
 * The genesis of a new group: `admin` adds itself as admin with a fresh group key sealed to it. The
 * group id binds to the admin and the nonce, so nobody can forge another genesis for it.
 */
export function signGenesis(admin: Identity): { groupId: Buffer; genesis: wire.SignedGroupOpV1 } {
  const nonce = opNonce();
  const groupId = groupIdOf(admin.publicKey, nonce);
  const genesis = signGroupOp({
    groupId,
    parents: [],
    signer: admin,
    nonce,
    op: {
      kind: {
        $case: 'addMember',
        addMember: {
          member: admin.publicKey,
          role: wire.GroupRole.GROUP_ROLE_ADMIN,
          keyEnvelope: sealKeyEnvelope(generateSymmetricKey(), admin.publicKey),
        },
      },
    },
  });
  return { groupId, genesis };
}

/**
 * Signs a chain of ops by one of our admins: the first on our current governance heads, each next
 * on the one before (a removal and its key rotation travel as one causal chain).
 */
export async function signOpChain(
  deps: ContextDeps,
  groupId: Buffer,
  signer: Identity,
  ops: readonly wire.GroupOp[],
): Promise<wire.SignedGroupOpV1[]> {
  requireWritableNode(deps, 'signing a governance op');
  let parents = (await deps.groups.heads(groupId)).slice(0, MAX_GROUP_OP_PARENTS);
  const signed: wire.SignedGroupOpV1[] = [];
  for (const op of ops) {
    const next = signGroupOp({ groupId, parents, signer, nonce: opNonce(), op });
    signed.push(next);
    parents = [verifyGroupOp(next).opId];
  }
  return signed;
}

/**
 * Applies our own ops here (they must apply: we signed them on our heads) and publishes them on the
 * group topic — one op as a SignedGroupOpV1, several as one GroupGovernanceDelta — followed by a
 * GroupMutationNotification per op, so peers re-evaluate subscriptions. A failed publish is counted
 * and logged: peers learn the ops on their next governance catch-up (heartbeats show our heads).
 * Returns the op ids (hex).
 */
export async function commitAndPublish(
  deps: ContextDeps,
  groupId: Buffer,
  ops: readonly wire.SignedGroupOpV1[],
): Promise<string[]> {
  const ingest = await ingestGroupOps(deps, ops);
  if (ingest.outcomes[GroupOpOutcome.Applied] !== ops.length) {
    throw new AdminCallError(
      status.ABORTED,
      AdminErrorCode.GovernanceConflict,
      `the group changed under the call (${JSON.stringify(ingest.outcomes)}); try again`,
    );
  }
  const topic = groupTopic(groupId);
  const publish = async (message: wire.BroadcastMessage, kind: string): Promise<void> => {
    await deps.network.publish(topic, wire.BroadcastMessage.encode(message).finish()).catch((err: unknown) => {
      deps.metrics.gossipPublishFailures.inc({ kind });
      deps.logger.warn({ group: groupId.toString('hex'), kind, err: errorMessage(err) }, 'Group gossip not published');
    });
  };
  if (ops.length === 1) {
    await publish({ payload: { $case: 'signedGroupOp', signedGroupOp: ops[0]! } }, 'group_op');
  } else {
    const payload = Buffer.from(wire.GroupOpBatch.encode({ ops: [...ops] }).finish());
    const groupGovernanceDelta: wire.GroupGovernanceDelta = {
      groupId,
      deltaId: sha256(payload),
      parentIds: ops[0]!.parents,
      payload,
    };
    await publish({ payload: { $case: 'groupGovernanceDelta', groupGovernanceDelta } }, 'group_governance_delta');
  }
  const ids: string[] = [];
  for (const op of ops) {
    const opId = verifyGroupOp(op).opId;
    ids.push(opId.toString('hex'));
    const groupMutationNotification: wire.GroupMutationNotification = {
      groupId,
      kind: MUTATION_OF[op.op!.kind!.$case],
      subject: subjectOf(op.op!),
      opId,
    };
    await publish({ payload: { $case: 'groupMutationNotification', groupMutationNotification } }, 'group_mutation');
  }
  return ids;
}
