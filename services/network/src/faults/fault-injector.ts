import type { bus } from '@cnode/proto';
import type { Logger } from '@cnode/runtime';
import { NetworkError, NetworkErrorCode } from '../errors.js';
import type { NetworkMetrics } from '../metrics.js';

/** The longest hold-back of inbound gossip a test may ask for. */
const MAX_GOSSIP_DELAY_MS = 60_000;
/** Most peers one request may block. */
const MAX_BLOCKED_PEERS = 1024;
/** Most inbound gossip messages held back at once; beyond, a message is handled without delay. */
const MAX_HELD_GOSSIP = 10_000;

/**
 * Test-only faults (NETWORK_FAULT_INJECTION): the chaos suite makes a node lose, duplicate and
 * delay the gossip it receives and refuse chosen peers, which is how it partitions a cluster of
 * real nodes. Built only when the flag is on; otherwise nothing of it runs and `inject-faults` is
 * not served. Every fault it injects is counted in `network_injected_faults_total{kind}`.
 */
export class FaultInjector {
  private faults: bus.InjectFaultsRequest = {
    gossipLoss: 0,
    gossipDuplication: 0,
    gossipDelayMaxMs: 0,
    blockedPeers: [],
  };
  private blocked = new Set<string>();
  /** Gossip messages held back right now (bounded by MAX_HELD_GOSSIP). */
  private held = 0;

  constructor(
    private readonly deps: {
      metrics: NetworkMetrics;
      logger: Logger;
      /** Closes every connection to a peer. */
      hangUp: (peer: string) => Promise<void>;
      /** Peers we are connected to. */
      connectedPeers: () => string[];
      random?: () => number;
    },
  ) {
    deps.logger.warn('Fault injection is on (NETWORK_FAULT_INJECTION): for tests only');
  }

  /** Replaces the faults in force; peers blocked now are hung up on. Returns how many. */
  async apply(req: bus.InjectFaultsRequest): Promise<number> {
    const chance = (name: string, p: number) => {
      if (!(p >= 0 && p <= 1)) throw new NetworkError(NetworkErrorCode.BadArgument, `${name} must be within 0..1`);
    };
    chance('gossip_loss', req.gossipLoss);
    chance('gossip_duplication', req.gossipDuplication);
    if (req.gossipDelayMaxMs > MAX_GOSSIP_DELAY_MS) {
      throw new NetworkError(
        NetworkErrorCode.BadArgument,
        `gossip_delay_max_ms must be at most ${MAX_GOSSIP_DELAY_MS}`,
      );
    }
    if (req.blockedPeers.length > MAX_BLOCKED_PEERS) {
      throw new NetworkError(NetworkErrorCode.BadArgument, `at most ${MAX_BLOCKED_PEERS} blocked peers`);
    }
    this.faults = req;
    this.blocked = new Set(req.blockedPeers);
    const cut = this.deps.connectedPeers().filter((p) => this.blocked.has(p));
    await Promise.all(cut.map((peer) => this.deps.hangUp(peer)));
    this.deps.metrics.injectedFaults.inc({ kind: 'peer_blocked' }, cut.length);
    this.deps.logger.warn(
      {
        gossipLoss: req.gossipLoss,
        gossipDuplication: req.gossipDuplication,
        gossipDelayMaxMs: req.gossipDelayMaxMs,
        blockedPeers: req.blockedPeers,
        hungUp: cut.length,
      },
      'Injected network faults',
    );
    return cut.length;
  }

  /** Whether connections with the peer are refused (the connection gater asks). */
  isBlocked(peer: string): boolean {
    return this.blocked.has(peer);
  }

  /** Handles one inbound gossip message the way the faults say: not at all, later, or twice. */
  gossip(handle: () => void): void {
    const random = this.deps.random ?? Math.random;
    const { gossipLoss, gossipDuplication, gossipDelayMaxMs } = this.faults;
    if (gossipLoss > 0 && random() < gossipLoss) {
      this.deps.metrics.injectedFaults.inc({ kind: 'gossip_lost' });
      return;
    }
    const copies = gossipDuplication > 0 && random() < gossipDuplication ? 2 : 1;
    if (copies > 1) this.deps.metrics.injectedFaults.inc({ kind: 'gossip_duplicated' });
    for (let i = 0; i < copies; i++) {
      const delay = gossipDelayMaxMs > 0 ? Math.floor(random() * gossipDelayMaxMs) : 0;
      if (delay === 0) {
        handle();
        continue;
      }
      if (this.held >= MAX_HELD_GOSSIP) {
        this.deps.metrics.injectedFaults.inc({ kind: 'gossip_delay_skipped_full' });
        handle();
        continue;
      }
      this.deps.metrics.injectedFaults.inc({ kind: 'gossip_delayed' });
      this.held++;
      setTimeout(() => {
        this.held--;
        handle();
      }, delay).unref();
    }
  }
}
