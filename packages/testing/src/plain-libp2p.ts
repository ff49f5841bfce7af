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
export function plainLibp2pNode(
  opts: { maxInboundDataLength?: number; globalSignaturePolicy?: 'StrictSign' | 'StrictNoSign' } = {},
) {
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

/** The parts of a libp2p stream a framed test peer uses (structural, so no extra dependency). */
export interface RawStream {
  send(data: Uint8Array): boolean;
  onDrain(): Promise<void>;
  close(): Promise<void>;
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array | { subarray(): Uint8Array }>;
}

/**
 * cnode's stream framing (a 4-byte big-endian length, then the frame) over a raw libp2p stream:
 * how a plain peer speaks `/calimero/stream/pb/1` or `/calimero/blob/pb/1` in tests.
 */
export function framedStream(stream: RawStream) {
  const source = stream[Symbol.asyncIterator]();
  let buffered = Buffer.alloc(0);
  let ended = false;
  return {
    async writeFrame(frame: Uint8Array): Promise<void> {
      const header = Buffer.alloc(4);
      header.writeUInt32BE(frame.length, 0);
      if (!stream.send(Buffer.concat([header, frame]))) await stream.onDrain();
    },
    /** The next whole frame, or undefined once the remote closed its end. */
    async readFrame(): Promise<Buffer | undefined> {
      for (;;) {
        if (buffered.length >= 4) {
          const length = buffered.readUInt32BE(0);
          if (buffered.length >= 4 + length) {
            const frame = buffered.subarray(4, 4 + length);
            buffered = buffered.subarray(4 + length);
            return frame;
          }
        }
        if (ended) return undefined;
        const next = await source.next();
        if (next.done) ended = true;
        else
          buffered = Buffer.concat([buffered, next.value instanceof Uint8Array ? next.value : next.value.subarray()]);
      }
    },
    close: () => stream.close(),
  };
}
