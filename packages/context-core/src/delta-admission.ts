import {
  openVerifiedDelta,
  PrimitiveErrorCode,
  toBase58,
  verifyDelta,
  type OpenedDelta,
  type VerifiedDelta,
} from '@cnode/primitives';
import type { wire } from '@cnode/proto';
import { isCodedError, memoPerBatch, type Logger } from '@cnode/runtime';
import {
  DeltaOutcome,
  type AddDeltaResult,
  type AddDeltasResult,
  type GroupStore,
  type StateStore,
} from '@cnode/store';
import { authorAtCut, CutVerdict } from './membership-at-cut.js';

/** What became of one received delta: label values of the delta outcome metrics. */
export enum DeltaOutcomeLabel {
  Applied = 'applied',
  /**
   * Stored as pending although its parents were all applied (its wait was missed, which no correct
   * run does): applied now. Counted apart so that it shows.
   */
  Revived = 'revived',
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
  logger: Logger;
}

/** Envelope checks before anything is stored: structure, HLC, signature. Throws PrimitiveError. */
export function checkEnvelope(delta: wire.StateDelta): VerifiedDelta {
  return verifyDelta(delta);
}

/** The outcome label of what the store did with a delta. */
export const STORE_OUTCOME_LABEL: Record<DeltaOutcome, DeltaOutcomeLabel> = {
  [DeltaOutcome.Applied]: DeltaOutcomeLabel.Applied,
  [DeltaOutcome.Pending]: DeltaOutcomeLabel.Pending,
  [DeltaOutcome.Duplicate]: DeltaOutcomeLabel.Duplicate,
};

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
  return { label: STORE_OUTCOME_LABEL[result.outcome], result };
}

/** What became of each of a batch of fetched deltas, in input order, and the store's answer. */
export interface FetchedAdmission {
  labels: DeltaOutcomeLabel[];
  /** Set when anything reached the store (applied, pending or found known under the lock). */
  result?: AddDeltasResult;
}

/** The outcome label of a delta whose author the cut (or the live view) does not let write. */
const CUT_REFUSALS: Record<Exclude<CutVerdict, CutVerdict.Member>, DeltaOutcomeLabel> = {
  [CutVerdict.ReadOnly]: DeltaOutcomeLabel.ReadOnly,
  [CutVerdict.NotMember]: DeltaOutcomeLabel.NotMember,
  [CutVerdict.NoPosition]: DeltaOutcomeLabel.NoGovernancePosition,
  [CutVerdict.Unknown]: DeltaOutcomeLabel.GovernancePending,
};

/**
 * A fetched delta's author is judged as gossip judges it: at the governance cut the delta cites,
 * the same verdict on every node that knows the cut. Judging by the live view instead made nodes
 * disagree for good: a write signed just before its author's removal applied on the nodes that got
 * it before the removal and was refused by the rest, whose later deltas then waited forever on it.
 * A cut not known here (governance ops we lack) falls back to the live view: a member now is
 * admitted, anyone else is refused for now (`governance_pending`; a later catch-up asks again).
 */
async function fetchedAuthorVerdict(
  deps: AdmissionDeps,
  ctx: HostedContext,
  author: Buffer,
  heads: readonly Buffer[],
): Promise<CutVerdict> {
  const verdict = await authorAtCut(deps.groups, ctx.groupId, author, heads);
  if (verdict !== CutVerdict.Unknown) return verdict;
  return (await deps.groups.isMember(ctx.groupId, author)) ? CutVerdict.Member : CutVerdict.Unknown;
}

/**
 * Deltas fetched from a peer (history: parents, catch-up, a replayed buffer) go through the same
 * checks as gossip — envelope, context, author membership at the delta's cut, key, content address
 * — and the ones that pass are added in one `addDeltas` transaction, in causal order whatever order
 * they came in. Once per batch: the known-ids lookup, the group keys, the transaction; membership
 * once per author and cut. A bad delta is labelled and left out alone; throws only for
 * infrastructure failures.
 */
export async function admitFetchedDeltas(
  deps: AdmissionDeps,
  ctx: HostedContext,
  deltas: readonly wire.StateDelta[],
): Promise<FetchedAdmission> {
  const labels = deltas.map(() => DeltaOutcomeLabel.Malformed);
  const verified = new Map<number, VerifiedDelta>();
  deltas.forEach((delta, i) => {
    try {
      const v = checkEnvelope(delta);
      if (v.contextId.equals(ctx.id)) verified.set(i, v);
    } catch (err) {
      const refusal = refusalOf(err);
      if (!refusal) throw err;
      labels[i] = refusal;
    }
  });
  if (verified.size === 0) return { labels };
  // Applied ones are repeats. A pending one goes on to the DAG, which applies it should its
  // parents all be applied by now (a wait that was missed) and otherwise calls it a duplicate.
  const known = await deps.states.knownDeltaStates(
    ctx.id,
    [...verified.values()].map((v) => v.deltaId),
  );
  const standing = memoPerBatch(
    (author: Buffer, heads: readonly Buffer[]) => fetchedAuthorVerdict(deps, ctx, author, heads),
    (author, heads) => `${author.toString('hex')}@${heads.map((h) => h.toString('hex')).join(',')}`,
  );
  let keys: Map<string, Buffer> | undefined;
  const opened: { index: number; delta: OpenedDelta }[] = [];
  for (const [i, v] of verified) {
    if (known.get(v.deltaId.toString('hex')) === true) {
      labels[i] = DeltaOutcomeLabel.Duplicate;
      continue;
    }
    const verdict = await standing(v.author, v.governanceHeads);
    if (verdict !== CutVerdict.Member) {
      labels[i] = CUT_REFUSALS[verdict];
      continue;
    }
    keys ??= await deps.groups.keys(ctx.groupId);
    const groupKeys = keys;
    try {
      opened.push({ index: i, delta: openVerifiedDelta(v, (keyId) => groupKeys.get(keyId.toString('hex'))) });
    } catch (err) {
      const refusal = refusalOf(err);
      if (!refusal) throw err;
      labels[i] = refusal;
    }
  }
  if (opened.length === 0) return { labels };
  const result = await deps.states.addDeltas(
    ctx.id,
    opened.map((o) => o.delta),
  );
  opened.forEach((o, k) => (labels[o.index] = STORE_OUTCOME_LABEL[result.outcomes[k]!]));
  labelRevived(deps.logger, ctx, result, opened, labels);
  return { labels, result };
}

/**
 * Labels the deltas the store revived (stored as pending although every parent was applied) and
 * logs them: the DAG repaired a wait that should not have been missed.
 */
export function labelRevived(
  logger: Logger,
  ctx: HostedContext,
  result: Pick<AddDeltasResult, 'revived'>,
  added: readonly { index: number; delta: { deltaId: Buffer } }[],
  labels: DeltaOutcomeLabel[],
): void {
  if (result.revived.length === 0) return;
  const revived = new Set(result.revived.map((id) => id.toString('hex')));
  for (const a of added) if (revived.has(a.delta.deltaId.toString('hex'))) labels[a.index] = DeltaOutcomeLabel.Revived;
  logger.warn(
    { context: toBase58(ctx.id), deltas: result.revived.map(toBase58) },
    'Applied pending deltas whose parents were all applied already (a missed wait)',
  );
}
