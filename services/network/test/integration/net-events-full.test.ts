/** NET_EVENTS at its bound: events are dropped and counted, and the network keeps working. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { jetstreamManager } from '@nats-io/jetstream';
import { metricValue, waitFor } from '@cnode/testing';
import { Cluster, waitForSubscribers, type TestNode } from './harness.js';

const TOPIC = 'full-topic';
const cluster = new Cluster();
let full: TestNode;
let publisher: TestNode;

beforeAll(async () => {
  await cluster.connect();
  // Nobody consumes this node's NET_EVENTS, and it holds 5 messages at most.
  full = await cluster.add({ env: { NET_EVENTS_QUEUE_MAX: '5' }, readEvents: false });
  publisher = await cluster.add({ bootstrap: [full] });
  await full.client.subscribe(TOPIC);
  await publisher.client.subscribe(TOPIC);
  await waitForSubscribers(publisher, TOPIC, [full.peerId]);
});

afterAll(async () => {
  await cluster.close();
});

describe('a full NET_EVENTS', () => {
  it('drops and counts what does not fit, while gossip and commands go on', async () => {
    for (let i = 0; i < 20; i++) await publisher.client.publish(TOPIC, Buffer.from(`m${i}`));
    await waitFor(
      async () =>
        (await metricValue(full.service.registry, 'network_events_dropped_total', {
          kind: 'gossip',
          reason: 'stream_full',
        })) > 0,
      { message: 'drops to be counted' },
    );
    await waitFor(
      async () =>
        (await metricValue(full.service.registry, 'network_gossip_messages_total', {
          direction: 'in',
          topic_kind: 'other',
        })) === 20,
      { message: 'libp2p to keep receiving every message' },
    );
    const jsm = await jetstreamManager(cluster.nc);
    expect((await jsm.streams.info(full.catalog.streams.netEvents.name)).state.messages).toBe(5);
    expect((await full.client.info()).peerId).toBe(full.peerId);
    expect(full.service.handle.isReady()).toBe(true);
  });
});
