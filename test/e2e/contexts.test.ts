/**
 * Contexts end to end across three nodes, every service a separate process, real libp2p on loopback.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { admin } from '@cnode/proto';
import { ProcessNode, waitFor } from '@cnode/testing';

const WRITES_PER_NODE = Number(process.env.CNODE_E2E_WRITES ?? 1000);
const KEYS = 50;

let a: ProcessNode;
let b: ProcessNode;
let c: ProcessNode;
let contextId: string;
const events = new Map<ProcessNode, admin.SubscribeEventsResponse[]>();

beforeAll(async () => {
  [a, b, c] = await Promise.all([ProcessNode.start(), ProcessNode.start(), ProcessNode.start()]);
}, 120_000);

afterAll(async () => {
  await Promise.all([a, b, c].filter(Boolean).map((n) => n.stop()));
}, 60_000);

/** Every live entry of the context on a node, through the kv `entries` method, page by page. */
const entries = (node: ProcessNode): Promise<Record<string, string>> => node.entries(contextId);

function collectEvents(node: ProcessNode): void {
  const list: admin.SubscribeEventsResponse[] = [];
  events.set(node, list);
  const stream = node.api.subscribeEvents(contextId, 1n);
  stream.on('data', (e: admin.SubscribeEventsResponse) => list.push(e));
  stream.on('error', () => undefined);
}

describe('contexts across three nodes', () => {
  it('A creates a context and invites B and C, who join with their invitations', async () => {
    const created = await a.api.createContext({ application: 'kv' });
    contextId = created.contextId;
    for (const node of [b, c]) {
      const { publicKey } = await node.api.createIdentity();
      const { invitationText } = await a.api.inviteMember(contextId, publicKey);
      const joined = await node.api.joinContext(invitationText);
      expect(joined.contextId).toBe(contextId);
      expect(joined.member).toBe(publicKey);
    }
    for (const node of [a, b, c]) {
      expect((await node.api.getContext(contextId)).memberCount).toBeGreaterThanOrEqual(node === c ? 3 : 2);
      collectEvents(node);
    }
    await Promise.all([a, b, c].map((n) => n.waitForPeers(contextId, 2)));
    // A joined context gets its state from its first sync (here: A's empty state).
    await Promise.all([b, c].map((n) => n.waitForState(contextId)));
  }, 60_000);

  it(`${WRITES_PER_NODE} concurrent set/remove calls per node on overlapping keys converge to one state`, async () => {
    const produced = new Set<string>();
    const writer = async (node: ProcessNode, tag: string): Promise<void> => {
      const inFlight = 4;
      let next = 0;
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (next < WRITES_PER_NODE) {
            const i = next++;
            const key = `k${(i * 7 + tag.charCodeAt(0)) % KEYS}`;
            const res =
              i % 5 === 4
                ? await node.api.execute(contextId, 'remove', { key })
                : await node.api.execute(contextId, 'set', { key, value: `${tag}${i}` });
            if (res.deltaId) produced.add(res.deltaId);
          }
        }),
      );
    };
    await Promise.all([writer(a, 'a'), writer(b, 'b'), writer(c, 'c')]);

    const roots = async (): Promise<string[]> =>
      Promise.all([a, b, c].map(async (n) => (await n.api.getContext(contextId)).rootHash));
    await waitFor(async () => new Set(await roots()).size === 1, {
      timeoutMs: 120_000,
      intervalMs: 500,
      message: 'three equal root hashes',
    });
    const [ea, eb, ec] = await Promise.all([entries(a), entries(b), entries(c)]);
    expect(eb).toEqual(ea);
    expect(ec).toEqual(ea);
    expect(Object.keys(ea).length).toBeGreaterThan(0);

    // Every node applied every delta once, and streamed exactly one mutation event for each.
    await waitFor(
      async () =>
        [a, b, c].every(
          (n) => (events.get(n) ?? []).filter((e) => e.event?.event?.$case === 'stateMutation').length >= produced.size,
        ),
      { timeoutMs: 60_000, message: 'every node to stream an event per delta' },
    );
    for (const node of [a, b, c]) {
      const ids = (events.get(node) ?? []).flatMap((e) =>
        e.event?.event?.$case === 'stateMutation' ? [e.event.event.stateMutation.deltaId] : [],
      );
      expect(ids.length).toBe(produced.size);
      expect(new Set(ids)).toEqual(produced);
      const info = await node.api.getContext(contextId);
      expect(info.pendingDeltas).toBe(0);
    }
  }, 600_000);
});
