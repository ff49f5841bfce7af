/** Bad input from peers: rejected and counted, never a crash. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { multiaddr } from '@multiformats/multiaddr';
import { peerIdFromString } from '@libp2p/peer-id';
import { RelayedStream, SYNC_PROTOCOL } from '@cnode/bus';
import { metricValue, plainLibp2pNode, waitFor, type PlainLibp2pNode } from '@cnode/testing';
import { Cluster, gossipEvents, streamOpenedEvents, waitForSubscribers, type TestNode } from './harness.js';

const TOPIC = 'hostile-topic';
const MIB = 1024 * 1024;
const cluster = new Cluster();
let cnode: TestNode;
let plain: PlainLibp2pNode;

beforeAll(async () => {
  await cluster.connect();
  cnode = await cluster.add();
  // The attacker lets itself publish large messages.
  plain = await plainLibp2pNode({ maxInboundDataLength: 8 * MIB });
  plain.services.pubsub.subscribe(TOPIC);
  await cnode.client.subscribe(TOPIC);
  await plain.dial(multiaddr(cnode.addr));
  await waitForSubscribers(cnode, TOPIC, [plain.peerId.toString()]);
  await waitFor(() => plain.services.pubsub.getSubscribers(TOPIC).length > 0, { message: 'plain to see cnode' });
});

afterAll(async () => {
  await plain?.stop();
  await cluster.close();
});

const metric = (name: string, labels: Record<string, string> = {}): Promise<number> =>
  metricValue(cnode.service.registry, name, labels);

/** Opens a raw stream from the attacker and lets a test owner attach on cnode's side. */
async function rawStreamWithOwner(): Promise<{ send: (bytes: Uint8Array) => void; owned: RelayedStream }> {
  const seen = streamOpenedEvents(cnode).length;
  const stream = await plain.dialProtocol(peerIdFromString(cnode.peerId), SYNC_PROTOCOL);
  const opened = await waitFor(() => streamOpenedEvents(cnode)[seen], { message: 'cnode to announce the stream' });
  const owned = RelayedStream.accept({ nc: cluster.nc, catalog: cnode.catalog, idleTimeoutMs: 30_000 }, opened);
  return { send: (bytes) => void stream.send(bytes), owned };
}

describe('hostile input', () => {
  it('rejects and counts a gossip message over 1 MiB', async () => {
    await plain.services.pubsub.publish(TOPIC, randomBytes(MIB + 1024));
    await waitFor(
      async () => (await metric('network_gossip_rejected_total', { direction: 'in', reason: 'oversize' })) === 1,
      {
        message: 'the oversize message to be counted',
      },
    );
    expect(gossipEvents(cnode, TOPIC)).toHaveLength(0);
    // Still serving: a normal message goes through afterwards.
    await plain.services.pubsub.publish(TOPIC, Buffer.from('small'));
    await waitFor(() => gossipEvents(cnode, TOPIC).length === 1, { message: 'a normal message after it' });
    expect(cnode.service.handle.isReady()).toBe(true);
  });

  it('resets a stream whose frame header announces more than 8 MiB, and counts it', async () => {
    const { send, owned } = await rawStreamWithOwner();
    const header = Buffer.alloc(4);
    header.writeUInt32BE(8 * MIB + 1);
    send(Buffer.concat([header, randomBytes(1024)]));
    await expect(owned.readFrame()).rejects.toMatchObject({ meta: { reason: 'frame_too_large' } });
    expect(await metric('network_streams_closed_total', { reason: 'frame_too_large' })).toBe(1);
  });

  it('resets and counts a stream of random bytes', async () => {
    const { send, owned } = await rawStreamWithOwner();
    const noise = randomBytes(4096);
    // Random bytes read as a length prefix claim far more than 8 MiB (first byte forced non-zero).
    noise[0] = 0x80 | (noise[0] ?? 0);
    send(noise);
    await expect(owned.readFrame()).rejects.toMatchObject({ code: 'BUS_STREAM_RESET' });
    expect(await metric('network_streams_closed_total', { reason: 'frame_too_large' })).toBe(2);
    expect(cnode.service.handle.isReady()).toBe(true);
  });

  it('refuses an unknown protocol without harm', async () => {
    await expect(plain.dialProtocol(peerIdFromString(cnode.peerId), '/calimero/stream/pb/999')).rejects.toThrow();
    await expect(plain.dialProtocol(peerIdFromString(cnode.peerId), '/evil/1.0.0')).rejects.toThrow();
    expect(cnode.service.handle.isReady()).toBe(true);
    expect(streamOpenedEvents(cnode)).toHaveLength(2);
  });

  it('resets and counts an inbound stream nobody attaches to', async () => {
    await cluster.nodes[0]!.stop();
    const node = await cluster.add({ env: { NETWORK_STREAM_ATTACH_TIMEOUT: '300ms' } });
    await plain.dial(multiaddr(node.addr));
    const stream = await plain.dialProtocol(peerIdFromString(node.peerId), SYNC_PROTOCOL);
    await waitFor(
      async () =>
        (await metricValue(node.service.registry, 'network_streams_closed_total', { reason: 'not_accepted' })) === 1,
      { message: 'the unattached stream to be reset' },
    );
    await waitFor(() => stream.status !== 'open', { message: 'the attacker to see its stream reset' });
  });
});
