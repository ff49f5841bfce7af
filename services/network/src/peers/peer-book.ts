import type { IdentifyResult } from '@libp2p/interface';
import { errorMessage, type Logger, type Startable } from '@cnode/runtime';
import type { NetworkMetrics } from '../metrics.js';
import type { PeerBookRepo } from './peer-book-repo.js';

/** Addresses kept per peer (a peer listening on many interfaces needs only a few that work). */
export const PEER_BOOK_ADDRS_PER_PEER = 8;
/** Identify results waiting to be written; past this, new ones are dropped and counted. */
export const PEER_BOOK_PENDING_MAX = 1024;

/**
 * Remembers the peers we get connected to (their identified listen addresses) in Postgres, so a
 * restarted node can dial them again. libp2p callbacks only put the result in a bounded map (one
 * entry per peer, the newest wins); one loop writes them, so a slow database never blocks libp2p.
 */
export class PeerBook implements Startable {
  readonly name = 'peer-book';
  private readonly pending = new Map<string, string[]>();
  private writing: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly repo: () => PeerBookRepo,
    private readonly opts: { metrics: NetworkMetrics; logger: Logger },
  ) {}

  async start(): Promise<void> {
    this.opts.metrics.peerBookPeers.set(await this.repo().count());
  }

  /** A peer was identified: remember where it listens (TCP addresses only, ours to dial). */
  onIdentify = (result: IdentifyResult): void => {
    if (this.stopped) return;
    const peer = result.peerId.toString();
    const addrs = result.listenAddrs
      .map(String)
      .filter((a) => a.includes('/tcp/') && !a.includes('/p2p-circuit'))
      .slice(0, PEER_BOOK_ADDRS_PER_PEER)
      .map((a) => (a.includes('/p2p/') ? a : `${a}/p2p/${peer}`));
    if (addrs.length === 0) {
      this.opts.metrics.peerBookDropped.inc({ reason: 'no_dialable_address' });
      return;
    }
    if (!this.pending.has(peer) && this.pending.size >= PEER_BOOK_PENDING_MAX) {
      this.opts.metrics.peerBookDropped.inc({ reason: 'pending_full' });
      return;
    }
    this.pending.set(peer, addrs);
    this.writing ??= this.drain().finally(() => (this.writing = undefined));
  };

  private async drain(): Promise<void> {
    while (this.pending.size > 0) {
      const [peer, addrs] = this.pending.entries().next().value!;
      this.pending.delete(peer);
      try {
        await this.repo().remember(peer, addrs);
      } catch (err) {
        this.opts.metrics.peerBookDropped.inc({ reason: 'write_failed' });
        this.opts.logger.warn({ peer, err: errorMessage(err) }, 'Could not remember a peer');
      }
    }
    this.opts.metrics.peerBookPeers.set(
      await this.repo()
        .count()
        .catch(() => 0),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.writing;
  }
}
