/** A plain js-libp2p node, built in the test from the libraries alone, talks gossip with cnode. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { multiaddr } from '@multiformats/multiaddr';
import type { Message } from '@libp2p/gossipsub';
import { plainLibp2pNode, waitFor, type PlainLibp2pNode } from '@cnode/testing';
import { Cluster, gossipEvents, waitForSubscribers, type TestNode } from './harness.js';

const TOPIC = 'interop-topic';
const cluster = new Cluster();
let cnode: TestNode;
let plain: PlainLibp2pNode;
const received: Message[] = [];

beforeAll(async () => {
  await cluster.connect();
  cnode = await cluster.add();
  plain = await plainLibp2pNode();
  plain.services.pubsub.addEventListener('message', (evt) => void received.push(evt.detail));
  plain.services.pubsub.subscribe(TOPIC);
  await cnode.client.subscribe(TOPIC);
  await plain.dial(multiaddr(cnode.addr));
  await waitForSubscribers(cnode, TOPIC, [plain.peerId.toString()]);
  await waitFor(() => plain.services.pubsub.getSubscribers(TOPIC).some((p) => p.toString() === cnode.peerId), {
    message: 'the plain node to see cnode subscribed',
  });
});

afterAll(async () => {
  await plain?.stop();
  await cluster.close();
});

describe('interop with a plain js-libp2p node', () => {
  it('the plain node receives what cnode publishes', async () => {
    const res = await cnode.client.publish(TOPIC, Buffer.from('from cnode'));
    expect(res.recipients).toBe(1);
    await waitFor(() => received.length === 1, { message: 'the plain node to receive' });
    expect(received[0]).toMatchObject({ topic: TOPIC, type: 'signed' });
    expect(Buffer.from(received[0]!.data).toString()).toBe('from cnode');
    expect(received[0]!.type === 'signed' && received[0]!.from.toString()).toBe(cnode.peerId);
  });

  it('cnode delivers what the plain node publishes to NET_EVENTS', async () => {
    await plain.services.pubsub.publish(TOPIC, new TextEncoder().encode('from plain'));
    const [message] = await waitFor(
      () => {
        const got = gossipEvents(cnode, TOPIC);
        return got.length > 0 ? got : undefined;
      },
      { message: 'cnode to deliver the gossip' },
    );
    expect(message).toMatchObject({ topic: TOPIC, sourcePeer: plain.peerId.toString() });
    expect(message!.data.toString()).toBe('from plain');
    expect(message!.messageId.length).toBeGreaterThan(0);
  });
});
