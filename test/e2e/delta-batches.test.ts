/**
 * The batched delta path: group commit on the writer, per-context batches on the receiver. Every
 * service is its own process; libp2p runs on loopback; deltas travel through the real NATS,
 * Postgres and Redis.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createCatalog } from '@cnode/bus';
import {
  HlcClock,
  computeDeltaId,
  createDelta,
  fromBase58,
  generateIdentity,
  generateSymmetricKey,
  toBase58,
  type Action,
  type Identity,
} from '@cnode/primitives';
import { bus, type wire } from '@cnode/proto';
import { ProcessNode, TEST_INFRA, builtEntry, inviteInsider, spawnNode, waitFor } from '@cnode/testing';

let a: ProcessNode;
let b: ProcessNode;
let contextId: string;

beforeAll(async () => {
  [a, b] = await Promise.all([ProcessNode.start(), ProcessNode.start()]);
  contextId = (await a.api.createContext()).contextId;
  const { publicKey } = await b.api.createIdentity();
  await b.api.joinContext((await a.api.inviteMember(contextId, publicKey)).invitationText);
  await Promise.all([a, b].map((n) => n.waitForPeers(contextId, 1)));
  await b.waitForState(contextId);
}, 120_000);

afterAll(async () => {
  await Promise.all([a, b].filter(Boolean).map((n) => n.stop()));
}, 60_000);

const rootOf = async (node: ProcessNode): Promise<string> => (await node.api.getContext(contextId)).rootHash;

async function sameState(): Promise<void> {
  await waitFor(
    async () => {
      const [x, y] = await Promise.all([a.api.getContext(contextId), b.api.getContext(contextId)]);
      return x.rootHash === y.rootHash && [...x.heads].sort().join() === [...y.heads].sort().join();
    },
    { timeoutMs: 90_000, intervalMs: 300, message: 'A and B to reach the same root and heads' },
  );
}

describe('batched delta path', () => {
  it('group commit: 32 concurrent writers on one context make one chain, batched, that the peer verifies and applies', async () => {
    const batchesBefore = await a.metric('node-manager', 'node_manager_group_commit_batch_size_count');
    const gossipBefore: Record<string, number> = {};
    for (const variant of ['state_delta', 'state_delta_batch']) {
      gossipBefore[variant] = await a.metric('node-manager', 'node_manager_gossip_delta_messages_total', { variant });
    }
    const ids = await Promise.all(
      Array.from({ length: 32 }, async (_, w) => {
        const out: string[] = [];
        for (let i = 0; i < 8; i++) {
          out.push((await a.api.execute(contextId, 'set', { key: `w${w}/${i % 3}`, value: `${i}` })).deltaId);
        }
        return out;
      }),
    );
    const written = ids.flat();
    expect(new Set(written).size).toBe(256);

    // One chain: every delta has exactly one parent, and following parents from the head visits all.
    const rows = await a.withStore(
      ({ sql }) => sql<{ delta_id: Buffer; parents: Buffer[] }[]>`
        select delta_id, parents from deltas where context_id = ${Buffer.from(fromBase58(contextId))}`,
    );
    const parentOf = new Map(rows.map((r) => [toBase58(r.delta_id), r.parents]));
    for (const id of written) expect(parentOf.get(id)).toHaveLength(1);
    const heads = (await a.api.getContext(contextId)).heads;
    expect(heads).toHaveLength(1);
    const chain = new Set<string>();
    for (let at: string | undefined = heads[0]; at && parentOf.has(at);) {
      chain.add(at);
      const parents: Buffer[] = parentOf.get(at)!;
      at = parents.length === 1 ? toBase58(parents[0]!) : undefined;
    }
    for (const id of written) expect(chain.has(id)).toBe(true);

    // Calls that arrived together shared transactions, and left A as one gossip message per batch.
    const batches = (await a.metric('node-manager', 'node_manager_group_commit_batch_size_count')) - batchesBefore;
    expect(batches).toBeLessThan(256);
    const gossiped = async (variant: string) =>
      (await a.metric('node-manager', 'node_manager_gossip_delta_messages_total', { variant })) -
      gossipBefore[variant]!;
    expect((await gossiped('state_delta')) + (await gossiped('state_delta_batch'))).toBe(batches);
    expect(await gossiped('state_delta_batch')).toBeGreaterThan(0);

    await sameState();
    // B verified every delta on its own (signature, membership, key, content address) and refused none,
    // batched gossip unpacked into the same pipeline.
    for (const outcome of ['bad_signature', 'not_member', 'key_unknown', 'id_mismatch', 'decrypt_failed']) {
      expect(await b.metric('state-delta', 'delta_outcomes_total', { outcome })).toBe(0);
    }
    const entries = await b.entries(contextId);
    for (let w = 0; w < 32; w++) expect(entries[`w${w}/1`]).toBe('7');

    // The caches on the path are bounded and visible: A signed with cached keys and served the
    // writes' settings from its hot state; B verified with cached keys, judged cuts from cached
    // projections and read group keys from its hot state.
    const lookups = (node: ProcessNode, service: string, cache: string, result: string) =>
      node.metric(service, 'cache_lookups_total', { cache, result });
    expect(await lookups(a, 'node-manager', 'signing_keys', 'hit')).toBeGreaterThan(200);
    expect(await lookups(a, 'node-manager', 'hot_context_settings', 'hit')).toBeGreaterThan(200);
    expect(await lookups(b, 'state-delta', 'verification_keys', 'hit')).toBeGreaterThan(200);
    expect(await lookups(b, 'state-delta', 'group_projections', 'hit')).toBeGreaterThan(0);
    expect(await lookups(b, 'state-delta', 'hot_group_keys', 'hit')).toBeGreaterThan(0);
    for (const cache of ['signing_keys', 'group_projections', 'hot_group_keys', 'hot_member_standing']) {
      expect(await b.metric('state-delta', 'cache_capacity', { cache })).toBeGreaterThan(0);
    }
  }, 180_000);

  it('ExecuteBatch runs calls in order, answers each, commits the writes together and gossips them as one message', async () => {
    const gossipBatches = () =>
      a.metric('node-manager', 'node_manager_gossip_delta_messages_total', { variant: 'state_delta_batch' });
    const before = await gossipBatches();
    const results = await a.api.executeBatch(contextId, [
      { method: 'set', args: { key: 'eb/a', value: '1' } },
      { method: 'set', args: { key: 'eb/b', value: '2' } },
      { method: 'set', args: { key: 'eb/c', value: '3' } },
      { method: 'get', args: { key: 'eb/a' } },
      { method: 'no_such_method', args: {} },
      { method: 'remove', args: { key: 'eb/a' } },
      { method: 'get', args: { key: 'eb/a' } },
      { method: 'set', args: { key: 'eb/d', value: '4' }, executor: 'not-one-of-ours' },
    ]);
    expect(results.map((r) => r.ok)).toEqual([true, true, true, true, false, true, true, false]);
    const ok = (i: number) => results[i] as Extract<(typeof results)[number], { ok: true }>;
    // A read sees the writes before it, and only those.
    expect(ok(3).output).toBe('1');
    expect(ok(5).output).toBe(true);
    expect(ok(6).output).toBeNull();
    expect(results[4]).toMatchObject({ ok: false, status: status.INVALID_ARGUMENT, code: 'ADMIN_BAD_ARGUMENT' });
    expect(results[7]).toMatchObject({ ok: false, status: status.NOT_FOUND, code: 'ADMIN_IDENTITY_UNKNOWN' });

    // The writes chain in call order; the three before the read left A as one gossip message.
    const deltas = [0, 1, 2, 5].map((i) => ok(i).deltaId);
    expect(deltas.every(Boolean)).toBe(true);
    const rows = await a.withStore(
      ({ sql }) => sql<{ delta_id: Buffer; parents: Buffer[] }[]>`
        select delta_id, parents from deltas where delta_id = any (${sql.array(
          deltas.map((d) => Buffer.from(fromBase58(d))),
          1001,
        )}::bytea[])`,
    );
    const parentOf = new Map(rows.map((r) => [toBase58(r.delta_id), toBase58(r.parents[0]!)]));
    for (let i = 1; i < deltas.length; i++) expect(parentOf.get(deltas[i]!)).toBe(deltas[i - 1]);
    expect((await gossipBatches()) - before).toBe(1);

    await sameState();
    const entries = await b.entries(contextId);
    expect(entries['eb/b']).toBe('2');
    expect(entries['eb/c']).toBe('3');
    expect(entries['eb/a']).toBeUndefined();
  }, 60_000);

  it('cnode context call-batch runs a JSON Lines file and exits 1 when a call failed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cnode-batch-'));
    const cli = async (file: string) => {
      const run = spawnNode(
        builtEntry('packages/cli/bin/cnode.js'),
        ['context', 'call-batch', contextId, file, '--home', a.env.NODE_HOME!, '--token', a.env.ADMIN_TOKEN!],
        a.env,
      );
      return { code: await run.exited, out: run.lines.join('\n') };
    };
    const good = join(dir, 'good.jsonl');
    writeFileSync(
      good,
      [
        JSON.stringify({ method: 'set', args: { key: 'cli/x', value: 'y' } }),
        '',
        JSON.stringify({ method: 'get', args: { key: 'cli/x' } }),
      ].join('\n'),
    );
    const ran = await cli(good);
    expect(ran.code).toBe(0);
    expect(ran.out).toMatch(/^1 ok null \(delta \w+\)$/m);
    expect(ran.out).toMatch(/^2 ok "y"$/m);

    const bad = join(dir, 'bad.jsonl');
    writeFileSync(
      bad,
      `${JSON.stringify({ method: 'nope' })}\n${JSON.stringify({ method: 'get', args: { key: 'cli/x' } })}\n`,
    );
    const failed = await cli(bad);
    expect(failed.code).toBe(1);
    expect(failed.out).toMatch(/^1 error ADMIN_BAD_ARGUMENT: /m);
    expect(failed.out).toMatch(/^2 ok "y"$/m);

    const notJson = join(dir, 'not-json.jsonl');
    writeFileSync(notJson, 'set k v\n');
    const refused = await cli(notJson);
    expect(refused.code).not.toBe(0);
    expect(refused.out).toMatch(/line 1: not JSON/);
  }, 60_000);

  it('a shuffled batch applies in causal order without a parent fetch, and refuses only its bad deltas', async () => {
    // A member gone rogue: invited like anyone, so it holds the group key and its signatures verify.
    const { identity: insider, groupKey, governanceHeads } = await inviteInsider(a, contextId);
    await waitFor(
      async () =>
        (await b.api.listMembers((await b.api.getContext(contextId)).groupId)).members.some(
          (m) => m.member === toBase58(insider.publicKey),
        ),
      { message: 'B to learn of the insider' },
    );
    await sameState();

    const clock = new HlcClock(randomBytes(16));
    const contextBytes = Buffer.from(fromBase58(contextId));
    let parents: Buffer[] = (await b.api.getContext(contextId)).heads.map((h) => Buffer.from(fromBase58(h)));
    const write = (author: Identity, key: Buffer, i: number, chained = true): wire.StateDelta => {
      const actions: Action[] = [
        { kind: 'set', key: Buffer.from(`batch/${i}`), value: Buffer.from(`${i}`), at: clock.now() },
      ];
      const delta = createDelta({
        contextId: contextBytes,
        parents,
        actions,
        hlc: clock.now(),
        author,
        governanceHeads,
        groupKey: key,
        rootHash: Buffer.alloc(32),
      });
      if (chained) parents = [computeDeltaId(parents, actions)];
      return delta;
    };
    const chain = Array.from({ length: 20 }, (_, i) => write(insider, groupKey, i));
    const forged = write(insider, groupKey, 100, false);
    forged.signature = Buffer.from(forged.signature).fill(7, 0, 8);
    const bad: [wire.StateDelta, string][] = [
      [forged, 'bad_signature'],
      [write(generateIdentity(), groupKey, 101, false), 'not_member'],
      [write(insider, generateSymmetricKey(), 102, false), 'key_unknown'],
    ];
    // Counted by the restarted state-delta below, from zero.
    const outcome = (o: string) => b.metric('state-delta', 'delta_outcomes_total', { outcome: o, via: 'gossip' });

    // B's state-delta is down while the deltas reach its mailbox, children before parents: when it
    // comes back, they are one batch.
    await b.kill('state-delta', 'SIGTERM');
    const nc = await connect({ servers: TEST_INFRA.natsUrl });
    try {
      const js = jetstream(nc);
      const catalog = createCatalog(b.name);
      const peer = (await a.api.info()).peerId;
      // One mailbox message carrying a gossip batch (the later half of the chain, reversed, and an
      // invalid delta among them), then the rest one message per delta.
      const batch = [...chain.slice(10).reverse(), bad[0]![0]];
      const singles = [...chain.slice(0, 10).reverse(), bad[1]![0], bad[2]![0]];
      const messages: bus.StateDeltaReceived[] = [
        { sourcePeer: peer, messageId: '', delta: undefined, receivedAtMs: BigInt(Date.now()), batch },
        ...singles.map((delta) => ({
          sourcePeer: peer,
          messageId: '',
          delta,
          receivedAtMs: BigInt(Date.now()),
          batch: [],
        })),
      ];
      for (const received of messages) {
        await js.publish(catalog.subjects.stateDeltaFor(contextId), bus.StateDeltaReceived.encode(received).finish());
      }
    } finally {
      await nc.close();
    }
    await b.startService('state-delta');

    // A delta whose parents come in a later batch is stored pending and applied by that batch.
    const handled = async () => (await outcome('applied')) + (await outcome('pending'));
    await waitFor(async () => (await handled()) >= 20 && (await b.api.getContext(contextId)).pendingDeltas === 0, {
      timeoutMs: 60_000,
      message: 'B to apply the chain',
    }).catch(async (err: unknown) => {
      const counters = (await b.metricsText('state-delta'))
        .split('\n')
        .filter((l) => /^(delta_outcomes|state_delta|bus_messages_consumed|bus_lane)/.test(l));
      throw new Error(`${String(err)}\n${counters.join('\n')}\n${b.problems('state-delta')}`);
    });
    for (const [, o] of bad) {
      await waitFor(async () => (await outcome(o)) > 0, { message: `B to count a ${o} delta` });
      expect(await outcome(o)).toBe(1);
    }
    expect(await handled()).toBe(20);
    expect(await b.metric('state-delta', 'state_delta_parent_fetches_total')).toBe(0);
    // The batch was one lane batch, or a few: never one delta at a time.
    const batches = await b.metric('state-delta', 'bus_lane_batch_size_count', { consumer: 'state-delta' });
    expect(batches).toBeLessThan(23);
    const info = await b.api.getContext(contextId);
    expect(info.pendingDeltas).toBe(0);
    expect(info.heads).toEqual([toBase58(chain.at(-1)!.deltaId)]);
    const entries = await b.entries(contextId);
    for (let i = 0; i < 20; i++) expect(entries[`batch/${i}`]).toBe(`${i}`);
    for (const i of [100, 101, 102]) expect(entries[`batch/${i}`]).toBeUndefined();
    // A learns the chain from B by sync: both end on the same state.
    await b.api.triggerSync(contextId);
    await sameState();
    expect(await rootOf(a)).toBe(await rootOf(b));
  }, 180_000);
});
