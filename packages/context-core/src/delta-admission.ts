import { openVerifiedDelta, PrimitiveErrorCode, toBase58, verifyDelta, type VerifiedDelta } from '@cnode/primitives';
import type { wire } from '@cnode/proto';
import { isCodedError, type Logger } from '@cnode/runtime';
import { DeltaOutcome, type AddDeltaResult, type GroupStore, type StateStore } from '@cnode/store';
import type { NodeEventOutbox } from './event-outbox.js';

/** What became of one received delta: label values of the delta outcome metrics. */
export enum DeltaOutcomeLabel {
  Applied = 'applied',
  /** Stored until its parents arrive. */
  Pending = 'pending',
  Duplicate = 'duplicate',
  /** Our own delta came back through gossip. */
  OwnEcho = 'own_echo',
  /** Held durably while the context has no state yet (a snapshot is due). */
  Buffered = 'buffered',
  UnknownContext = 'unknown_context',
  NotMember = 'not_member',
  /** A read-only member at the cited cut: it may not write. */
  ReadOnly = 'read_only',
  /** The delta cites no governance heads: nobody is a member "before any op". */
  NoGovernancePosition = 'no_governance_position',
  /** Parked: the governance cut it cites is not known here yet (drained when it is). */
  GovernancePending = 'governance_pending',
  Malformed = 'malformed',
  BadSignature = 'bad_signature',
  HlcDrift = 'hlc_drift',
  KeyUnknown = 'key_unknown',
  DecryptFailed = 'decrypt_failed',
  IdMismatch = 'id_mismatch',
}

const REFUSALS: Partial<Record<string, DeltaOutcomeLabel>> = {
  [PrimitiveErrorCode.SignatureInvalid]: DeltaOutcomeLabel.BadSignature,
  [PrimitiveErrorCode.HlcDrift]: DeltaOutcomeLabel.HlcDrift,
  [PrimitiveErrorCode.KeyUnknown]: DeltaOutcomeLabel.KeyUnknown,
  [PrimitiveErrorCode.DecryptFailed]: DeltaOutcomeLabel.DecryptFailed,
  [PrimitiveErrorCode.IdMismatch]: DeltaOutcomeLabel.IdMismatch,
};

/** The outcome label of a delta the core library refused, or undefined for other failures. */
export function refusalOf(err: unknown): DeltaOutcomeLabel | undefined {
  if (!isCodedError(err) || !err.code.startsWith('CORE_')) return undefined;
  return REFUSALS[err.code] ?? DeltaOutcomeLabel.Malformed;
}

export interface HostedContext {
  id: Buffer;
  groupId: Buffer;
}

/** What admitting a delta needs. */
export interface AdmissionDeps {
  states: StateStore;
  groups: GroupStore;
  outbox: NodeEventOutbox;
  logger: Logger;
}

/** Envelope checks before anything is stored: structure, HLC, signature. Throws PrimitiveError. */
export function checkEnvelope(delta: wire.StateDelta): VerifiedDelta {
  return verifyDelta(delta);
}

/**
 * Opens a delta with the group's keys (recomputing its content address) and adds it to the DAG.
 * Membership and buffering are the caller's: this is the common tail of gossip and fetched deltas.
 */
export async function openAndAdd(
  deps: AdmissionDeps,
  ctx: HostedContext,
  verified: VerifiedDelta,
): Promise<{ label: DeltaOutcomeLabel; result?: AddDeltaResult }> {
  const keys = await deps.groups.keys(ctx.groupId);
  let opened;
  try {
    opened = openVerifiedDelta(verified, (keyId) => keys.get(keyId.toString('hex')));
  } catch (err) {
    const label = refusalOf(err);
    if (!label) throw err;
    deps.logger.warn({ context: toBase58(ctx.id), outcome: label, err: (err as Error).message }, 'Refused a delta');
    return { label };
  }
  const result = await deps.states.addDelta(opened);
  if (result.applied.length > 0) deps.outbox.kick();
  const label =
    result.outcome === DeltaOutcome.Applied
      ? DeltaOutcomeLabel.Applied
      : result.outcome === DeltaOutcome.Pending
        ? DeltaOutcomeLabel.Pending
        : DeltaOutcomeLabel.Duplicate;
  return { label, result };
}

/**
 * A delta fetched from a peer (history: parents, catch-up, a replayed buffer) goes through the same
 * checks as gossip: envelope, context, author membership, key, content address. Never throws for a
 * bad delta (it is labelled); throws only for infrastructure failures.
 */
export async function admitFetchedDelta(
  deps: AdmissionDeps,
  ctx: HostedContext,
  delta: wire.StateDelta,
): Promise<{ label: DeltaOutcomeLabel; result?: AddDeltaResult }> {
  try {
    const verified = checkEnvelope(delta);
    if (!verified.contextId.equals(ctx.id)) return { label: DeltaOutcomeLabel.Malformed };
    if (await deps.states.hasDelta(ctx.id, verified.deltaId)) return { label: DeltaOutcomeLabel.Duplicate };
    if (!(await deps.groups.isMember(ctx.groupId, verified.author))) return { label: DeltaOutcomeLabel.NotMember };
    return await openAndAdd(deps, ctx, verified);
  } catch (err) {
    const refusal = refusalOf(err);
    if (!refusal) throw err;
    return { label: refusal };
  }
}
