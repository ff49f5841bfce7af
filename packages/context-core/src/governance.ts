import type { JetStreamClient } from '@nats-io/jetstream';
import { publishToStream, type BusMetrics, type Catalog } from '@cnode/bus';
import { keyIdOf, openKeyEnvelope, verifyGroupOp, type VerifiedGroupOp } from '@cnode/primitives';
import { bus, type wire } from '@cnode/proto';
import { errorMessage, isCodedError, type Logger } from '@cnode/runtime';
import { GroupOpOutcome, type GroupStore, type IdentityRepo } from '@cnode/store';

export interface GovernanceDeps {
  groups: GroupStore;
  identities: IdentityRepo;
  logger: Logger;
  /**
   * Told of every batch of ops applied here, per group (after their keys are kept): the service
   * asks for a governance-pending drain of the group's contexts and re-evaluates what depends on
   * membership. Failures are the hook's to log; they never undo the ops.
   */
  onApplied?: (groupId: Buffer, applied: readonly VerifiedGroupOp[]) => Promise<void>;
  /** Counts unified_projection_divergence reports by plane. */
  divergences?: { inc(labels: { plane: string }): void };
}

export type IngestOutcome = GroupOpOutcome | 'invalid';

export interface IngestResult {
  /** Count per GroupOpOutcome, plus `invalid` for ops that failed verification. */
  outcomes: Record<IngestOutcome, number>;
  /** Ops applied (including pending ops they unblocked), in causal order. */
  applied: VerifiedGroupOp[];
}

/** An outcome count with every outcome at zero. */
export function emptyIngestOutcomes(): Record<IngestOutcome, number> {
  return {
    [GroupOpOutcome.Applied]: 0,
    [GroupOpOutcome.Pending]: 0,
    [GroupOpOutcome.Duplicate]: 0,
    [GroupOpOutcome.Unauthorized]: 0,
    [GroupOpOutcome.ReplayedNonce]: 0,
    invalid: 0,
  };
}

/**
 * Adds governance ops (from gossip, an invitation, an admin call or a peer) to the group store, and
 * keeps every group key a valid op seals to one of this node's identities (AddMember, RotateKey).
 * Bad ops are counted, never thrown: one forged op must not stop the good ones beside it.
 */
export async function ingestGroupOps(
  deps: GovernanceDeps,
  ops: readonly wire.SignedGroupOpV1[],
): Promise<IngestResult> {
  const outcomes = emptyIngestOutcomes();
  const applied: VerifiedGroupOp[] = [];
  for (const op of ops) {
    let verified: VerifiedGroupOp;
    try {
      verified = verifyGroupOp(op);
    } catch (err) {
      if (!isCodedError(err) || !err.code.startsWith('CORE_')) throw err;
      outcomes.invalid++;
      deps.logger.warn({ code: err.code, err: errorMessage(err) }, 'Refused an invalid group op');
      continue;
    }
    // Keys first: the moment a RotateKey is applied, writers here seal with the key it names, so
    // that key must already be stored. Holding a key grants nothing; the projection picks the key.
    await keepOwnGroupKeys(deps, verified);
    const result = await deps.groups.add(verified);
    outcomes[result.outcome]++;
    applied.push(...result.applied);
  }
  if (applied.length > 0 && deps.onApplied) {
    const byGroup = new Map<string, VerifiedGroupOp[]>();
    for (const op of applied) {
      const key = op.groupId.toString('hex');
      byGroup.set(key, [...(byGroup.get(key) ?? []), op]);
    }
    for (const group of byGroup.values()) await deps.onApplied(group[0]!.groupId, group);
  }
  return { outcomes, applied };
}

/** The key envelopes an op carries: AddMember's one, RotateKey's one per member. */
function envelopesOf(op: VerifiedGroupOp): wire.KeyEnvelope[] {
  const kind = op.op.kind;
  if (kind?.$case === 'addMember') return kind.addMember.keyEnvelope ? [kind.addMember.keyEnvelope] : [];
  if (kind?.$case === 'rotateKey') return kind.rotateKey.envelopes;
  return [];
}

async function keepOwnGroupKeys(deps: GovernanceDeps, op: VerifiedGroupOp): Promise<void> {
  for (const envelope of envelopesOf(op)) {
    const me = await deps.identities.find(Buffer.from(envelope.recipient));
    if (!me) continue;
    try {
      const key = openKeyEnvelope(envelope, me.privateKey, me.publicKey);
      const kind = op.op.kind;
      if (kind?.$case === 'rotateKey' && !keyIdOf(key).equals(Buffer.from(kind.rotateKey.keyId))) {
        deps.logger.warn({ group: op.groupId.toString('hex') }, 'A rotated key does not match the key id its op names');
        continue;
      }
      await deps.groups.putKey(op.groupId, keyIdOf(key), key);
    } catch (err) {
      deps.logger.warn({ err: errorMessage(err) }, 'A key envelope addressed to us does not open');
    }
  }
}

/** The drain-trigger label of governance_drain_outcome_total. */
export function drainTriggerLabel(trigger: bus.DrainTrigger): string {
  return bus.drainTriggerToJSON(trigger).replace('DRAIN_TRIGGER_', '').toLowerCase();
}

/**
 * Asks state-delta to drain the governance-pending deltas of a group's contexts (or one context).
 * A hint: a lost request is made up by the next delta receipt or interval sync.
 */
export async function requestGovernanceDrain(
  deps: { js: JetStreamClient; metrics: BusMetrics; catalog: Catalog },
  request: { groupId: Buffer; contextId?: Buffer; trigger: bus.DrainTrigger },
): Promise<void> {
  const message: bus.GovernanceDrainRequest = {
    groupId: request.groupId,
    contextId: request.contextId ?? Buffer.alloc(0),
    trigger: request.trigger,
    requestedAtMs: BigInt(Date.now()),
  };
  await publishToStream(
    { js: deps.js, metrics: deps.metrics },
    deps.catalog.streams.governance,
    deps.catalog.subjects.governanceDrainFor(request.groupId.toString('hex')),
    bus.GovernanceDrainRequest.encode(message).finish(),
  );
}
