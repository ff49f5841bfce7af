import { keyIdOf, openKeyEnvelope, type VerifiedGroupOp } from '@cnode/primitives';
import type { wire } from '@cnode/proto';
import { errorMessage, isCodedError, type Logger } from '@cnode/runtime';
import { GroupOpOutcome, type GroupStore, type IdentityRepo } from '@cnode/store';

export interface GovernanceDeps {
  groups: GroupStore;
  identities: IdentityRepo;
  logger: Logger;
}

export interface IngestResult {
  /** Count per GroupOpOutcome, plus `invalid` for ops that failed verification. */
  outcomes: Record<GroupOpOutcome | 'invalid', number>;
  /** Ops applied (including pending ops they unblocked), in causal order. */
  applied: VerifiedGroupOp[];
}

/**
 * Adds governance ops (from gossip, an invitation or a peer) to the group store, and keeps the group
 * key of every applied AddMember addressed to one of this node's identities. Bad ops are counted,
 * never thrown: one forged op must not stop the good ones beside it.
 */
export async function ingestGroupOps(
  deps: GovernanceDeps,
  ops: readonly wire.SignedGroupOpV1[],
): Promise<IngestResult> {
  const outcomes: IngestResult['outcomes'] = {
    [GroupOpOutcome.Applied]: 0,
    [GroupOpOutcome.Pending]: 0,
    [GroupOpOutcome.Duplicate]: 0,
    [GroupOpOutcome.Unauthorized]: 0,
    invalid: 0,
  };
  const applied: VerifiedGroupOp[] = [];
  for (const op of ops) {
    try {
      const result = await deps.groups.addSigned(op);
      outcomes[result.outcome]++;
      applied.push(...result.applied);
    } catch (err) {
      if (!isCodedError(err) || !err.code.startsWith('CORE_')) throw err;
      outcomes.invalid++;
      deps.logger.warn({ code: err.code, err: errorMessage(err) }, 'Refused an invalid group op');
    }
  }
  for (const op of applied) await keepOwnGroupKey(deps, op);
  return { outcomes, applied };
}

async function keepOwnGroupKey(deps: GovernanceDeps, op: VerifiedGroupOp): Promise<void> {
  const kind = op.op.kind;
  if (kind?.$case !== 'addMember' || !kind.addMember.keyEnvelope) return;
  const envelope = kind.addMember.keyEnvelope;
  const me = await deps.identities.find(Buffer.from(envelope.recipient));
  if (!me) return;
  try {
    const key = openKeyEnvelope(envelope, me.privateKey, me.publicKey);
    await deps.groups.putKey(op.groupId, keyIdOf(key), key);
  } catch (err) {
    deps.logger.warn({ err: errorMessage(err) }, 'A key envelope addressed to us does not open');
  }
}
