import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { metricValue, waitFor } from '@cnode/testing';
import { Cluster, gossipEvents, subscribedEvents, waitForSubscribers, type TestNode } from './harness.js';

const TOPIC = 'cnode-test-topic';
const cluster = new Cluster();
let a: TestNode;
let b: TestNode;
let c: TestNode;

beforeAll(async () => {
  await cluster.connect();
  a = await cluster.add();
  b = await cluster.add({ bootstrap: [a] });
  c = await cluster.add({ bootstrap: [a] });
  for (const node of [a, b, c]) expect((await node.client.subscribe(TOPIC)).changed).toBe(true);
  await waitForSubscribers(a, TOPIC, [b.peerId, c.peerId]);
  await waitForSubscribers(b, TOPIC, [a.peerId]);
  await waitForSubscribers(c, TOPIC, [a.peerId]);
});

afterAll(async () => {
  await cluster.close();
});

describe('gossip through the network service', () => {
  it('announces peer subscriptions on NET_EVENTS', async () => {
    await waitFor(
      () => subscribedEvents(a, TOPIC).includes(b.peerId) && subscribedEvents(a, TOPIC).includes(c.peerId),
      {
        message: 'a to announce b and c subscribing',
      },
    );
  });

  it('delivers each publish to the two other nodes exactly once per message id', async () => {
    const count = 20;
    for (let i = 0; i < count; i++) {
      const res = await a.client.publish(TOPIC, Buffer.from(`message ${i}`));
      expect(res.noPeers).toBe(false);
      expect(res.recipients).toBeGreaterThanOrEqual(2);
    }
    for (const node of [b, c]) {
      await waitFor(() => gossipEvents(node, TOPIC).length >= count, { message: `${node.name} to receive ${count}` });
    }
    // Give any duplicate time to show up before counting.
    await new Promise((r) => setTimeout(r, 500));
    for (const node of [b, c]) {
      const received = gossipEvents(node, TOPIC);
      expect(received).toHaveLength(count);
      expect(new Set(received.map((m) => m.messageId)).size).toBe(count);
      expect(received.every((m) => m.sourcePeer === a.peerId)).toBe(true);
      expect(received.map((m) => m.data.toString()).sort()).toEqual(
        Array.from({ length: count }, (_, i) => `message ${i}`).sort(),
      );
    }
    expect(gossipEvents(a, TOPIC)).toHaveLength(0);
    expect(
      await metricValue(b.service.registry, 'network_gossip_messages_total', { direction: 'in', topic_kind: 'other' }),
    ).toBe(count);
  });

  it('reports "no peers" distinctly when nobody subscribes', async () => {
    const res = await a.client.publish('nobody-listens-here', Buffer.from('x'));
    expect(res).toEqual({ recipients: 0, noPeers: true });
  });

  it('refuses a malformed topic with a clear error', async () => {
    await expect(a.client.subscribe('')).rejects.toMatchObject({ meta: { code: 'NETWORK_BAD_TOPIC' } });
    await expect(a.client.publish('has space', Buffer.from('x'))).rejects.toMatchObject({
      meta: { code: 'NETWORK_BAD_TOPIC' },
    });
  });

  it('announces an unsubscribe, and subscribe/unsubscribe are idempotent', async () => {
    expect((await c.client.subscribe(TOPIC)).changed).toBe(false);
    expect((await c.client.unsubscribe(TOPIC)).changed).toBe(true);
    expect((await c.client.unsubscribe(TOPIC)).changed).toBe(false);
    await waitFor(() => subscribedEvents(a, TOPIC, false).includes(c.peerId), { message: 'a to see c unsubscribe' });
    expect((await c.client.subscribe(TOPIC)).changed).toBe(true);
    await waitForSubscribers(a, TOPIC, [c.peerId]);
  });

  it('a restarted network service keeps its peer id, its subscriptions and its connections', async () => {
    const before = b.peerId;
    await b.restart();
    expect(b.service.handle.host.libp2p.peerId.toString()).toBe(before);
    // Nobody re-subscribed b by hand: the stored subscription set did it.
    await waitFor(async () => (await b.client.topicPeers(TOPIC)).subscribers.includes(a.peerId), {
      message: 'b to reconnect and see a subscribed',
    });
    await waitForSubscribers(a, TOPIC, [b.peerId]);
    const already = gossipEvents(b, TOPIC).length;
    await a.client.publish(TOPIC, Buffer.from('after restart'));
    await waitFor(() => gossipEvents(b, TOPIC).length === already + 1, { message: 'b to receive after restart' });
    expect(gossipEvents(b, TOPIC).at(-1)?.data.toString()).toBe('after restart');
    const peers = await b.client.listPeers();
    expect(peers.peers.map((p) => p.peer)).toContain(a.peerId);
  });
});
