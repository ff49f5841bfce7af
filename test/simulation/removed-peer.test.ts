/**
 * A removed member that stays on the context topic must not keep a lagging member from catching up.
 * Found by the chaos suite (seed long-7): the removed node had proven membership before its removal,
 * so peer selection put it first; its sessions failed with `peer_not_member`, and that failure ended
 * each sync attempt instead of moving on to the next peer, so the lagging member never caught up.
 * Production sync, stores and responder on the simulated network (see README.md).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { signGroupOp } from '@cnode/primitives';
import { GroupOpOutcome } from '@cnode/store';
import { TEST_INFRA, cleanupNode } from '@cnode/testing';
import { EPOCH_MS, createSharedContext, identityFrom } from './history.js';
import { Rng } from './rng.js';
import { SimNetwork } from './sim-network.js';
import { SimNode } from './sim-node.js';

let nodes: SimNode[] = [];

beforeAll(async () => {
  nodes = await Promise.all(
    [0, 1, 2].map((i) => SimNode.create(i, (prefix) => new Redis(TEST_INFRA.redisUrl, { keyPrefix: prefix }))),
  );
});

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.close()));
  for (const node of nodes) await cleanupNode(node.catalog.node);
}, 60_000);

describe('sync past a removed member', () => {
  it('moves on to the next peer when the first no longer proves membership, and stops preferring it', async () => {
    const [admin, lagging, removed] = nodes as [SimNode, SimNode, SimNode];
    const rng = new Rng('removed-peer');
    const net = new SimNetwork(rng.fork('network'), { loss: 0, duplication: 0, maxDelayMs: 1, streamReset: 0 });
    const ids = nodes.map((_, i) => identityFrom(rng.fork(`identity-${i}`)));
    for (const [i, node] of nodes.entries()) await node.begin(net, rng.fork(`clock-${i}`).bytes(16), EPOCH_MS);
    try {
      const { contextId, groupId, groupKey, lastOpId } = await createSharedContext(nodes, ids, rng.fork('setup'), {
        allInitialized: true,
      });
      // The admin removes the third member; the removed node itself never hears of it.
      const removal = signGroupOp({
        groupId,
        parents: [lastOpId],
        signer: ids[0]!,
        nonce: 4n,
        op: { kind: { $case: 'removeMember', removeMember: { member: ids[2]!.publicKey } } },
      });
      for (const node of [admin, lagging]) {
        expect((await node.stores().groups.addSigned(removal)).outcome).toBe(GroupOpOutcome.Applied);
      }

      // The lagging member misses a write of the admin's.
      net.partition([[admin.peerId, removed.peerId], [lagging.peerId]]);
      await admin.commit(contextId, {
        author: ids[0]!,
        actions: [{ kind: 'set', key: Buffer.from('k'), value: Buffer.from('after removal'), at: admin.now() }],
        events: [],
        groupKey,
        governanceHeads: await admin.stores().groups.heads(groupId),
      });
      await net.runUntil();
      net.heal();

      // The removed node proved membership to the lagging one most recently (before its removal).
      const memberPeers = lagging.catalog.redis.memberPeers(groupId.toString('hex'));
      await lagging.redis.zadd(memberPeers, Date.now() - 60_000, admin.peerId, Date.now(), removed.peerId);

      let outcome: Awaited<ReturnType<SimNode['sync']>> | undefined;
      let failure: unknown;
      // No hint: peer selection alone puts the removed node first.
      net.schedule(0, 'sync', async () => {
        outcome = await lagging.sync(contextId).catch((err: unknown) => {
          failure = err;
          return undefined;
        });
      });
      await net.runUntil();

      expect(failure).toBeUndefined();
      expect(outcome?.peer).toBe(admin.peerId);
      const entry = (await lagging.stores().states.entries(contextId)).find((e) => e.key.toString() === 'k');
      expect(entry?.value?.toString()).toBe('after removal');
      // It proved no membership: it is no longer preferred.
      expect(await lagging.redis.zrange(memberPeers, '0', '-1')).toEqual([admin.peerId]);
    } finally {
      await net.quiesce();
      for (const node of nodes) await node.end();
    }
  });
});
