import type { Catalog, NetworkClient } from '@cnode/bus';
import { isZeroId, sameIdSet, toBase58 } from '@cnode/primitives';
import { admin } from '@cnode/proto';
import type { Redis, StateStore } from '@cnode/store';
import { readSyncBook, syncStatusOf } from './sync-status.js';
import { contextTopic } from './topics.js';

/**
 * Convergence bookkeeping: what each peer of a context last told about its state, the last sync
 * session with it and the last failure to hear from it, kept in one Redis hash per context (fields
 * `<peer>|state`, `<peer>|session`, `<peer>|failure`, so writers of different aspects never
 * overwrite each other), and the context's convergence history in another. The sync service writes
 * both (its probe and its sessions); the admin API reads them and judges each peer against our
 * state at the time of asking.
 */

/** Peers remembered per context; past it, those heard from longest ago are forgotten. */
export const CONVERGENCE_MAX_PEERS = 64;
/** Bookkeeping of a context nobody touched for this long expires. */
export const CONVERGENCE_TTL_MS = 24 * 3600_000;
/** Probe periods after which a peer's state is stale (unknown), and after which an unheard peer is forgotten. */
export const CONVERGENCE_STALE_PERIODS = 3;
export const CONVERGENCE_FORGET_PERIODS = 10;
/** Heads shown and compared per peer (a DAG has few heads; a peer claiming more is cut off). */
export const CONVERGENCE_MAX_HEADS = 64;

export type Verdict = admin.PeerConvergence_Verdict;
export const Verdict = admin.PeerConvergence_Verdict;

/** A verdict as a metric label or log word: `behind` for VERDICT_BEHIND. */
export const verdictLabel = (verdict: Verdict): string =>
  admin.peerConvergence_VerdictToJSON(verdict).replace('VERDICT_', '').toLowerCase();

/** What a peer told about its state (hex ids), and how and when we heard it. */
export interface PeerStateRecord {
  initialized: boolean;
  rootHash: string;
  heads: string[];
  atMs: number;
  via: 'probe' | 'session';
}

export interface PeerSessionRecord {
  protocol: string;
  outcome: string;
  bytesSent: number;
  bytesReceived: number;
  durationMs: number;
  atMs: number;
}

export interface PeerFailureRecord {
  /** A failure label (timeout, peer_not_member, stream_failed, ...). */
  reason: string;
  message: string;
  atMs: number;
}

export interface PeerRecord {
  peer: string;
  state?: PeerStateRecord;
  session?: PeerSessionRecord;
  failure?: PeerFailureRecord;
}

/** The context's convergence history. */
export interface ConvergenceBook {
  convergedAtMs: number;
  divergedSinceMs: number;
  episodes: number;
  /** Whether the last judgement found the context converged. */
  converged: boolean;
}

type Aspect = 'state' | 'session' | 'failure';

const field = (peer: string, aspect: Aspect): string => `${peer}|${aspect}`;

/** Records one aspect of a peer (a failure record is cleared by a later state record). */
export async function recordPeer(
  redis: Redis,
  catalog: Catalog,
  contextId: Buffer,
  peer: string,
  record: { state: PeerStateRecord } | { session: PeerSessionRecord } | { failure: PeerFailureRecord },
): Promise<void> {
  const key = catalog.redis.convergencePeers(toBase58(contextId));
  const [aspect, value] = Object.entries(record)[0] as [Aspect, unknown];
  const tx = redis.multi().hset(key, field(peer, aspect), JSON.stringify(value));
  if (aspect === 'state') tx.hdel(key, field(peer, 'failure'));
  await tx.pexpire(key, CONVERGENCE_TTL_MS).exec();
}

/** The state a sync stream's DagHeadsResponse told, as a record. */
export function peerStateOf(
  answer: { initialized: boolean; rootHash: Uint8Array; heads: Uint8Array[] },
  via: PeerStateRecord['via'],
  atMs = Date.now(),
): PeerStateRecord {
  return {
    initialized: answer.initialized,
    rootHash: Buffer.from(answer.rootHash).toString('hex'),
    heads: answer.heads.slice(0, CONVERGENCE_MAX_HEADS).map((h) => Buffer.from(h).toString('hex')),
    atMs,
    via,
  };
}

/** Every peer remembered for the context. Unreadable fields (another version's) are skipped. */
export async function readPeers(redis: Redis, catalog: Catalog, contextId: Buffer): Promise<PeerRecord[]> {
  const raw = await redis.hgetall(catalog.redis.convergencePeers(toBase58(contextId)));
  const peers = new Map<string, PeerRecord>();
  for (const [name, json] of Object.entries(raw)) {
    const cut = name.lastIndexOf('|');
    if (cut <= 0) continue;
    const peer = name.slice(0, cut);
    const aspect = name.slice(cut + 1) as Aspect;
    if (aspect !== 'state' && aspect !== 'session' && aspect !== 'failure') continue;
    try {
      const record = peers.get(peer) ?? { peer };
      (record as unknown as Record<Aspect, unknown>)[aspect] = JSON.parse(json) as unknown;
      peers.set(peer, record);
    } catch {
      continue;
    }
  }
  return [...peers.values()];
}

/** When a peer was last heard of, in any way. */
export const lastHeardMs = (p: PeerRecord): number =>
  Math.max(p.state?.atMs ?? 0, p.session?.atMs ?? 0, p.failure?.atMs ?? 0);

/**
 * Forgets peers not heard of for `forgetAfterMs`, and the oldest beyond CONVERGENCE_MAX_PEERS.
 * Returns how many were forgotten, by why.
 */
export async function forgetPeers(
  redis: Redis,
  catalog: Catalog,
  contextId: Buffer,
  peers: PeerRecord[],
  forgetAfterMs: number,
  nowMs = Date.now(),
): Promise<{ stale: number; bound: number; kept: PeerRecord[] }> {
  const byAge = [...peers].sort((a, b) => lastHeardMs(b) - lastHeardMs(a));
  const stale = byAge.filter((p) => nowMs - lastHeardMs(p) > forgetAfterMs);
  const fresh = byAge.filter((p) => nowMs - lastHeardMs(p) <= forgetAfterMs);
  const overBound = fresh.slice(CONVERGENCE_MAX_PEERS);
  const gone = [...stale, ...overBound];
  if (gone.length > 0) {
    const fields = gone.flatMap((p) => (['state', 'session', 'failure'] as Aspect[]).map((a) => field(p.peer, a)));
    await redis.hdel(catalog.redis.convergencePeers(toBase58(contextId)), ...fields);
  }
  return { stale: stale.length, bound: overBound.length, kept: fresh.slice(0, CONVERGENCE_MAX_PEERS) };
}

export async function readConvergenceBook(redis: Redis, catalog: Catalog, contextId: Buffer): Promise<ConvergenceBook> {
  const raw = await redis.hgetall(catalog.redis.convergenceBook(toBase58(contextId)));
  return {
    convergedAtMs: Number(raw.convergedAtMs) || 0,
    divergedSinceMs: Number(raw.divergedSinceMs) || 0,
    episodes: Number(raw.episodes) || 0,
    converged: raw.converged === '1',
  };
}

/**
 * Records a judgement of the whole context. Returns whether it began a divergence episode (the
 * previous judgement found the context converged, this one does not).
 */
export async function recordConvergence(
  redis: Redis,
  catalog: Catalog,
  contextId: Buffer,
  converged: boolean,
  nowMs = Date.now(),
): Promise<{ book: ConvergenceBook; episodeBegan: boolean }> {
  const before = await readConvergenceBook(redis, catalog, contextId);
  const episodeBegan = before.converged && !converged;
  const book: ConvergenceBook = converged
    ? { ...before, converged, convergedAtMs: nowMs, divergedSinceMs: 0 }
    : {
        ...before,
        converged,
        divergedSinceMs: before.divergedSinceMs || nowMs,
        episodes: before.episodes + (episodeBegan ? 1 : 0),
      };
  const key = catalog.redis.convergenceBook(toBase58(contextId));
  await redis
    .multi()
    .hset(key, {
      convergedAtMs: String(book.convergedAtMs),
      divergedSinceMs: String(book.divergedSinceMs),
      episodes: String(book.episodes),
      converged: book.converged ? '1' : '0',
    })
    .pexpire(key, CONVERGENCE_TTL_MS)
    .exec();
  return { book, episodeBegan };
}

/** Our side of the comparison. */
export interface OurState {
  initialized: boolean;
  rootHash: Buffer;
  heads: Buffer[];
}

/** What our DAG knows of some delta ids (hex): stored at all, and stored but waiting for parents. */
export interface DagView {
  known(ids: Buffer[]): Promise<Set<string>>;
  pending(ids: Buffer[]): Promise<Set<string>>;
}

export interface JudgeOptions {
  nowMs: number;
  /** A state heard longer ago than this says nothing about now. */
  staleAfterMs: number;
  /** The peer subscribes to the context's topic now. */
  connected: boolean;
  /** Our sync status (its backoff explains a lasting difference). */
  sync?: admin.SyncStatus;
}

export interface Judgement {
  verdict: Verdict;
  reason: string;
  /** Whether the peer counts for the context's convergence (a non-member does not). */
  counted: boolean;
}

/**
 * Failure labels that say the peer is no one we must agree with: it does not prove a member
 * identity at our cut, or it does not host the context (a relay, a node that left).
 */
const NOT_COUNTED_FAILURES: ReadonlySet<string> = new Set(['peer_not_member', 'refused_unknown_context']);
/** Failure labels that say we could not reach the peer at all. */
const UNREACHABLE_FAILURES: ReadonlySet<string> = new Set(['stream_failed', 'timeout', 'network_unavailable']);

const shortIds = (ids: string[]): string =>
  ids
    .slice(0, 3)
    .map((h) => toBase58(Buffer.from(h, 'hex')))
    .join(', ') + (ids.length > 3 ? ` and ${ids.length - 3} more` : '');

function failureText(failure: PeerFailureRecord): string {
  if (failure.reason === 'peer_not_member') return `peer not a member at our cut (${failure.message})`;
  if (failure.reason === 'refused_unknown_context') return 'peer does not host the context';
  if (failure.reason === 'refused_not_member') return `peer says we are no member at its cut (${failure.message})`;
  if (UNREACHABLE_FAILURES.has(failure.reason)) return `no route to peer (${failure.reason}: ${failure.message})`;
  return `peer did not answer as expected (${failure.reason}: ${failure.message})`;
}

/**
 * How a peer stands against us, from DAG heads first and roots second: the same heads and root
 * are converged; heads of the peer we lack (or hold only pending) put us behind; holding every
 * head of the peer with other heads of our own puts us ahead; the same heads with another root is a
 * real divergence. A peer with no recent state is unknown, and one that failed to prove membership
 * does not count. The reason names what keeps a peer from converging, and adds our sync backoff
 * when there is one.
 */
export async function judgePeer(
  ours: OurState,
  peer: PeerRecord,
  dag: DagView,
  opts: JudgeOptions,
): Promise<Judgement> {
  const failure = peer.failure;
  const state = peer.state;
  const failedLast = failure !== undefined && failure.atMs >= (state?.atMs ?? 0);
  if (failedLast && NOT_COUNTED_FAILURES.has(failure.reason)) {
    return { verdict: Verdict.VERDICT_UNKNOWN, reason: failureText(failure), counted: false };
  }
  if (!state || opts.nowMs - state.atMs > opts.staleAfterMs) {
    const heard = state ? `not heard from for ${Math.round((opts.nowMs - state.atMs) / 1000)} s` : 'not heard from yet';
    const why = failedLast ? failureText(failure) : opts.connected ? heard : `no route to peer (${heard})`;
    return { verdict: Verdict.VERDICT_UNKNOWN, reason: why, counted: true };
  }
  const judged = { ...(await compare(ours, state, dag)), counted: true };
  if (judged.verdict === Verdict.VERDICT_CONVERGED) return judged;
  const extra: string[] = [];
  if (!opts.connected) extra.push('no route to peer (not subscribed to the context topic now)');
  if (failedLast) extra.push(failureText(failure));
  if (opts.sync?.state === admin.SyncStatus_State.STATE_BACKING_OFF) {
    extra.push(`sync backing off after ${opts.sync.lastError || 'a failure'} (retry in ${opts.sync.retryInSecs} s)`);
  }
  return { ...judged, reason: [judged.reason, ...extra].join('; ') };
}

async function compare(ours: OurState, state: PeerStateRecord, dag: DagView): Promise<Omit<Judgement, 'counted'>> {
  if (!ours.initialized) {
    return {
      verdict: state.initialized ? Verdict.VERDICT_BEHIND : Verdict.VERDICT_UNKNOWN,
      reason: state.initialized ? 'we have no state yet: waiting for a snapshot' : 'neither side has state yet',
    };
  }
  if (!state.initialized) return { verdict: Verdict.VERDICT_AHEAD, reason: 'peer has no state yet' };
  const theirRoot = Buffer.from(state.rootHash, 'hex');
  const theirHeads = state.heads.map((h) => Buffer.from(h, 'hex')).filter((h) => !isZeroId(h));
  const ourHeads = ours.heads.filter((h) => !isZeroId(h));
  const sameRoot = ours.rootHash.equals(theirRoot);
  if (sameIdSet(ourHeads, theirHeads)) {
    return sameRoot
      ? { verdict: Verdict.VERDICT_CONVERGED, reason: '' }
      : {
          verdict: Verdict.VERDICT_DIVERGED,
          reason: `same DAG heads, another root (ours ${toBase58(ours.rootHash)}, theirs ${toBase58(theirRoot)}): a state comparison repairs it`,
        };
  }
  const known = await dag.known(theirHeads);
  const pending = await dag.pending(theirHeads.filter((h) => known.has(h.toString('hex'))));
  const unknown = state.heads.filter((h) => !known.has(h));
  const waiting = [...pending];
  if (unknown.length > 0 || waiting.length > 0) {
    const parts: string[] = [];
    if (unknown.length > 0) parts.push(`missing deltas ${shortIds(unknown)} from peer`);
    if (waiting.length > 0) parts.push(`deltas ${shortIds(waiting)} wait here for missing parents`);
    return {
      verdict: Verdict.VERDICT_BEHIND,
      reason: parts.join('; ') + (sameRoot ? ' (same root)' : ''),
    };
  }
  return {
    verdict: Verdict.VERDICT_AHEAD,
    reason: `peer lacks our deltas ${shortIds(ourHeads.filter((h) => !theirHeads.some((t) => t.equals(h))).map((h) => h.toString('hex')))}${sameRoot ? ' (same root)' : ''}`,
  };
}

/** A peer's judgement and record as the admin API shows it. */
export function peerConvergenceOf(peer: PeerRecord, judgement: Judgement, connected: boolean): admin.PeerConvergence {
  const b58 = (h: string) => toBase58(Buffer.from(h, 'hex'));
  return {
    peerId: peer.peer,
    verdict: judgement.verdict,
    reason: judgement.reason,
    counted: judgement.counted,
    peerInitialized: peer.state?.initialized ?? false,
    peerRootHash: peer.state ? b58(peer.state.rootHash) : '',
    peerHeads: (peer.state?.heads ?? []).map(b58),
    heardAtMs: BigInt(peer.state?.atMs ?? 0),
    heardVia: peer.state?.via ?? '',
    connected,
    lastSession: peer.session && {
      protocol: peer.session.protocol,
      outcome: peer.session.outcome,
      bytesSent: BigInt(peer.session.bytesSent),
      bytesReceived: BigInt(peer.session.bytesReceived),
      durationMs: BigInt(peer.session.durationMs),
      atMs: BigInt(peer.session.atMs),
    },
    lastFailure: peer.failure ? `${peer.failure.reason}: ${peer.failure.message}` : '',
    lastFailureAtMs: BigInt(peer.failure?.atMs ?? 0),
  };
}

/** Whether a set of judgements makes the context converged: at least one counted peer, all converged. */
export function contextConverged(judgements: readonly Judgement[]): boolean {
  const counted = judgements.filter((j) => j.counted);
  return counted.length > 0 && counted.every((j) => j.verdict === Verdict.VERDICT_CONVERGED);
}

/** What judging a whole context needs. */
export interface ConvergenceDeps {
  states: Pick<StateStore, 'context' | 'knownDeltas' | 'isPending'>;
  redis: () => Redis;
  catalog: Catalog;
  network: Pick<NetworkClient, 'topicPeers'>;
}

export interface ContextConvergence {
  ours: OurState;
  peers: { record: PeerRecord; judgement: Judgement; connected: boolean }[];
  converged: boolean;
  sync: admin.SyncStatus;
}

/**
 * Judges every remembered peer of a hosted context (`records`, when the caller has just read
 * them) against our state now. Undefined for a context we do not host. Peers we cannot ask about
 * (our network service is away) count as not connected.
 */
export async function assessConvergence(
  deps: ConvergenceDeps,
  contextId: Buffer,
  opts: { staleAfterMs: number; nowMs?: number; records?: PeerRecord[] },
): Promise<ContextConvergence | undefined> {
  const state = await deps.states.context(contextId);
  if (!state) return undefined;
  const nowMs = opts.nowMs ?? Date.now();
  const ours: OurState = { initialized: state.initialized, rootHash: state.rootHash, heads: state.heads };
  const [records, book, subscribers] = await Promise.all([
    opts.records ?? readPeers(deps.redis(), deps.catalog, contextId),
    readSyncBook(deps.redis(), deps.catalog, contextId),
    deps.network
      .topicPeers(contextTopic(contextId))
      .then((t) => new Set(t.subscribers))
      .catch(() => new Set<string>()),
  ]);
  const sync = syncStatusOf(book, nowMs);
  const dag: DagView = {
    known: (ids) => deps.states.knownDeltas(contextId, ids),
    pending: async (ids) => {
      const out = new Set<string>();
      for (const id of ids) if (await deps.states.isPending(contextId, id)) out.add(id.toString('hex'));
      return out;
    },
  };
  const peers = await Promise.all(
    records.map(async (record) => {
      const connected = subscribers.has(record.peer);
      const judgement = await judgePeer(ours, record, dag, { nowMs, staleAfterMs: opts.staleAfterMs, connected, sync });
      return { record, judgement, connected };
    }),
  );
  peers.sort((a, b) => a.record.peer.localeCompare(b.record.peer));
  return { ours, peers, converged: contextConverged(peers.map((p) => p.judgement)), sync };
}
