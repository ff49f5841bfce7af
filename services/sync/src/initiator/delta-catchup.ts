import { admitFetchedDeltas, DeltaOutcomeLabel, knownForRequest } from '@cnode/context-core';
import { sameIdSet, toBase58 } from '@cnode/primitives';
import { MAX_DELTAS_SERVED } from '../constants.js';
import type { InitiatorDeps, SessionContext } from './deps.js';
import { fetchGroupKeys } from './key-share.js';
import type { HeadsComparison } from './select-protocol.js';

export interface CatchupResult {
  received: number;
  applied: number;
  /** The peer's heads (or parents our pending deltas wait on) still missing when the session stopped. */
  stillMissing: number;
  /** Stopped early to end the session inside its deadline or delta budget: another session continues. */
  outOfBudget: boolean;
  /**
   * The peer could not bring what we lack (it answered nothing new that we could use): history alone
   * will not get us there, the state must be compared. Not set when a round only brought deltas we
   * already had (gossip delivered them meanwhile).
   */
  unavailable: boolean;
}

/**
 * DAG-heads catch-up: asks the peer for the deltas behind its heads we lack and the
 * parents our pending deltas wait on, down to our own heads. The peer answers the oldest of the gap
 * first, so every answer applies as it arrives; rounds continue until nothing is missing, a round
 * brings nothing new (`unavailable` unless it brought deltas we had meanwhile received), or the
 * session's delta budget or time is spent (`outOfBudget`: what was applied stays, and the caller
 * schedules another session). Every delta passes the same checks as
 * gossip (envelope, member author, key, content address).
 */
export async function deltaCatchup(
  deps: InitiatorDeps,
  s: SessionContext,
  remoteHeads: readonly Buffer[],
): Promise<CatchupResult> {
  const result: CatchupResult = { received: 0, applied: 0, stillMissing: 0, outOfBudget: false, unavailable: false };
  let lastRoundMs = 0;
  // Oldest first until the answers show our heads do not bound the peer's walk (they are mostly
  // history we hold: branches it never saw); then the newest of the gap, our DAG's missing parents
  // leading the next rounds down to where the branches meet.
  let newestFirst = false;
  for (;;) {
    const wanted = await missingFrom(deps, s, remoteHeads);
    result.stillMissing = wanted.length;
    if (wanted.length === 0) break;
    // Another round must fit in what is left of the session (a round takes about as long as the
    // last one); otherwise stop cleanly and let the next session go on from here.
    if (result.received >= deps.limits.maxCatchupDeltas || s.session.remainingMs() < 2 * lastRoundMs) {
      result.outOfBudget = true;
      break;
    }
    const roundStarted = Date.now();
    const { deltaResponse } = await s.session.request(
      {
        $case: 'deltaRequest',
        deltaRequest: {
          contextId: s.ctx.id,
          wanted,
          knownHeads: await knownForRequest(deps.states, s.ctx.id),
          maxDeltas: MAX_DELTAS_SERVED,
          newestFirst,
        },
      },
      'deltaResponse',
    );
    let fresh = 0;
    let duplicates = 0;
    let keyUnknown = 0;
    // One transaction per answer: the batch applies in causal order, whatever order it came in.
    const { labels } = await admitFetchedDeltas(deps, s.ctx, deltaResponse.deltas.slice(0, MAX_DELTAS_SERVED));
    for (const label of labels) {
      result.received++;
      deps.metrics.deltasFetched.inc({ outcome: label, via: 'catchup' });
      const applied = label === DeltaOutcomeLabel.Applied || label === DeltaOutcomeLabel.Revived;
      if (applied || label === DeltaOutcomeLabel.Pending) fresh++;
      if (label === DeltaOutcomeLabel.Duplicate) duplicates++;
      if (label === DeltaOutcomeLabel.KeyUnknown) keyUnknown++;
      if (applied) result.applied++;
    }
    lastRoundMs = Date.now() - roundStarted;
    // Sealed with a key we lack (a rotation we missed): the peer may share it; the refused deltas
    // are still missing, so the next round asks for them again.
    if (keyUnknown > 0 && !s.keysAsked) {
      s.keysAsked = true;
      if ((await fetchGroupKeys(deps, s.ctx, s.me, s.session.peer)) > 0) continue;
    }
    if (!newestFirst && duplicates > fresh) {
      newestFirst = true;
      deps.logger.debug({ context: toBase58(s.ctx.id), duplicates, fresh }, 'Catch-up walks the newest of the gap');
      continue;
    }
    if (fresh === 0) {
      result.unavailable = duplicates === 0;
      break;
    }
  }
  deps.logger.debug({ context: toBase58(s.ctx.id), peer: s.session.peer, ...result }, 'Delta catch-up round done');
  return result;
}

/** Heads of the peer we have not applied, plus parents our pending deltas wait on. */
async function missingFrom(deps: InitiatorDeps, s: SessionContext, remoteHeads: readonly Buffer[]): Promise<Buffer[]> {
  const wanted: Buffer[] = [];
  for (const head of remoteHeads) if (await lacks(deps, s.ctx.id, head)) wanted.push(head);
  const seen = new Set(wanted.map((w) => w.toString('hex')));
  for (const p of await deps.states.missingParents(s.ctx.id)) if (!seen.has(p.toString('hex'))) wanted.push(p);
  return wanted;
}

/** A head we lack: never seen, or stored but still waiting for its parents. The zero id is never lacked. */
async function lacks(deps: InitiatorDeps, contextId: Buffer, head: Buffer): Promise<boolean> {
  if (head.every((b) => b === 0)) return false;
  return !(await deps.states.hasDelta(contextId, head)) || (await deps.states.isPending(contextId, head));
}

/** How the peer's heads relate to ours: how many we lack, and whether the peer is simply behind. */
export async function compareHeads(
  deps: InitiatorDeps,
  contextId: Buffer,
  ourHeads: readonly Buffer[],
  remoteHeads: readonly Buffer[],
): Promise<HeadsComparison> {
  let lacking = 0;
  for (const head of remoteHeads) if (await lacks(deps, contextId, head)) lacking++;
  return { lacking, peerBehind: lacking === 0 && !sameIdSet(ourHeads, remoteHeads) };
}
