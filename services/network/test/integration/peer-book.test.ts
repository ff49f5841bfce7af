import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { metricValue, waitFor } from '@cnode/testing';
import { Cluster, type TestNode } from './harness.js';

const cluster = new Cluster();
let a: TestNode;
let b: TestNode;

beforeAll(async () => {
  await cluster.connect();
  a = await cluster.add({ readEvents: false });
  // No bootstrap peers: b meets a only because it was told to dial it once.
  b = await cluster.add({ readEvents: false, env: { NETWORK_BOOTSTRAP_INTERVAL: '300ms' } });
  await b.client.dial(a.addr);
});

afterAll(async () => {
  await cluster.close();
});

const connectedTo = async (node: TestNode, peer: string): Promise<boolean> =>
  (await node.client.listPeers()).peers.some((p) => p.peer === peer);

it('remembers identified peers and dials them again after a restart, without bootstrap peers', async () => {
  await waitFor(async () => (await metricValue(b.service.registry, 'network_peer_book_peers')) === 1, {
    message: 'b to remember a in its peer book',
  });
  await b.restart();
  // b listens on a new port now, so a cannot call back: b must dial a from its peer book.
  await waitFor(() => connectedTo(b, a.peerId), { message: 'b to dial a again after its restart' });
  expect(await metricValue(b.service.registry, 'network_commands_total', { command: 'redial', outcome: 'ok' })).toBe(1);
});

it('dials a known peer again when the connection is lost', async () => {
  await a.restart();
  // a's new port is unknown to b until a dials it; a's own book still holds b from before.
  await waitFor(() => connectedTo(a, b.peerId), { message: 'a to dial b again after its restart' });
  await waitFor(() => connectedTo(b, a.peerId), { message: 'b to see a again' });
});
