import { admitFetchedDelta, DeltaOutcomeLabel } from '@cnode/context-core';
import { toBase58 } from '@cnode/primitives';
import { MAX_DELTAS_SERVED } from '../constants.js';
import type { InitiatorDeps, SessionContext } from './deps.js';

export interface CatchupResult {
  received: number;
  applied: number;
  /** The peer's heads (or parents our pending deltas wait on) still missing when the session stopped. */
  stillMissing: number;
}

/**
 * DAG-heads catch-up (reference §4.6): asks the peer for the deltas behind its heads we lack and the
 * parents our pending deltas wait on, down to our own heads. The peer answers the oldest of the gap
 * first, so every answer applies as it arrives; rounds continue until nothing is missing, a round
 * brings nothing new, or the session's delta budget is spent. Every delta passes the same checks as
 * gossip (envelope, member author, key, content address).
 */
export async function deltaCatchup(
  deps: InitiatorDeps,
  s: SessionContext,
  remoteHeads: readonly Buffer[],
): Promise<CatchupResult> {
  const result: CatchupResult = { received: 0, applied: 0, stillMissing: 0 };
  for (;;) {
    const wanted = await missingFrom(deps, s, remoteHeads);
    result.stillMissing = wanted.length;
    if (wanted.length === 0 || result.received >= deps.limits.maxCatchupDeltas) break;
    const ours = await deps.states.context(s.ctx.id);
    const { deltaResponse } = await s.session.request(
      {
        $case: 'deltaRequest',
        deltaRequest: {
          contextId: s.ctx.id,
          wanted,
          knownHeads: ours?.heads ?? [],
          maxDeltas: MAX_DELTAS_SERVED,
        },
      },
      'deltaResponse',
    );
    let fresh = 0;
    for (const delta of deltaResponse.deltas.slice(0, MAX_DELTAS_SERVED)) {
      result.received++;
      const { label } = await admitFetchedDelta(deps, s.ctx, delta);
      deps.metrics.deltasFetched.inc({ outcome: label, via: 'catchup' });
      if (label === DeltaOutcomeLabel.Applied || label === DeltaOutcomeLabel.Pending) fresh++;
      if (label === DeltaOutcomeLabel.Applied) result.applied++;
    }
    if (fresh === 0) break;
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

/** How many of the peer's heads this node lacks. */
export async function lackingHeads(
  deps: InitiatorDeps,
  contextId: Buffer,
  remoteHeads: readonly Buffer[],
): Promise<number> {
  let n = 0;
  for (const head of remoteHeads) if (await lacks(deps, contextId, head)) n++;
  return n;
}
