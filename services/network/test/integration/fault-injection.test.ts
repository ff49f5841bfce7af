/**
 * The test-only fault hook (NETWORK_FAULT_INJECTION): with the flag, `inject-faults` makes a node
 * lose, duplicate or delay the gossip it receives and refuse chosen peers (a partition), each
 * counted; without it, the command is not served at all.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { metricValue, waitFor } from '@cnode/testing';
import { Cluster, gossipEvents, waitForSubscribers, type TestNode } from './harness.js';

const TOPIC = 'cnode-fault-topic';
const cluster = new Cluster();
let a: TestNode;
let b: TestNode;
let plain: TestNode;
const faulty = { NETWORK_FAULT_INJECTION: 'true', NETWORK_REDIAL_PEERS: '0' };

beforeAll(async () => {
  await cluster.connect();
  a = await cluster.add({ env: faulty });
  b = await cluster.add({ bootstrap: [a], env: faulty });
  plain = await cluster.add({ bootstrap: [a] });
  for (const node of [a, b]) await node.client.subscribe(TOPIC);
  await waitForSubscribers(a, TOPIC, [b.peerId]);
  await waitForSubscribers(b, TOPIC, [a.peerId]);
});

afterAll(async () => {
  await cluster.close();
});

const injected = (node: TestNode, kind: string) =>
  metricValue(node.service.registry, 'network_injected_faults_total', { kind });

async function publishAndCount(count: number, tag: string): Promise<number> {
  for (let i = 0; i < count; i++) await a.client.publish(TOPIC, Buffer.from(`${tag} ${i}`));
  // Nothing waits to show up after this long: delays are cleared before counting.
  await new Promise((r) => setTimeout(r, 1_000));
  return gossipEvents(b, TOPIC).filter((m) => m.data.toString().startsWith(`${tag} `)).length;
}

describe('fault injection (test flag)', () => {
  it('is not served without the flag', async () => {
    await expect(
      plain.client.injectFaults({ gossipLoss: 1, gossipDuplication: 0, gossipDelayMaxMs: 0, blockedPeers: [] }),
    ).rejects.toThrow();
  });

  it('loses every inbound gossip message at loss 1, and none once cleared', async () => {
    await b.client.injectFaults({ gossipLoss: 1, gossipDuplication: 0, gossipDelayMaxMs: 0, blockedPeers: [] });
    expect(await publishAndCount(10, 'lost')).toBe(0);
    expect(await injected(b, 'gossip_lost')).toBe(10);
    await b.client.injectFaults({ gossipLoss: 0, gossipDuplication: 0, gossipDelayMaxMs: 0, blockedPeers: [] });
    expect(await publishAndCount(10, 'kept')).toBe(10);
  });

  it('delays and duplicates inbound gossip', async () => {
    await b.client.injectFaults({ gossipLoss: 0, gossipDuplication: 1, gossipDelayMaxMs: 300, blockedPeers: [] });
    for (let i = 0; i < 5; i++) await a.client.publish(TOPIC, Buffer.from(`twice ${i}`));
    await waitFor(() => gossipEvents(b, TOPIC).filter((m) => m.data.toString().startsWith('twice ')).length >= 5, {
      message: 'the delayed messages to arrive',
    });
    expect(await injected(b, 'gossip_duplicated')).toBe(5);
    expect(await injected(b, 'gossip_delayed')).toBeGreaterThan(0);
    await b.client.injectFaults({ gossipLoss: 0, gossipDuplication: 0, gossipDelayMaxMs: 0, blockedPeers: [] });
  });

  it('refuses a blocked peer (a partition) until it is unblocked', async () => {
    const cut = await b.client.injectFaults({
      gossipLoss: 0,
      gossipDuplication: 0,
      gossipDelayMaxMs: 0,
      blockedPeers: [a.peerId],
    });
    expect(cut.connectionsClosed).toBe(1);
    await waitFor(async () => !(await b.client.listPeers()).peers.some((p) => p.peer === a.peerId), {
      message: 'b to drop its connection to a',
    });
    // a may still try (its side of the upgrade can even complete): b hangs up, and nothing crosses.
    await a.client.dial(b.addr).catch(() => undefined);
    expect(await publishAndCount(3, 'cut')).toBe(0);
    expect((await b.client.listPeers()).peers.some((p) => p.peer === a.peerId)).toBe(false);
    await b.client.injectFaults({ gossipLoss: 0, gossipDuplication: 0, gossipDelayMaxMs: 0, blockedPeers: [] });
    await waitFor(
      () =>
        a.client.dial(b.addr).then(
          () => true,
          () => false,
        ),
      { message: 'a to reach b again' },
    );
    await waitForSubscribers(a, TOPIC, [b.peerId]);
    expect(await publishAndCount(3, 'healed')).toBe(3);
  });

  it('refuses faults out of range with a clear error', async () => {
    await expect(
      b.client.injectFaults({ gossipLoss: 2, gossipDuplication: 0, gossipDelayMaxMs: 0, blockedPeers: [] }),
    ).rejects.toMatchObject({
      meta: { code: 'NETWORK_BAD_ARGUMENT' },
    });
  });
});
