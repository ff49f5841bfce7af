/**
 * Bootstrap addresses without a peer id (how a compose or cluster network names a peer whose
 * identity it cannot know in advance): the first dial learns the peer id, and later rounds skip the
 * address while that peer stays connected.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { metricValue, waitFor } from '@cnode/testing';
import { Cluster, type TestNode } from './harness.js';

const cluster = new Cluster();
let a: TestNode;
let b: TestNode;
let c: TestNode;

beforeAll(async () => {
  await cluster.connect();
  a = await cluster.add({ readEvents: false });
  const withoutPeerId = a.addr.replace(/\/p2p\/[^/]+$/, '');
  expect(withoutPeerId).not.toContain('/p2p/');
  // A DNS name, as docker compose and Kubernetes give a service.
  const byName = withoutPeerId.replace(/^\/ip4\/127\.0\.0\.1\//, '/dns4/localhost/');
  expect(byName).toMatch(/^\/dns4\/localhost\/tcp\/\d+$/);
  c = await cluster.add({ readEvents: false, env: { NETWORK_BOOTSTRAP: byName } });
  b = await cluster.add({
    readEvents: false,
    env: { NETWORK_BOOTSTRAP: withoutPeerId, NETWORK_BOOTSTRAP_INTERVAL: '200ms' },
  });
});

afterAll(async () => {
  await cluster.close();
});

it('dials a bootstrap address that names no peer id, learns who answers, and does not dial it again while connected', async () => {
  await waitFor(async () => (await b.client.listPeers()).peers.some((p) => p.peer === a.peerId), {
    message: 'b to connect to a through its bare address',
  });
  const dials = () =>
    metricValue(b.service.registry, 'network_commands_total', { command: 'bootstrap-dial', outcome: 'ok' });
  const first = await dials();
  expect(first).toBe(1);
  await new Promise((r) => setTimeout(r, 1_000)); // five more rounds
  expect(await dials()).toBe(first);
});

it('dials a bootstrap address by DNS name', async () => {
  await waitFor(async () => (await c.client.listPeers()).peers.some((p) => p.peer === a.peerId), {
    message: 'c to connect to a by name',
  });
});
