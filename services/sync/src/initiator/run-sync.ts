import {
  admitFetchedDeltas,
  contextTopic,
  ContextError,
  ContextErrorCode,
  SyncRefusal,
  type HostedContext,
  type SyncSession,
} from '@cnode/context-core';
import { sameIdSet, toBase58, type Identity } from '@cnode/primitives';
import { wire } from '@cnode/proto';
import { BusErrorCode } from '@cnode/bus';
import { isCodedError, sleep } from '@cnode/runtime';
import { StateSyncErrorCode } from '@cnode/store';
import {
  BUFFER_REPLAY_BATCH,
  MAX_PEERS_TRIED,
  PEER_DISCOVERY_POLLS_INITIALIZED,
  PEER_DISCOVERY_POLLS_UNINITIALIZED,
  PEER_DISCOVERY_POLL_MS,
} from '../constants.js';
import { compareHeads, deltaCatchup } from './delta-catchup.js';
import { fetchGroupKeys } from './key-share.js';
import type { InitiatorDeps, SessionContext } from './deps.js';
import { SyncProtocol, selectProtocol, treeProtocol, type SyncSide } from './select-protocol.js';
import { snapshotSync } from './snapshot.js';
import { treeSync } from './tree-sync.js';

/** How a sync of one context ended, when it did not fail. */
export enum SyncOutcome {
  Ok = 'ok',
  /** Nobody to sync with (benign: no backoff). */
  NoPeers = 'no_peers',
  /** Peers follow the context but have no state for it yet (benign). */
  NotMaterialized = 'not_materialized',
}

export interface SyncRunResult {
  outcome: SyncOutcome;
  /** Protocols that ran, in order (`none` when the roots already matched). */
  protocols: SyncProtocol[];
  peer?: string;
  /** The session stopped at its budget with work left: another one should follow right away. */
  more?: boolean;
}

/**
 * One sync of one context: replay leftover buffered deltas, find peers (members
 * first), for a node without state find a peer that has state, then open a session, compare heads
 * and roots, run the cheapest applicable protocol, and close. Throws on failure (the driver counts
 * it and backs off); benign outcomes are returned.
 */
export async function syncContext(deps: InitiatorDeps, contextId: Buffer, peerHint?: string): Promise<SyncRunResult> {
  const state = await deps.states.context(contextId);
  if (!state?.groupId) throw new ContextError(ContextErrorCode.NoMemberIdentity, 'context is not hosted here');
  const ctx: HostedContext = { id: contextId, groupId: state.groupId };
  const [me] = await deps.identities.owned(contextId);
  if (!me)
    throw new ContextError(ContextErrorCode.NoMemberIdentity, 'none of our identities is a member of the context');
  if (state.initialized) await replayBuffer(deps, ctx);

  let peers = await discoverPeers(deps, ctx, state.initialized, peerHint);
  if (peers.length === 0) return { outcome: SyncOutcome.NoPeers, protocols: [] };
  if (!state.initialized) {
    const withState = await probeForState(deps, ctx, me, peers);
    if (!withState) return { outcome: SyncOutcome.NotMaterialized, protocols: [] };
    peers = [withState, ...peers.filter((p) => p !== withState)];
  }

  let lastError: unknown;
  for (const peer of peers.slice(0, MAX_PEERS_TRIED)) {
    try {
      return await syncWithPeer(deps, ctx, me, peer);
    } catch (err) {
      // A peer we could not reach, that stopped answering, or that no longer proves membership (a
      // removed member still on the topic): the next one may do. Anything else (a lying peer, a
      // refusal of us, a root mismatch) ends this attempt.
      if (!isCodedError(err)) throw err;
      if (err.code === (ContextErrorCode.PeerNotMember as string)) await forgetMemberPeer(deps, ctx, peer);
      else if (!err.code.startsWith('BUS_')) throw err;
      lastError = err;
    }
  }
  throw lastError;
}

async function syncWithPeer(
  deps: InitiatorDeps,
  ctx: HostedContext,
  me: Identity,
  peer: string,
): Promise<SyncRunResult> {
  const sessions: SyncSession[] = [];
  const open = async (): Promise<SyncSession> => {
    const session = await deps.sync.open(peer, { id: ctx.id, groupId: ctx.groupId }, me, deps.limits.sessionDeadlineMs);
    sessions.push(session);
    return session;
  };
  const traffic = () =>
    sessions.reduce(
      (t, s) => ({ sent: t.sent + s.traffic.bytesSent, received: t.received + s.traffic.bytesReceived }),
      { sent: 0, received: 0 },
    );
  const counted = { sent: 0, received: 0 };
  const countBytes = (protocol: SyncProtocol, bytes: { sent: number; received: number }): void => {
    deps.metrics.bytes.inc({ protocol, direction: 'sent' }, bytes.sent);
    deps.metrics.bytes.inc({ protocol, direction: 'received' }, bytes.received);
    counted.sent += bytes.sent;
    counted.received += bytes.received;
  };
  const protocols: SyncProtocol[] = [];
  /** Runs one protocol of the session; its bytes are counted under its own label. */
  const phase = async <T>(protocol: SyncProtocol, run: () => Promise<T>): Promise<T> => {
    protocols.push(protocol);
    const before = traffic();
    try {
      return await run();
    } finally {
      const after = traffic();
      countBytes(protocol, { sent: after.sent - before.sent, received: after.received - before.received });
    }
  };
  const started = process.hrtime.bigint();
  let outcome = 'ok';
  try {
    const s: SessionContext = { ctx, me, session: await open() };
    const { dagHeadsResponse: remote } = await s.session.request(
      { $case: 'dagHeadsRequest', dagHeadsRequest: { contextId: ctx.id } },
      'dagHeadsResponse',
    );
    await deps.convergence.state(ctx.id, peer, remote, 'session');
    if (!remote.initialized) {
      await s.session.close();
      outcome = SyncOutcome.NotMaterialized;
      return { outcome: SyncOutcome.NotMaterialized, protocols, peer };
    }
    const remoteSide: SyncSide = {
      initialized: true,
      rootHash: Buffer.from(remote.rootHash),
      entryCount: Number(remote.entryCount),
    };
    const remoteHeads = remote.heads.map((h) => Buffer.from(h));
    // Joined with an invitation that carried no key: this (proven member) peer shares it first.
    if (!(await deps.groups.currentKey(ctx.groupId))) {
      s.keysAsked = true;
      await fetchGroupKeys(deps, ctx, me, peer);
      if (!(await deps.groups.currentKey(ctx.groupId))) {
        throw new ContextError(ContextErrorCode.NoGroupKey, `${peer} shared no key of the group that opens for us`);
      }
    }
    const local = await localSide(deps, ctx.id);
    const heads = local.initialized
      ? await compareHeads(deps, ctx.id, local.heads, remoteHeads)
      : { lacking: 0, peerBehind: false };
    const protocol = selectProtocol(local, remoteSide, heads);
    let more = false;
    if (protocol === SyncProtocol.None) {
      protocols.push(protocol);
      // Both without live state: the context starts empty here too.
      if (!local.initialized && (await deps.stateSync.initializeEmpty(ctx.id))) await replayBuffer(deps, ctx);
      if (heads.peerBehind) deps.logger.debug({ context: toBase58(ctx.id), peer }, 'Peer is behind: nothing to pull');
    } else {
      deps.metrics.divergences.inc({ protocol });
      ({ more } = await runProtocol(deps, s, protocol, remoteHeads, remoteSide, open, phase));
    }
    await s.session.close();
    return { outcome: SyncOutcome.Ok, protocols, peer, more };
  } catch (err) {
    outcome = failureReason(err);
    for (const session of sessions) session.abort();
    await deps.convergence.failure(ctx.id, peer, err);
    throw err;
  } finally {
    const main = protocols[0] ?? SyncProtocol.None;
    // The handshake and the close belong to the first protocol.
    const total = traffic();
    countBytes(main, { sent: total.sent - counted.sent, received: total.received - counted.received });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    deps.metrics.sessions.inc({ protocol: main, outcome });
    deps.metrics.sessionDuration.observe({ protocol: main }, seconds);
    await deps.convergence.session(ctx.id, peer, {
      protocol: protocols.length > 0 ? protocols.join('+') : SyncProtocol.None,
      outcome,
      bytesSent: total.sent,
      bytesReceived: total.received,
      durationMs: Math.round(seconds * 1000),
    });
  }
}

type Phase = <T>(protocol: SyncProtocol, run: () => Promise<T>) => Promise<T>;

async function runProtocol(
  deps: InitiatorDeps,
  s: SessionContext,
  protocol: SyncProtocol,
  remoteHeads: Buffer[],
  remote: SyncSide,
  open: () => Promise<SyncSession>,
  phase: Phase,
): Promise<{ more: boolean }> {
  const context = toBase58(s.ctx.id);
  switch (protocol) {
    case SyncProtocol.Snapshot: {
      await phase(SyncProtocol.Snapshot, async () => {
        await snapshotSync(deps, s, open);
        await replayBuffer(deps, s.ctx);
      });
      // Replayed deltas may wait on parents the snapshot did not bring (concurrent branches).
      if ((await deps.states.missingParents(s.ctx.id)).length > 0) {
        const result = await phase(SyncProtocol.DeltaCatchup, () => deltaCatchup(deps, s, []));
        return { more: result.outOfBudget };
      }
      return { more: false };
    }
    case SyncProtocol.DeltaCatchup: {
      const result = await phase(SyncProtocol.DeltaCatchup, () => deltaCatchup(deps, s, remoteHeads));
      if (result.outOfBudget) {
        deps.logger.info({ context, ...result }, 'Delta catch-up continues in another session');
        return { more: true };
      }
      const ours = await deps.states.context(s.ctx.id);
      const apart = ours !== undefined && sameIdSet(ours.heads, remoteHeads) && !ours.rootHash.equals(remote.rootHash);
      // History cannot bring us to the peer's state (it lacks what we miss, or the same heads give
      // another root): finish with the tree (bidirectional).
      if (result.unavailable || apart) {
        const next = treeProtocol(await localSide(deps, s.ctx.id), remote);
        deps.logger.info(
          { context, stillMissing: result.stillMissing, next },
          'Delta catch-up incomplete: comparing trees',
        );
        await phase(next, () => treeSync(deps, s, next === SyncProtocol.LevelWise));
      }
      return { more: false };
    }
    case SyncProtocol.HashComparison:
    case SyncProtocol.LevelWise: {
      const result = await phase(protocol, () => treeSync(deps, s, protocol === SyncProtocol.LevelWise));
      deps.logger.info({ context, peer: s.session.peer, protocol, ...result }, 'Tree comparison done');
      return { more: false };
    }
    case SyncProtocol.None:
      return { more: false };
  }
}

async function localSide(deps: InitiatorDeps, contextId: Buffer): Promise<SyncSide & { heads: Buffer[] }> {
  const ours = await deps.states.context(contextId);
  const initialized = ours?.initialized ?? false;
  return {
    initialized,
    rootHash: ours?.rootHash ?? Buffer.alloc(32),
    entryCount: initialized ? await deps.stateSync.entryCount(contextId) : 0,
    heads: ours?.heads ?? [],
  };
}

/** Failure labels of the sync metrics, by error code. */
const FAILURE_REASONS: Record<string, string> = {
  [ContextErrorCode.Timeout]: 'timeout',
  [ContextErrorCode.Deadline]: 'deadline',
  [ContextErrorCode.BadAnswer]: 'bad_answer',
  [ContextErrorCode.PeerRefused]: 'peer_refused',
  [ContextErrorCode.PeerNotMember]: 'peer_not_member',
  [ContextErrorCode.NoGroupKey]: 'no_group_key',
  [StateSyncErrorCode.SnapshotRootMismatch]: 'root_mismatch',
  [StateSyncErrorCode.SnapshotOnInitialized]: 'snapshot_on_initialized',
};

/** The failure label of a session error (metrics, status). */
export function failureReason(err: unknown): string {
  if (!isCodedError(err)) return 'error';
  if ((err.meta as { code?: string }).code === (SyncRefusal.NotMaterialized as string)) return 'not_materialized';
  // Our own network service does not answer (restarting, or stopped): nobody's fault out there.
  if (err.code === (BusErrorCode.CommandUnavailable as string)) return 'network_unavailable';
  return FAILURE_REASONS[err.code] ?? (err.code.startsWith('BUS_') ? 'stream_failed' : 'error');
}

/** Failure reasons that are no failure of the peer or of the protocol: no backoff, retried on the next tick. */
export const BENIGN_FAILURES: ReadonlySet<string> = new Set(['not_materialized', 'network_unavailable']);

/**
 * Subscribers of the context topic, members first (peers that proved membership to us recently),
 * then the rest; the hinted peer leads. A node without state waits longer for subscribers to appear
 * (right after a join the mesh is still forming).
 */
async function discoverPeers(
  deps: InitiatorDeps,
  ctx: HostedContext,
  initialized: boolean,
  hint?: string,
): Promise<string[]> {
  const polls = initialized ? PEER_DISCOVERY_POLLS_INITIALIZED : PEER_DISCOVERY_POLLS_UNINITIALIZED;
  let subscribers: string[] = [];
  for (let i = 0; i < polls; i++) {
    subscribers = (await deps.network.topicPeers(contextTopic(ctx.id))).subscribers;
    if (subscribers.length > 0 || hint) break;
    if (i + 1 < polls) await sleep(PEER_DISCOVERY_POLL_MS);
  }
  const members = await deps
    .redis()
    .zrevrange(deps.catalog.redis.memberPeers(ctx.groupId.toString('hex')), 0, -1)
    .catch(() => [] as string[]);
  const rank = new Map(members.map((p, i) => [p, i]));
  const ordered = [...new Set(subscribers)].sort(
    (a, b) => (rank.get(a) ?? Number.MAX_SAFE_INTEGER) - (rank.get(b) ?? Number.MAX_SAFE_INTEGER),
  );
  return hint ? [hint, ...ordered.filter((p) => p !== hint)] : ordered;
}

/**
 * Drops a peer that failed to prove membership from the group's member peers, so that peer
 * selection stops putting it first (it proved membership before, then was removed).
 */
async function forgetMemberPeer(deps: InitiatorDeps, ctx: HostedContext, peer: string): Promise<void> {
  await deps
    .redis()
    .zrem(deps.catalog.redis.memberPeers(ctx.groupId.toString('hex')), peer)
    .catch(() => undefined);
}

/**
 * A node without state asks peers (a few at a time) for their heads and takes the first with
 * state. A peer whose state is empty also counts: both then start empty.
 */
async function probeForState(
  deps: InitiatorDeps,
  ctx: HostedContext,
  me: Identity,
  peers: string[],
): Promise<string | undefined> {
  for (let i = 0; i < peers.length; i += deps.limits.probeConcurrency) {
    const batch = peers.slice(i, i + deps.limits.probeConcurrency);
    const answers = await Promise.all(
      batch.map((peer) =>
        deps.sync.fetchDagHeads(peer, me, { id: ctx.id, groupId: ctx.groupId }).then(
          (heads) => ({ peer, heads }),
          () => undefined,
        ),
      ),
    );
    const found = answers.find((a) => a?.heads.initialized);
    if (found) return found.peer;
  }
  return undefined;
}

/**
 * Replays deltas buffered while the context had no state, oldest (HLC, id) first, through the same
 * checks as any fetched delta. Those the snapshot already covers (its boundary heads and their
 * buffered ancestors) are dropped first: their effects are in the state. Each batch is removed only after it was applied, so a crash
 * mid-replay replays again (harmless: duplicates are recognised).
 */
export async function replayBuffer(deps: InitiatorDeps, ctx: HostedContext): Promise<number> {
  const covered = await deps.buffers.discardCovered(ctx.id);
  if (covered > 0) deps.metrics.deltasFetched.inc({ outcome: 'covered', via: 'buffer' }, covered);
  let replayed = 0;
  for (;;) {
    const batch = await deps.buffers.peek(ctx.id, BUFFER_REPLAY_BATCH);
    if (batch.length === 0) break;
    const deltas: wire.StateDelta[] = [];
    for (const buffered of batch) {
      try {
        deltas.push(wire.StateDelta.decode(buffered.delta));
      } catch {
        deps.metrics.deltasFetched.inc({ outcome: 'malformed', via: 'buffer' });
      }
    }
    const { labels } = await admitFetchedDeltas(deps, ctx, deltas);
    for (const label of labels) deps.metrics.deltasFetched.inc({ outcome: label, via: 'buffer' });
    await deps.buffers.remove(
      ctx.id,
      batch.map((b) => b.deltaId),
    );
    replayed += batch.length;
  }
  if (replayed + covered > 0) {
    deps.logger.info({ context: toBase58(ctx.id), replayed, covered }, 'Replayed buffered deltas');
  }
  return replayed;
}
