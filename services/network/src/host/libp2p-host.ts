import { createLibp2p, type Libp2p } from 'libp2p';
import { tcp } from '@libp2p/tcp';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify } from '@libp2p/identify';
import { ping } from '@libp2p/ping';
import type { PrivateKey } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { errorMessage, type Logger, type Startable } from '@cnode/runtime';

export interface HostOptions {
  privateKey: () => PrivateKey;
  listen: string[];
  announce: string[];
  bootstrap: string[];
  logger: Logger;
  /** Called for every libp2p event the node reports; must not block. */
  onPeerConnected(peer: string): void;
  onPeerDisconnected(peer: string): void;
}

/** The libp2p host: TCP, noise, yamux, identify, ping. */
export class Libp2pHost implements Startable {
  readonly name = 'libp2p';
  private node: Libp2p | undefined;

  constructor(private readonly opts: HostOptions) {}

  get libp2p(): Libp2p {
    if (!this.node) throw new Error('libp2p is not started');
    return this.node;
  }

  get isRunning(): boolean {
    return this.node?.status === 'started';
  }

  async start(): Promise<void> {
    const node = await createLibp2p({
      privateKey: this.opts.privateKey(),
      addresses: { listen: this.opts.listen, announce: this.opts.announce },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify(), ping: ping() },
    });
    node.addEventListener('peer:connect', (evt) => this.opts.onPeerConnected(evt.detail.toString()));
    node.addEventListener('peer:disconnect', (evt) => this.opts.onPeerDisconnected(evt.detail.toString()));
    this.node = node;
    this.opts.logger.info(
      { peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(String) },
      'libp2p host listening',
    );
    for (const addr of this.opts.bootstrap) {
      node
        .dial(multiaddr(addr))
        .catch((err: unknown) =>
          this.opts.logger.warn({ addr, err: errorMessage(err) }, 'Failed to dial bootstrap peer'),
        );
    }
  }

  async stop(): Promise<void> {
    const node = this.node;
    this.node = undefined;
    await node?.stop();
  }

  listenAddrs(): string[] {
    return this.node?.getMultiaddrs().map(String) ?? [];
  }

  connectedPeerCount(): number {
    return this.node?.getPeers().length ?? 0;
  }
}
