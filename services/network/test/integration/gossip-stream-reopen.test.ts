/**
 * Two network services connected twice (simultaneous dials): when the connection that carries one
 * side's outbound gossipsub stream closes while the other stays, and the first attempt at a new
 * stream fails, that side's later subscriptions must still reach the peer. Without the
 * repair-outbound patch of scripts/patch-dependencies.mjs gossipsub never opens a new outbound
 * stream (only a new connection or an inbound stream makes it), and the peer never sees us on a
 * topic subscribed after the close: members of a new context did not find each other.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { multiaddr } from '@multiformats/multiaddr';
import { waitFor } from '@cnode/testing';
import { Cluster, waitForSubscribers, type TestNode } from './harness.js';

const cluster = new Cluster();
let a: TestNode;
let b: TestNode;

const libp2pOf = (node: TestNode) => node.service.handle.host.libp2p;

beforeAll(async () => {
  await cluster.connect();
  // No redials and no bootstrap: the test alone decides which connections exist.
  const quiet = { NETWORK_REDIAL_PEERS: '0' };
  a = await cluster.add({ env: quiet, readEvents: false });
  b = await cluster.add({ env: quiet, readEvents: false });
});

afterAll(async () => {
  await cluster.close();
});

describe('gossipsub outbound streams', () => {
  it('reopens an outbound stream whose connection closed while another stays, after a failed attempt', async () => {
    const [la, lb] = [libp2pOf(a), libp2pOf(b)];
    await Promise.all([la.dial(multiaddr(b.addr)), lb.dial(multiaddr(a.addr))]);
    await waitFor(() => la.getConnections(lb.peerId).length === 2, { message: 'two connections between a and b' });
    // The connection that carries a's outbound gossipsub stream.
    const carrier = await waitFor(
      () =>
        la
          .getConnections(lb.peerId)
          .find((c) => c.streams.some((s) => s.direction === 'outbound' && s.protocol?.startsWith('/meshsub/'))),
      { message: 'a to open its outbound gossipsub stream' },
    );
    // The first attempt to open a new one fails (as a negotiation that timed out would): a later
    // heartbeat tries again.
    const [rest] = la.getConnections(lb.peerId).filter((c) => c !== carrier);
    const newStream = rest!.newStream.bind(rest);
    let failures = 0;
    rest!.newStream = async (protocols, options) => {
      const wanted = Array.isArray(protocols) ? protocols : [protocols];
      if (failures === 0 && wanted.some((p) => p.startsWith('/meshsub/'))) {
        failures++;
        throw new Error('negotiation timed out (injected by the test)');
      }
      return newStream(protocols, options);
    };
    await carrier.close();
    expect(la.getConnections(lb.peerId)).toHaveLength(1);

    const topic = `cnode-reopen-${Date.now()}`;
    await a.client.subscribe(topic);
    await b.client.subscribe(topic);
    // Repairs come every 3 s at most: the failed one, then the one that works.
    await waitForSubscribers(b, topic, [a.peerId], 30_000);
    await waitForSubscribers(a, topic, [b.peerId], 30_000);
    expect(failures).toBe(1);
    // Both repairs (the one that failed, the one that worked) are counted.
    const repairs = (await a.service.handle.metrics.gossipOutboundRepairs.get()).values[0]?.value ?? 0;
    expect(repairs).toBeGreaterThanOrEqual(2);
  });
});
