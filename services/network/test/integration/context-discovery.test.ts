/**
 * Context peer discovery: members of a context topic announce it as a DHT provider key, so two
 * members that only know a third node (not a member) find and reach each other through it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { metricValue, waitFor } from '@cnode/testing';
import { topicProviderKey } from '../../src/peers/context-discovery.js';
import { Cluster, waitForSubscribers, type TestNode } from './harness.js';

const cluster = new Cluster();
let hub: TestNode;
let b: TestNode;
let c: TestNode;
/** A context topic (a base58 context id) and a topic of another kind. */
const topic = '8uyP2WQXr3cBf7jFzGq1vLmN5tKhE9sDaR4pYwVx6ZJo';
const otherTopic = 'not-a-context';
const env = { NETWORK_REDIAL_PEERS: '0', NETWORK_DISCOVERY_INTERVAL: '2s' };

const providers = async (node: TestNode, of: string): Promise<string[]> =>
  (await node.client.dhtFindProviders(topicProviderKey(of), 20)).providers.map((p) => p.peer).sort();

beforeAll(async () => {
  await cluster.connect();
  hub = await cluster.add({ env });
  b = await cluster.add({ bootstrap: [hub], env });
  c = await cluster.add({ bootstrap: [hub], env });
});

afterAll(async () => {
  await cluster.close();
});

describe('context peer discovery', () => {
  it('announces every subscribed context topic on the DHT, and its members reach each other', async () => {
    for (const node of [b, c]) {
      await node.client.subscribe(topic);
      await node.client.subscribe(otherTopic);
    }
    const members = [b.peerId, c.peerId].sort();
    // The hub is no member: it knows the members only from their provider records.
    await waitFor(async () => JSON.stringify(await providers(hub, topic)) === JSON.stringify(members), {
      timeoutMs: 30_000,
      message: 'the hub to find both members as providers of the context topic',
    });
    expect(await providers(hub, otherTopic)).toEqual([]);
    await waitForSubscribers(b, topic, [c.peerId]);
    await waitForSubscribers(c, topic, [b.peerId]);
    for (const node of [b, c]) {
      expect(
        await metricValue(node.service.registry, 'network_context_discovery_total', { outcome: 'provided' }),
      ).toBeGreaterThan(0);
    }
  }, 60_000);
});
