import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { errorMessage, type Logger, type Startable } from '@cnode/runtime';
import type { Host } from '../host/libp2p-host.js';
import type { NetworkMetrics } from '../metrics.js';

interface BootstrapPeer {
  addr: Multiaddr;
  peer: string;
}

/**
 * Keeps the node connected to its bootstrap peers: dials each at start and, every interval, again
 * whichever is not connected (they restart, networks flap). Addresses must end in /p2p/<peer id>.
 */
export class BootstrapDialer implements Startable {
  readonly name = 'bootstrap';
  private readonly peers: BootstrapPeer[];
  private timer: NodeJS.Timeout | undefined;
  private host: Host | undefined;

  constructor(
    addrs: string[],
    private readonly opts: { intervalMs: number; dialTimeoutMs: number; metrics: NetworkMetrics; logger: Logger },
  ) {
    this.peers = addrs.map((text) => {
      const addr = multiaddr(text);
      const peer = addr.getComponents().find((c) => c.name === 'p2p')?.value;
      if (!peer) throw new Error(`bootstrap address must end in /p2p/<peer id>: ${text}`);
      return { addr, peer };
    });
  }

  attach(host: Host): void {
    this.host = host;
  }

  async start(): Promise<void> {
    if (this.peers.length === 0) return;
    this.dialMissing();
    this.timer = setInterval(() => this.dialMissing(), this.opts.intervalMs);
    this.timer.unref();
  }

  private dialMissing(): void {
    const host = this.host;
    if (!host) return;
    const connected = new Set(host.getPeers().map(String));
    for (const { addr, peer } of this.peers) {
      if (connected.has(peer) || peer === host.peerId.toString()) continue;
      host.dial(addr, { signal: AbortSignal.timeout(this.opts.dialTimeoutMs) }).then(
        () => this.opts.metrics.commands.inc({ command: 'bootstrap-dial', outcome: 'ok' }),
        (err: unknown) => {
          this.opts.metrics.commands.inc({ command: 'bootstrap-dial', outcome: 'error' });
          this.opts.logger.debug({ addr: addr.toString(), err: errorMessage(err) }, 'Bootstrap dial failed');
        },
      );
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.host = undefined;
  }
}
