import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { backoffMs, errorMessage, type Logger, type Startable } from '@cnode/runtime';
import type { Host } from '../host/libp2p-host.js';
import type { NetworkMetrics } from '../metrics.js';
import type { PeerBookRepo } from './peer-book-repo.js';

/** A known peer that failed to answer is tried again after 2^n × this, at most REDIAL_BACKOFF_MAX_MS. */
export const REDIAL_BACKOFF_BASE_MS = 5_000;
export const REDIAL_BACKOFF_MAX_MS = 600_000;

interface Target {
  /** The target's key: its peer id, or (a bootstrap address without one) `addr:<address>`. */
  peer: string;
  addrs: Multiaddr[];
  /** Bootstrap peers are dialed every round; known peers back off while they fail. */
  bootstrap: boolean;
}

const ADDRESS_KEY = 'addr:';

/**
 * A bootstrap address and the peer id it ends in. Without `/p2p/<peer id>` (a name in a compose
 * or cluster network, whose identity is not known in advance) the peer id is learned from the
 * handshake of the first dial; the address is then trusted for whoever answers on it.
 */
export function peerOfAddr(text: string): { addr: Multiaddr; peer: string | undefined } {
  const addr = multiaddr(text);
  return { addr, peer: addr.getComponents().find((c) => c.name === 'p2p')?.value };
}

/**
 * Keeps the node connected: at start and every interval it dials whichever of its bootstrap peers
 * (`NETWORK_BOOTSTRAP`) and of the most recently seen peers of the peer book
 * (`NETWORK_REDIAL_PEERS`) is not connected. A restarted node finds its peers again this way, and
 * so does a node whose connections broke (a partition, a peer restart on the same address).
 * Known peers that fail back off exponentially; bootstrap peers are always retried.
 */
export class Redialer implements Startable {
  readonly name = 'redialer';
  private readonly bootstrap: Target[];
  private readonly failures = new Map<string, { count: number; retryAt: number }>();
  /** Peer ids learned for bootstrap addresses that named none (bounded by NETWORK_BOOTSTRAP). */
  private readonly learned = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private host: Host | undefined;
  private round: Promise<void> | undefined;

  constructor(
    bootstrapAddrs: string[],
    private readonly opts: {
      book: () => PeerBookRepo;
      knownPeers: number;
      intervalMs: number;
      dialTimeoutMs: number;
      metrics: NetworkMetrics;
      logger: Logger;
    },
  ) {
    const byPeer = new Map<string, Multiaddr[]>();
    for (const text of bootstrapAddrs) {
      const { addr, peer } = peerOfAddr(text);
      const key = peer ?? `${ADDRESS_KEY}${addr.toString()}`;
      byPeer.set(key, [...(byPeer.get(key) ?? []), addr]);
    }
    this.bootstrap = [...byPeer].map(([peer, addrs]) => ({ peer, addrs, bootstrap: true }));
  }

  attach(host: Host): void {
    this.host = host;
  }

  async start(): Promise<void> {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.opts.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.host = undefined;
    await this.round;
  }

  private tick(): void {
    this.round ??= this.dialMissing()
      .catch((err: unknown) => this.opts.logger.warn({ err: errorMessage(err) }, 'Redial round failed'))
      .finally(() => (this.round = undefined));
  }

  private async targets(): Promise<Target[]> {
    const known = this.opts.knownPeers > 0 ? await this.opts.book().recent(this.opts.knownPeers) : [];
    const targets = new Map(this.bootstrap.map((t) => [t.peer, t]));
    for (const k of known) {
      if (targets.has(k.peer)) continue;
      const addrs = k.addrs.flatMap((a) => {
        try {
          return [multiaddr(a)];
        } catch {
          return [];
        }
      });
      if (addrs.length > 0) targets.set(k.peer, { peer: k.peer, addrs, bootstrap: false });
    }
    // Backoff bookkeeping only for peers still worth dialing (bounded by the targets).
    for (const peer of this.failures.keys()) if (!targets.has(peer)) this.failures.delete(peer);
    return [...targets.values()];
  }

  private async dialMissing(): Promise<void> {
    const targets = await this.targets();
    const host = this.host;
    if (!host) return;
    const connected = new Set(host.getPeers().map(String));
    const now = Date.now();
    await Promise.all(
      targets.map(async (t) => {
        const peer = this.learned.get(t.peer) ?? t.peer;
        if (connected.has(peer) || peer === host.peerId.toString()) {
          this.failures.delete(t.peer);
          return;
        }
        const failed = this.failures.get(t.peer);
        if (!t.bootstrap && failed && now < failed.retryAt) return;
        const command = t.bootstrap ? 'bootstrap-dial' : 'redial';
        try {
          const connection = await host.dial(t.addrs, { signal: AbortSignal.timeout(this.opts.dialTimeoutMs) });
          if (t.peer.startsWith(ADDRESS_KEY)) this.learned.set(t.peer, connection.remotePeer.toString());
          this.failures.delete(t.peer);
          this.opts.metrics.commands.inc({ command, outcome: 'ok' });
        } catch (err) {
          const count = (failed?.count ?? 0) + 1;
          this.failures.set(t.peer, {
            count,
            retryAt: Date.now() + backoffMs(count - 1, REDIAL_BACKOFF_BASE_MS, REDIAL_BACKOFF_MAX_MS),
          });
          this.opts.metrics.commands.inc({ command, outcome: 'error' });
          this.opts.logger.debug(
            { peer: t.peer, failures: count, err: errorMessage(err) },
            'Dial of a known peer failed',
          );
        }
      }),
    );
  }
}
