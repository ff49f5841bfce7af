/**
 * Sync across nodes whose every service is a separate process, over real libp2p on loopback: a node
 * that was down catches up, a fresh node joins a big context by snapshot, hash comparison repairs a
 * few differing entries with few bytes, and a partition heals. Sizes can be lowered for a quick run:
 * CNODE_E2E_SYNC_WRITES (5000), CNODE_E2E_SNAPSHOT_ENTRIES (100000), CNODE_E2E_PARTITION_MS (30000).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ProcessNode, waitFor } from '@cnode/testing';

const WRITES = Number(process.env.CNODE_E2E_SYNC_WRITES ?? 5000);
const SNAPSHOT_ENTRIES = Number(process.env.CNODE_E2E_SNAPSHOT_ENTRIES ?? 100_000);
const PARTITION_MS = Number(process.env.CNODE_E2E_PARTITION_MS ?? 30_000);
const BATCH = 1000;

let a: ProcessNode;
let b: ProcessNode;
let c: ProcessNode | undefined;
let contextId: string;

beforeAll(async () => {
  [a, b] = await Promise.all([ProcessNode.start(), ProcessNode.start()]);
  contextId = (await a.api.createContext()).contextId;
  await join(b);
}, 120_000);

afterAll(async () => {
  await Promise.all([a, b, c].filter((n) => n !== undefined).map((n) => n.stop()));
}, 60_000);

async function join(node: ProcessNode): Promise<void> {
  const { publicKey } = await node.api.createIdentity();
  await node.api.joinContext((await a.api.inviteMember(contextId, publicKey)).invitationText);
}

/** Runs `count` writes on a node, `inFlight` at a time. */
async function write(node: ProcessNode, count: number, make: (i: number) => [string, unknown], inFlight = 8) {
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) {
        const [method, args] = make(next++);
        await node.api.execute(contextId, method, args);
      }
    }),
  );
}

/** Waits for equal root hashes on every node, then checks the entries are identical too. */
async function converged(nodes: ProcessNode[], timeoutMs = 300_000): Promise<Record<string, string>> {
  const roots = () => Promise.all(nodes.map(async (n) => (await n.api.getContext(contextId)).rootHash));
  await waitFor(async () => new Set(await roots()).size === 1, {
    timeoutMs,
    intervalMs: 1000,
    message: `equal root hashes on ${nodes.map((n) => n.name).join(', ')}`,
  });
  const [first, ...rest] = await Promise.all(nodes.map((n) => n.entries(contextId)));
  for (const other of rest) expect(other).toEqual(first);
  return first!;
}

const bytesOf = async (node: ProcessNode, protocol: string): Promise<number> =>
  (await node.metric('sync', 'sync_bytes_total', { protocol, direction: 'sent' })) +
  (await node.metric('sync', 'sync_bytes_total', { protocol, direction: 'received' }));

describe('sync', () => {
  it(`a node stopped while ${WRITES} writes happen elsewhere converges after restart`, async () => {
    await b.waitForState(contextId);
    await b.stopServices();
    // 90 % sets, then 10 % removes of keys set before.
    const sets = WRITES * 0.9;
    await write(a, sets, (i) => ['set', { key: `down/${i}`, value: `v${i}` }]);
    await write(a, WRITES - sets, (i) => ['remove', { key: `down/${i * 9}` }]);
    await b.startServices();
    const state = await converged([a, b]);
    expect(Object.keys(state).filter((k) => k.startsWith('down/')).length).toBe(WRITES * 0.8);
    expect(await b.metric('sync', 'sync_sessions_total', { protocol: 'delta_catchup', outcome: 'ok' })).toBeGreaterThan(
      0,
    );
    expect((await b.api.getContext(contextId)).pendingDeltas).toBe(0);
  }, 600_000);

  it(`a fresh node joins a context of ${SNAPSHOT_ENTRIES} entries by snapshot, keeps the writes made meanwhile, then stays live`, async () => {
    for (let i = 0; i < SNAPSHOT_ENTRIES; i += BATCH) {
      // Values with entropy, as application state has (ids, text, hashes): a run of 'value-N' strings
      // would deflate tenfold and make any repair look large beside the snapshot.
      const entries = Array.from({ length: Math.min(BATCH, SNAPSHOT_ENTRIES - i) }, (_, j) => ({
        key: `big/${i + j}`,
        value: randomBytes(24).toString('base64url'),
      }));
      await a.api.execute(contextId, 'set_many', { entries });
    }
    await converged([a, b]);

    c = await ProcessNode.start();
    const node = c;
    let writing = true;
    let during = 0;
    const writer = (async () => {
      while (writing) {
        await a.api.execute(contextId, 'set', { key: `during/${during}`, value: `${during}` });
        during++;
      }
    })();
    await join(node);
    await node.waitForState(contextId, 300_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    writing = false;
    await writer;

    const state = await converged([a, b, node]);
    expect(Object.keys(state).filter((k) => k.startsWith('during/')).length).toBe(during);
    // The snapshot session may still be fetching the tail of history while gossip already converged.
    await waitFor(
      async () => (await node.metric('sync', 'sync_sessions_total', { protocol: 'snapshot', outcome: 'ok' })) === 1,
      { message: 'the snapshot session to end' },
    );
    expect(await node.metric('sync', 'sync_entities_merged_total', { direction: 'snapshot' })).toBeGreaterThanOrEqual(
      SNAPSHOT_ENTRIES,
    );
    // Writes made while the snapshot ran were buffered on C and replayed after it.
    expect(await node.metric('state-delta', 'delta_outcomes_total', { outcome: 'buffered' })).toBeGreaterThan(0);

    // Live afterwards, both ways.
    await node.api.execute(contextId, 'set', { key: 'from-c', value: 'hello' });
    await a.api.execute(contextId, 'set', { key: 'from-a', value: 'hi' });
    const after = await converged([a, b, node], 60_000);
    expect(after['from-c']).toBe('hello');
    expect(after['from-a']).toBe('hi');
  }, 900_000);

  it('hash comparison repairs 100 entries lost on one node while moving under 2 % of a snapshot', async () => {
    const node = c!;
    expect(await node.loseEntries(contextId, 100)).toBe(100);
    expect((await node.api.getContext(contextId)).rootHash).not.toBe((await a.api.getContext(contextId)).rootHash);

    const before = await bytesOf(node, 'hash_comparison');
    const repairs = () => node.metric('sync', 'sync_sessions_total', { protocol: 'hash_comparison', outcome: 'ok' });
    const repairsBefore = await repairs();
    await node.api.triggerSync(contextId, (await a.api.info()).peerId);
    await converged([a, node], 60_000);
    // Bytes are counted when the session ends (it may still be closing once the roots agree).
    await waitFor(async () => (await repairs()) > repairsBefore, { message: 'the hash comparison session to end' });
    const hashBytes = (await bytesOf(node, 'hash_comparison')) - before;
    const snapshotBytes = await bytesOf(node, 'snapshot');
    expect(hashBytes).toBeGreaterThan(0);
    expect(hashBytes / snapshotBytes).toBeLessThan(0.02);
  }, 300_000);

  it(`a ${PARTITION_MS / 1000} s partition with writes and deletes on both sides heals to one state`, async () => {
    const nodes = [a, b, ...(c ? [c] : [])];
    await b.kill('network', 'SIGTERM');
    const until = Date.now() + PARTITION_MS;
    const side = async (node: ProcessNode, tag: string): Promise<void> => {
      for (let i = 0; Date.now() < until; i++) {
        const key = `part/${i % 40}`;
        if (i % 4 === 3) await node.api.execute(contextId, 'remove', { key });
        else await node.api.execute(contextId, 'set', { key, value: `${tag}${i}` });
      }
    };
    await Promise.all([side(a, 'a'), side(b, 'b')]);
    await b.startService('network');
    const state = await converged(nodes);
    expect(Object.keys(state).some((k) => k.startsWith('part/'))).toBe(true);
    // History healed too, not only state: every node holds both branches, nothing waits for parents.
    await waitFor(
      async () => {
        const infos = await Promise.all(nodes.map((n) => n.api.getContext(contextId)));
        const heads = new Set(infos.map((i) => [...i.heads].sort().join(',')));
        return heads.size === 1 && infos.every((i) => i.pendingDeltas === 0);
      },
      { timeoutMs: 120_000, intervalMs: 1000, message: 'the same DAG heads and no pending deltas on every node' },
    );
  }, 600_000);

  it('a member invited without the group key obtains it from a peer (key share), then reads and writes', async () => {
    const node = c!;
    const other = (await a.api.createContext()).contextId;
    await a.api.execute(other, 'set', { key: 'before-join', value: 'sealed' });
    const { publicKey } = await node.api.createIdentity();
    const { invitationText } = await a.api.inviteMember(other, publicKey, true);
    const shared = () => node.metric('sync', 'sync_key_shares_total', { outcome: 'received' });
    const before = await shared();
    await node.api.joinContext(invitationText);
    await node.waitForState(other);
    expect(await shared()).toBeGreaterThan(before);
    // Reading a delta needs the key: A's write after the join reaches C through gossip.
    await a.api.execute(other, 'set', { key: 'after-join', value: 'also sealed' });
    await node.api.execute(other, 'set', { key: 'from-c', value: 'written with the shared key' });
    await waitFor(
      async () =>
        JSON.stringify(await a.entries(other)) === JSON.stringify(await node.entries(other)) &&
        Object.keys(await a.entries(other)).length === 3,
      { timeoutMs: 60_000, message: 'both nodes to hold the three entries' },
    );
    expect((await a.api.execute(other, 'get', { key: 'from-c' })).output).toBe('written with the shared key');
  }, 180_000);
});
