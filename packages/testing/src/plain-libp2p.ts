import { createLibp2p } from 'libp2p';
import { tcp } from '@libp2p/tcp';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify } from '@libp2p/identify';
import { ping } from '@libp2p/ping';
import { gossipsub } from '@libp2p/gossipsub';

/**
 * A js-libp2p node with gossipsub, built from the libraries alone (no cnode code): the interop and
 * attacker peer of tests, and the raw baseline of benchmarks. Listens on loopback.
 */
export function plainLibp2pNode(opts: { maxInboundDataLength?: number } = {}) {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, floodPublish: true, ...opts }),
    },
  });
}

export type PlainLibp2pNode = Awaited<ReturnType<typeof plainLibp2pNode>>;
