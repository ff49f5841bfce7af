import { TopicValidatorResult } from '@libp2p/gossipsub';
import { GOSSIP_MAX_MESSAGE_BYTES } from '@cnode/primitives';
import { wire } from '@cnode/proto';
import { BoundedCache, CacheEviction, type Logger, type Registry } from '@cnode/runtime';
import { GOSSIP_GUARD_MAX_PEERS, PEER_STRIKE_WINDOW_MS } from '../constants.js';
import { GossipRejectReason, type NetworkMetrics } from '../metrics.js';
import { topicKind, TopicKind } from './topic-kind.js';

/** Refusals other services may report against a peer (anything else is counted as "other"). */
const REPORTABLE: ReadonlySet<string> = new Set(['not_member', 'bad_signature', 'id_mismatch', 'malformed']);

export interface GossipGuardLimits {
  /** Messages per second one peer may send us (its bucket holds two seconds' worth). */
  peerRate: number;
  /** Refused messages within PEER_STRIKE_WINDOW_MS that get a peer banned. */
  strikes: number;
  /** How long a banned peer stays refused. */
  banMs: number;
}

interface PeerBook {
  tokens: number;
  refilledAtMs: number;
  strikes: number[];
}

/**
 * What gossip a peer may make us handle, decided in gossipsub's topic validator (before a message
 * is forwarded to the mesh or handed to the bus). A message must fit the size cap and, on a context
 * or group topic, decode as a BroadcastMessage of a known variant — else it is rejected (never forwarded) and is a strike
 * against the peer that sent it; a peer past `peerRate` messages a second has the excess ignored;
 * a peer with `strikes` refused messages within a minute is banned for `banMs`: disconnected, and
 * neither dialled nor accepted until the ban ends. Services that refuse what a peer gossiped for
 * reasons only they can see (a delta by a non-member) report strikes too (`report`). Every refusal
 * is counted by reason. A single peer can thus cost us at most its rate in work, and junk costs it
 * its connection.
 */
export class GossipGuard {
  /** Each peer's bucket and strikes, least recently heard from forgotten first. */
  private readonly peers: BoundedCache<string, PeerBook>;
  /** Banned peers → when the ban ends. */
  private readonly banned: BoundedCache<string, number>;

  constructor(
    private readonly limits: GossipGuardLimits,
    private readonly deps: {
      metrics: NetworkMetrics;
      logger: Logger;
      /** Closes every connection to the peer. */
      hangUp(peer: string): void;
      /** Where the two caches' bounds, sizes and evictions are exported. */
      registry?: Registry;
      now?: () => number;
    },
  ) {
    this.peers = new BoundedCache('gossip_guard_peers', GOSSIP_GUARD_MAX_PEERS, deps.registry);
    this.banned = new BoundedCache('gossip_guard_bans', GOSSIP_GUARD_MAX_PEERS, deps.registry);
  }

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  /** Whether the peer is banned now (the connection gater asks). */
  isBanned(peer: string): boolean {
    return this.banned.get(peer, (until) => until > this.now()) !== undefined;
  }

  /**
   * The topic validator's verdict on one message from `peer`. The shape is checked on context and
   * group topics (what carries replicated state); other topics are node-manager's to judge.
   */
  check(peer: string, topic: string, data: Uint8Array): TopicValidatorResult {
    if (this.isBanned(peer)) return this.refuse(GossipRejectReason.Banned, TopicValidatorResult.Ignore);
    const book = this.book(peer);
    const now = this.now();
    book.tokens = Math.min(
      2 * this.limits.peerRate,
      book.tokens + ((now - book.refilledAtMs) / 1000) * this.limits.peerRate,
    );
    book.refilledAtMs = now;
    if (book.tokens < 1) return this.refuse(GossipRejectReason.PeerRate, TopicValidatorResult.Ignore);
    book.tokens -= 1;
    if (data.length > GOSSIP_MAX_MESSAGE_BYTES) return this.strike(peer, book, GossipRejectReason.Oversize);
    if (topicKind(topic) === TopicKind.Other) return TopicValidatorResult.Accept;
    let message: wire.BroadcastMessage;
    try {
      message = wire.BroadcastMessage.decode(data);
    } catch {
      return this.strike(peer, book, GossipRejectReason.Malformed);
    }
    if (!message.payload) return this.strike(peer, book, GossipRejectReason.UnknownVariant);
    return TopicValidatorResult.Accept;
  }

  /**
   * Strikes reported by a service that refused what the peer gossiped (state-delta: a delta by a
   * non-member, one that does not verify). Counts like invalid messages; returns whether the peer
   * is banned now.
   */
  report(peer: string, reason: string, count: number): boolean {
    const label = REPORTABLE.has(reason) ? reason : 'other';
    const strikes = Math.min(Math.max(1, count), this.limits.strikes);
    this.deps.metrics.peerReports.inc({ reason: label }, strikes);
    if (this.isBanned(peer)) return true;
    const book = this.book(peer);
    for (let i = 0; i < strikes; i++) {
      this.addStrike(peer, book, `reported_${label}`);
      if (this.isBanned(peer)) return true;
    }
    return false;
  }

  private refuse(reason: GossipRejectReason, result: TopicValidatorResult): TopicValidatorResult {
    this.deps.metrics.gossipRejected.inc({ direction: 'in', reason });
    return result;
  }

  private strike(peer: string, book: PeerBook, reason: GossipRejectReason): TopicValidatorResult {
    this.refuse(reason, TopicValidatorResult.Reject);
    this.addStrike(peer, book, reason);
    return TopicValidatorResult.Reject;
  }

  private addStrike(peer: string, book: PeerBook, reason: string): void {
    const now = this.now();
    book.strikes = book.strikes.filter((at) => now - at < PEER_STRIKE_WINDOW_MS);
    book.strikes.push(now);
    if (book.strikes.length >= this.limits.strikes) this.ban(peer, reason);
  }

  private ban(peer: string, reason: string): void {
    // Its strikes are served: a peer whose ban ends starts afresh.
    this.peers.discard(peer, CacheEviction.Discarded);
    this.banned.set(peer, this.now() + this.limits.banMs);
    this.deps.metrics.peersBanned.inc({ reason });
    this.deps.logger.warn(
      { peer, reason, strikes: this.limits.strikes, banMs: this.limits.banMs },
      'Banned a peer that kept sending invalid gossip',
    );
    this.deps.hangUp(peer);
  }

  /** The peer's bucket and strikes (a new peer starts with a full bucket). */
  private book(peer: string): PeerBook {
    let book = this.peers.get(peer);
    if (!book) {
      book = { tokens: 2 * this.limits.peerRate, refilledAtMs: this.now(), strikes: [] };
      this.peers.set(peer, book);
    }
    return book;
  }
}
