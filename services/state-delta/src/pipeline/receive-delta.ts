import { openVerifiedDelta, PrimitiveErrorCode, toBase58, verifyDelta, type VerifiedDelta } from '@cnode/primitives';
import type { wire } from '@cnode/proto';
import { isCodedError } from '@cnode/runtime';
import { DeltaOutcome, type AddDeltaResult } from '@cnode/store';
import { DeltaOutcomeLabel } from '../metrics.js';
import type { PipelineDeps } from './deps.js';

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

/** Envelope checks before anything is stored: structure, HLC, signature. Throws PrimitiveError. */
export function checkEnvelope(delta: wire.StateDelta): VerifiedDelta {
  return verifyDelta(delta);
}

/**
 * Opens a delta with the group's keys (recomputing its content address) and adds it to the DAG.
 * Membership and buffering are the caller's: this is the common tail of gossip and fetched deltas.
 */
export async function openAndAdd(
  deps: PipelineDeps,
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
