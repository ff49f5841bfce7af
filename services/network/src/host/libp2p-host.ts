import { createLibp2p, type Libp2p } from 'libp2p';
import { tcp } from '@libp2p/tcp';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify, type Identify } from '@libp2p/identify';
import { ping, type Ping } from '@libp2p/ping';
import { gossipsub, type GossipSub } from '@libp2p/gossipsub';
import { kadDHT, passthroughMapper, type KadDHT } from '@libp2p/kad-dht';
import { mdns } from '@libp2p/mdns';
import type { Connection, PrivateKey, Stream } from '@libp2p/interface';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, type Logger, type Startable } from '@cnode/runtime';
import {
  DHT_MAX_RECORD_BYTES,
  DHT_RECORD_NAMESPACE,
  GOSSIP_MAX_RPC_BYTES,
  KAD_PROTOCOL,
  RELAYED_PROTOCOLS,
  YAMUX_MAX_STREAM_WINDOW_BYTES,
} from '../constants.js';

// A type alias (not an interface) so it satisfies libp2p's indexable ServiceMap.
export type HostServices = {
  identify: Identify;
  ping: Ping;
  pubsub: GossipSub;
  dht: KadDHT;
};

export type Host = Libp2p<HostServices>;

export interface HostOptions {
  privateKey: () => PrivateKey;
  listen: string[];
  announce: string[];
  mdns: boolean;
  /** Inbound streams per connection on each relayed protocol. */
  maxInboundStreams: number;
  /** Where `network.json` (peer id and addresses, for local tools such as the devnet launcher) goes. */
  home: string;
  logger: Logger;
  /** Called when a peer opens a stream on a relayed protocol; must not block. */
  onInboundStream(stream: Stream, connection: Connection): void;
  /** Called once the host runs, before anything else may use it. */
  onStarted(host: Host): void;
  /** Peers we neither dial nor accept (banned for invalid gossip). */
  isBanned(peer: string): boolean;
}

/** DHT records: `/calimero/<hex>` keys, values of at most 256 bytes (upstream's Kad limits). */
function validateRecord(_key: Uint8Array, value: Uint8Array): void {
  if (value.length > DHT_MAX_RECORD_BYTES) {
    throw new Error(`record value of ${value.length} bytes exceeds ${DHT_MAX_RECORD_BYTES}`);
  }
}

/**
 * The libp2p host: TCP, noise, yamux, identify, ping, gossipsub (signed, flood publish, upstream mesh
 * sizes), Kademlia, optional mDNS, and the relayed stream protocols.
 */
export class Libp2pHost implements Startable {
  readonly name = 'libp2p';
  private node: Host | undefined;

  constructor(private readonly opts: HostOptions) {}

  get libp2p(): Host {
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
      streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: YAMUX_MAX_STREAM_WINDOW_BYTES } })],
      peerDiscovery: this.opts.mdns ? [mdns()] : [],
      connectionGater: {
        denyDialPeer: (peer) => this.opts.isBanned(peer.toString()),
        denyInboundEncryptedConnection: (peer) => this.opts.isBanned(peer.toString()),
        denyOutboundEncryptedConnection: (peer) => this.opts.isBanned(peer.toString()),
      },
      services: {
        identify: identify(),
        ping: ping(),
        pubsub: gossipsub({
          globalSignaturePolicy: 'StrictSign',
          floodPublish: true,
          // "No peers" is reported by the publish command, not thrown (upstream ignores it on context topics).
          allowPublishToZeroTopicPeers: true,
          emitSelf: false,
          D: 4,
          Dlo: 2,
          Dhi: 8,
          Dout: 1,
          pruneBackoff: 1_000,
          unsubcribeBackoff: 1_000,
          maxInboundDataLength: GOSSIP_MAX_RPC_BYTES,
        }),
        dht: kadDHT({
          protocol: KAD_PROTOCOL,
          clientMode: false,
          // Keep every address: nodes on one host or a private network must find each other.
          peerInfoMapper: passthroughMapper,
          validators: { [DHT_RECORD_NAMESPACE]: validateRecord },
          selectors: { [DHT_RECORD_NAMESPACE]: () => 0 },
        }),
      },
    });
    for (const protocol of RELAYED_PROTOCOLS) {
      await node.handle(protocol, (stream, connection) => this.opts.onInboundStream(stream, connection), {
        maxInboundStreams: this.opts.maxInboundStreams,
        maxOutboundStreams: this.opts.maxInboundStreams,
      });
    }
    this.node = node;
    this.opts.onStarted(node);
    this.opts.logger.info(
      { peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(String) },
      'libp2p host listening',
    );
    await this.writeEndpointFile(node).catch((err: unknown) =>
      this.opts.logger.warn({ home: this.opts.home, err: errorMessage(err) }, 'Could not write network.json'),
    );
  }

  private async writeEndpointFile(node: Host): Promise<void> {
    await mkdir(this.opts.home, { recursive: true, mode: 0o700 });
    const endpoint = { peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(String), startedAt: Date.now() };
    await writeFile(join(this.opts.home, 'network.json'), `${JSON.stringify(endpoint, null, 2)}\n`);
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
