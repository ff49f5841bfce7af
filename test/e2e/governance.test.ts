/**
 * Groups and governance end to end: three nodes whose every service is its own process, real libp2p
 * on loopback, and a plain js-libp2p peer that gossips what the test crafts (forged ops, deltas of
 * members the test holds the keys of, and of a removed member gone rogue with its own keys).
 *
 * B never runs interval syncs (its drains come only from delta receipts and applied governance);
 * C runs one every 3 s (its drains come from the interval-sync trigger in that test).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { multiaddr } from '@multiformats/multiaddr';
import { status, type ServiceError } from '@grpc/grpc-js';
import {
  HlcClock,
  MAX_GOVERNANCE_HEADS,
  createDelta,
  fromBase58,
  generateIdentity,
  sealKeyEnvelope,
  signGroupOp,
  toBase58,
  verifyGroupOp,
  type Identity,
} from '@cnode/primitives';
import { admin, wire } from '@cnode/proto';
import { ProcessNode, builtEntry, plainLibp2pNode, spawnNode, waitFor, type PlainLibp2pNode } from '@cnode/testing';

let a: ProcessNode;
let b: ProcessNode;
let c: ProcessNode;
let attacker: PlainLibp2pNode;
let contextId: string;
let groupB58: string;
let groupId: Buffer;
let topic: string;
const clock = new HlcClock(randomBytes(16));
/** A member the test holds the key of (added by A, never a node). */
const xavier = generateIdentity();
let groupKey: Buffer;
let adminOfA: Identity;
/** C's member identity (base58). */
let cMember = '';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ctxBytes = (): Buffer => Buffer.from(fromBase58(contextId));

beforeAll(async () => {
  [a, b, c] = await Promise.all([
    ProcessNode.start({ env: { SYNC_HEARTBEAT_INTERVAL: '5s' } }),
    ProcessNode.start({ env: { SYNC_HEARTBEAT_INTERVAL: '5s', SYNC_FREQUENCY: '1h' } }),
    ProcessNode.start({ env: { SYNC_HEARTBEAT_INTERVAL: '5s', SYNC_FREQUENCY: '3s', SYNC_INTERVAL: '1s' } }),
  ]);
  const created = await a.api.createContext({ application: 'kv' });
  contextId = created.contextId;
  groupB58 = created.groupId;
  groupId = Buffer.from(fromBase58(groupB58));
  topic = `group/${hex(groupId)}`;
  for (const node of [b, c]) {
    const { publicKey } = await node.api.createIdentity();
    await node.api.joinContext((await a.api.inviteMember(contextId, publicKey)).invitationText);
  }
  await Promise.all([a, b, c].map((n) => n.waitForPeers(contextId, 2)));
  await Promise.all([b, c].map((n) => n.waitForState(contextId)));
  ({ adminOfA, groupKey } = await a.withStore(async (s) => ({
    adminOfA: (await s.identities.ownedInGroup(groupId, { admin: true }))!,
    groupKey: (await s.groups.currentKey(groupId))!,
  })));

  attacker = await plainLibp2pNode();
  attacker.services.pubsub.subscribe(contextId);
  attacker.services.pubsub.subscribe(topic);
  for (const node of [a, b, c]) {
    const info = await node.api.info();
    const addr = info.listenAddrs.find((x) => x.includes('127.0.0.1'))!;
    await attacker.dial(multiaddr(addr.includes('/p2p/') ? addr : `${addr}/p2p/${info.peerId}`));
  }
  const pubsub = attacker.services.pubsub as unknown as { getMeshPeers(topic: string): string[] };
  await waitFor(() => pubsub.getMeshPeers(contextId).length >= 3 && pubsub.getMeshPeers(topic).length >= 3, {
    timeoutMs: 60_000,
    message: 'the attacker to join the meshes of the context and group topics',
  });
}, 180_000);

afterAll(async () => {
  await attacker?.stop();
  await Promise.all([a, b, c].filter(Boolean).map((n) => n.stop()));
}, 60_000);

/** Our governance heads as A holds them. */
const headsOf = (node: ProcessNode): Promise<Buffer[]> => node.withStore((s) => s.groups.heads(groupId));

let nonce = 1_000n;
/** An op signed by `signer` on `parents`, not gossiped (the test decides who learns of it, and how). */
function op(signer: Identity, parents: Buffer[], body: wire.GroupOp, n = nonce++): wire.SignedGroupOpV1 {
  return signGroupOp({ groupId, parents, signer, nonce: n, op: body });
}
const addMember = (m: Identity, role = wire.GroupRole.GROUP_ROLE_MEMBER, key?: Buffer): wire.GroupOp => ({
  kind: {
    $case: 'addMember',
    addMember: { member: Buffer.from(m.publicKey), role, keyEnvelope: key && sealKeyEnvelope(key, m.publicKey) },
  },
});

async function publishOps(...ops: wire.SignedGroupOpV1[]): Promise<void> {
  for (const signedGroupOp of ops) {
    await attacker.services.pubsub.publish(
      topic,
      wire.BroadcastMessage.encode({ payload: { $case: 'signedGroupOp', signedGroupOp } }).finish(),
    );
  }
}

/** A delta by `author` citing `cut`, on `parents`, setting `key`. */
function craft(author: Identity, cut: Buffer[], key: string, opts: { parents: Buffer[]; groupKey?: Buffer }) {
  return createDelta({
    contextId: ctxBytes(),
    parents: opts.parents,
    actions: [{ kind: 'set', key: Buffer.from(key), value: Buffer.from('v'), at: clock.now() }],
    hlc: clock.now(),
    author,
    governanceHeads: cut.slice(0, MAX_GOVERNANCE_HEADS),
    groupKey: opts.groupKey ?? groupKey,
    rootHash: Buffer.alloc(32),
  });
}

async function publishDelta(delta: wire.StateDelta): Promise<void> {
  await attacker.services.pubsub.publish(
    contextId,
    wire.BroadcastMessage.encode({ payload: { $case: 'stateDelta', stateDelta: delta } }).finish(),
  );
}

const dagHeads = async (node: ProcessNode): Promise<Buffer[]> =>
  (await node.api.getContext(contextId)).heads.map((h) => Buffer.from(fromBase58(h)));

/** Sum of a state-delta metric. */
const sd = (node: ProcessNode, name: string, labels: Record<string, string>): Promise<number> =>
  node.metric('state-delta', name, labels);

const hasKey = (node: ProcessNode, key: string): Promise<boolean> =>
  node.withStore(async (s) => {
    const [row] =
      await s.sql`select 1 from state_entries where context_id = ${ctxBytes()} and key = ${Buffer.from(key)}`;
    return Boolean(row);
  });

async function waitForMetric(node: ProcessNode, name: string, labels: Record<string, string>, above: number) {
  await waitFor(async () => (await sd(node, name, labels)) > above, {
    timeoutMs: 60_000,
    message: `${node.name}: ${name}${JSON.stringify(labels)} to pass ${above}`,
  });
}

describe('groups and governance across three nodes', () => {
  let addXavier: wire.SignedGroupOpV1;

  it('parks a delta citing governance ops a node has not seen, and applies it once they arrive (governance_applied)', async () => {
    addXavier = op(adminOfA, await headsOf(a), addMember(xavier, wire.GroupRole.GROUP_ROLE_MEMBER, groupKey));
    const cut = [verifyGroupOp(addXavier).opId];
    const parked = await sd(b, 'delta_outcomes_total', { outcome: 'governance_pending', via: 'gossip' });
    const drained = await sd(b, 'governance_drain_outcome_total', {
      outcome: 'applied',
      trigger: 'governance_applied',
    });
    await publishDelta(craft(xavier, cut, 'x-1', { parents: await dagHeads(b) }));
    await waitForMetric(b, 'delta_outcomes_total', { outcome: 'governance_pending', via: 'gossip' }, parked);
    expect(await hasKey(b, 'x-1')).toBe(false);

    await publishOps(addXavier);
    await waitForMetric(
      b,
      'governance_drain_outcome_total',
      { outcome: 'applied', trigger: 'governance_applied' },
      drained,
    );
    await waitFor(() => hasKey(b, 'x-1'), { message: "B to apply xavier's parked delta" });
    expect(await b.withStore((s) => s.groups.isMember(groupId, xavier.publicKey))).toBe(true);
  }, 120_000);

  it('drains on a delta receipt: ops that arrived without a drain request are picked up by the next delta', async () => {
    const g = op(adminOfA, await headsOf(b), addMember(generateIdentity()));
    const cut = [verifyGroupOp(g).opId];
    const drained = await sd(b, 'governance_drain_outcome_total', { outcome: 'applied', trigger: 'delta_receipt' });
    const parked = await sd(b, 'delta_outcomes_total', { outcome: 'governance_pending', via: 'gossip' });
    await publishDelta(craft(xavier, cut, 'x-receipt', { parents: await dagHeads(b) }));
    await waitForMetric(b, 'delta_outcomes_total', { outcome: 'governance_pending', via: 'gossip' }, parked);
    // The op lands in B's store with no drain request (as after a crash between apply and request).
    await b.withStore((s) => s.groups.addSigned(g));
    await publishDelta(craft(xavier, await headsOf(b), 'x-next', { parents: await dagHeads(b) }));
    await waitForMetric(b, 'governance_drain_outcome_total', { outcome: 'applied', trigger: 'delta_receipt' }, drained);
    await waitFor(() => hasKey(b, 'x-receipt'), { message: 'B to apply the parked delta' });
  }, 120_000);

  it('drains before an interval sync', async () => {
    // C first catches up what the others hold and lets the drains that caused settle, so no other
    // applied op drains its queue meanwhile.
    const others = [...(await headsOf(a)), ...(await headsOf(b))];
    await waitFor(
      async () =>
        (await c.withStore((s) => s.groups.appliedAmong(groupId, others))).length === new Set(others.map(hex)).size,
      { timeoutMs: 60_000, message: 'C to catch up governance' },
    );
    await new Promise((r) => setTimeout(r, 3_000));
    const g = op(adminOfA, await headsOf(c), addMember(generateIdentity()));
    const cut = [verifyGroupOp(g).opId];
    const drained = await sd(c, 'governance_drain_outcome_total', { outcome: 'applied', trigger: 'interval_sync' });
    const parked = await sd(c, 'delta_outcomes_total', { outcome: 'governance_pending', via: 'gossip' });
    await publishDelta(craft(xavier, cut, 'x-interval', { parents: await dagHeads(c) }));
    await waitForMetric(c, 'delta_outcomes_total', { outcome: 'governance_pending', via: 'gossip' }, parked);
    await c.withStore((s) => s.groups.addSigned(g));
    await waitForMetric(c, 'governance_drain_outcome_total', { outcome: 'applied', trigger: 'interval_sync' }, drained);
    await waitFor(() => hasKey(c, 'x-interval'), { message: 'C to apply the parked delta' });
  }, 120_000);

  it('refuses forged ops (bad signature, non-admin signer, replayed nonce) and counts each', async () => {
    const heads = await headsOf(b);
    const [v1, v2, v3] = [generateIdentity(), generateIdentity(), generateIdentity()];
    const badSignature = op(adminOfA, heads, addMember(v1));
    badSignature.signature = Buffer.from(badSignature.signature).fill(9, 0, 8);
    const nonAdmin = op(xavier, heads, addMember(v2, wire.GroupRole.GROUP_ROLE_ADMIN));
    // A's nonce of the op that added xavier, reused for other content.
    const replayed = op(adminOfA, heads, addMember(v3, wire.GroupRole.GROUP_ROLE_ADMIN), addXavier.nonce);
    const outcomes = ['invalid', 'unauthorized', 'replayed_nonce'];
    const before = await Promise.all(
      outcomes.map((o) => b.metric('node-manager', 'node_manager_group_ops_total', { outcome: o })),
    );
    await publishOps(badSignature, nonAdmin, replayed);
    for (const [i, outcome] of outcomes.entries()) {
      await waitFor(
        async () => (await b.metric('node-manager', 'node_manager_group_ops_total', { outcome })) > before[i]!,
        { message: `B to count a ${outcome} op` },
      );
    }
    const members = (await b.api.listMembers(groupB58)).members.map((m) => m.member);
    for (const v of [v1, v2, v3]) expect(members).not.toContain(toBase58(v.publicKey));
  }, 60_000);

  it('GroupStateHeartbeat: a node that sees governance heads it lacks fetches the ops from that peer', async () => {
    const g = op(adminOfA, await headsOf(b), addMember(generateIdentity()));
    const id = verifyGroupOp(g).opId;
    const label = { outcome: 'ok', trigger: 'heartbeat' };
    const before = await a.metric('node-manager', 'node_manager_governance_catchups_total', label);
    // Only B holds the op: nothing gossips it and no delta cites it.
    await b.withStore((s) => s.groups.addSigned(g));
    for (const node of [a, c]) {
      await waitFor(async () => (await node.withStore((s) => s.groups.appliedAmong(groupId, [id]))).length === 1, {
        timeoutMs: 60_000,
        message: `${node.name} to fetch the op after B's group heartbeat`,
      });
    }
    expect(await a.metric('node-manager', 'node_manager_governance_catchups_total', label)).toBeGreaterThan(before);
    expect(
      await a.metric('node-manager', 'node_manager_group_heartbeats_total', { outcome: 'heads_lacking' }),
    ).toBeGreaterThan(0);
  }, 90_000);

  it('GroupService: roles (a read-only member may not write), key rotation, the ops log, and refusals', async () => {
    const xavierB58 = toBase58(xavier.publicKey);
    const readOnly = admin.MemberRole.MEMBER_ROLE_READ_ONLY;
    expect((await a.api.setMemberRole(groupB58, xavierB58, readOnly)).opIds).toHaveLength(1);
    await waitFor(
      async () => (await b.api.listMembers(groupB58)).members.find((m) => m.member === xavierB58)?.role === readOnly,
      { message: 'B to see xavier read-only' },
    );
    const refused = await sd(b, 'delta_outcomes_total', { outcome: 'read_only', via: 'gossip' });
    await publishDelta(craft(xavier, await headsOf(b), 'x-read-only', { parents: await dagHeads(b) }));
    await waitForMetric(b, 'delta_outcomes_total', { outcome: 'read_only', via: 'gossip' }, refused);
    expect(await hasKey(b, 'x-read-only')).toBe(false);

    const keyBefore = (await a.api.getGroup(groupB58)).currentKeyId;
    await a.api.rotateKey(groupB58);
    const rotated = await a.api.getGroup(groupB58);
    expect(rotated.currentKeyId).not.toBe(keyBefore);
    expect(rotated.holdsCurrentKey).toBe(true);
    await waitFor(
      async () => {
        const g = await b.api.getGroup(groupB58);
        return g.currentKeyId === rotated.currentKeyId && g.holdsCurrentKey;
      },
      { message: 'B to hold the rotated key' },
    );
    const { deltaId } = await b.api.execute(contextId, 'set', { key: 'after-rotation', value: '1' });
    expect(deltaId).not.toBe('');
    await waitFor(async () => (await a.api.execute(contextId, 'get', { key: 'after-rotation' })).output === '1', {
      message: "A to apply B's delta under the rotated key",
    });

    const kinds = (await a.api.listOps(groupB58, 1000)).ops.map((o) => o.kind);
    expect(kinds[0]).toBe('add_member');
    expect(kinds).toEqual(expect.arrayContaining(['register_context', 'set_role', 'rotate_key']));

    const denied = await b.api.addMember(groupB58, toBase58(generateIdentity().publicKey)).then(
      () => undefined,
      (err: ServiceError) => err,
    );
    expect(denied?.code).toBe(status.PERMISSION_DENIED);
    const lastAdmin = await a.api.removeMember(groupB58, toBase58(adminOfA.publicKey)).then(
      () => undefined,
      (err: ServiceError) => err,
    );
    expect(lastAdmin?.code).toBe(status.FAILED_PRECONDITION);
    expect(lastAdmin?.details).toMatch(/last admin/);
  }, 90_000);

  it('the cnode group CLI lists members, the group and its ops, and explains refusals', async () => {
    const cli = async (...args: string[]): Promise<{ code: number | string; out: string }> => {
      const run = spawnNode(
        builtEntry('packages/cli/bin/cnode.js'),
        [...args, '--home', a.env.NODE_HOME!, '--token', a.env.ADMIN_TOKEN!],
        a.env,
      );
      const code = await run.exited;
      return { code, out: run.lines.join('\n') };
    };
    const members = await cli('group', 'members', groupB58);
    expect(members.code).toBe(0);
    expect(members.out).toContain(`${toBase58(adminOfA.publicKey)}  admin`);
    expect(members.out).toContain(`${toBase58(xavier.publicKey)}  read_only`);
    const got = await cli('group', 'get', groupB58);
    expect(got.out).toMatch(new RegExp(`contexts +.*${contextId}`));
    expect(got.out).toMatch(/ops +\d+ applied, 0 waiting for parents/);
    const ops = await cli('group', 'ops', groupB58, '--limit', '3');
    expect(ops.out.split('\n').filter((l) => l.trim())).toHaveLength(3);
    expect(ops.out).toMatch(/^ +1 [0-9a-f]{16} add_member/m);
    const badRole = await cli('group', 'set-role', groupB58, toBase58(xavier.publicKey), 'owner');
    expect(badRole.code).toBe(2);
    expect(badRole.out).toMatch(/role must be member, admin or read_only/);
    const lastAdmin = await cli('group', 'remove', groupB58, toBase58(adminOfA.publicKey));
    expect(lastAdmin.code).toBe(1);
    expect(lastAdmin.out).toMatch(/FAILED_PRECONDITION: ADMIN_GOVERNANCE_REFUSED: would remove the last admin/);
  }, 60_000);

  it('contexts registered in the group are joined by its members; unregistered ones are left', async () => {
    const second = await a.api.createContext({ application: 'kv', groupId: groupB58 });
    expect(second.groupId).toBe(groupB58);
    for (const node of [b, c]) {
      await waitFor(
        async () => (await node.api.listContexts()).contexts.some((x) => x.contextId === second.contextId),
        {
          message: `${node.name} to join the newly registered context`,
        },
      );
    }
    await b.waitForPeers(second.contextId, 1);
    await b.waitForState(second.contextId);
    await a.api.execute(second.contextId, 'set', { key: 'in-second', value: 'yes' });
    await waitFor(async () => (await b.api.execute(second.contextId, 'get', { key: 'in-second' })).output === 'yes', {
      message: 'B to get the write in the second context',
    });
    const left = await b.metric('node-manager', 'node_manager_group_reconciles_total', { action: 'left_unregistered' });
    await a.api.unregisterContext(groupB58, second.contextId);
    await waitFor(
      async () =>
        (await b.metric('node-manager', 'node_manager_group_reconciles_total', { action: 'left_unregistered' })) > left,
      { message: 'B to leave the unregistered context' },
    );
  }, 120_000);

  describe('removing C while A and B keep writing', () => {
    let cIdentity: Identity;
    let headsBeforeRemoval: Buffer[];
    let dagBeforeRemoval: Buffer[];
    const afterIds: string[] = [];

    it("C's removal rotates the key; A and B converge; C's own view stops at its removal", async () => {
      cMember = (await c.api.getContext(contextId)).ownMembers[0]!;
      cIdentity = (await c.withStore((s) => s.identities.find(Buffer.from(fromBase58(cMember)))))!;
      headsBeforeRemoval = await headsOf(a);
      dagBeforeRemoval = await dagHeads(a);
      let writing = true;
      const writer = async (node: ProcessNode, tag: string): Promise<void> => {
        for (let i = 0; writing; i++)
          await node.api.execute(contextId, 'set', { key: `during-${tag}-${i % 20}`, value: `${i}` });
      };
      const writers = [writer(a, 'a'), writer(b, 'b')];
      await new Promise((r) => setTimeout(r, 500));
      const removed = await a.api.removeMember(groupB58, cMember);
      expect(removed.opIds).toHaveLength(2);
      await waitFor(async () => !(await b.api.listMembers(groupB58)).members.some((m) => m.member === cMember), {
        message: 'B to apply the removal',
      });
      await new Promise((r) => setTimeout(r, 500));
      writing = false;
      await Promise.all(writers);

      // C learns it was removed, and its node no longer writes (or reads) as a member.
      await waitFor(async () => !(await c.api.listMembers(groupB58)).members.some((m) => m.member === cMember), {
        message: 'C to apply its removal',
      });
      const refused = await c.api.execute(contextId, 'set', { key: 'c-after', value: '1' }).then(
        () => undefined,
        (err: ServiceError) => err,
      );
      expect(refused?.code).toBe(status.PERMISSION_DENIED);

      // Written after the removal: sealed with the rotated key, which C never received.
      for (const node of [a, b]) {
        for (let i = 0; i < 5; i++) {
          afterIds.push(
            (await node.api.execute(contextId, 'set', { key: `after-${node.name}-${i}`, value: 'x' })).deltaId,
          );
        }
      }
      const group = await a.api.getGroup(groupB58);
      expect(group.currentKeyId).not.toBe('');
      const usedKeys = await a.withStore(async (s) => {
        const ids = afterIds.map((d) => Buffer.from(fromBase58(d)));
        const rows = await s.sql<{ key_id: Buffer }[]>`
          select distinct key_id from deltas
          where context_id = ${ctxBytes()} and delta_id = any (${s.sql.array(ids, 1001)}::bytea[])`;
        return rows.map((r) => hex(r.key_id));
      });
      expect(usedKeys).toEqual([group.currentKeyId]);
      const keysOfC = await c.withStore(async (s) => [...(await s.groups.keys(groupId)).keys()]);
      expect(keysOfC).not.toContain(group.currentKeyId);
      expect((await b.api.getGroup(groupB58)).holdsCurrentKey).toBe(true);

      const roots = async () => Promise.all([a, b].map(async (n) => (await n.api.getContext(contextId)).rootHash));
      await waitFor(async () => new Set(await roots()).size === 1, {
        timeoutMs: 60_000,
        message: 'A and B to converge',
      });
      expect(await b.entries(contextId)).toEqual(await a.entries(contextId));
      await new Promise((r) => setTimeout(r, 2_000));
      for (let i = 0; i < 5; i++) expect(await hasKey(c, `after-${a.name}-${i}`)).toBe(false);
      // And C left the topics of a group it is no member of.
      expect(
        await c.metric('node-manager', 'node_manager_group_reconciles_total', { action: 'left_removed' }),
      ).toBeGreaterThan(0);
    }, 180_000);

    it("C's later deltas (citing its removal) are refused by A and B", async () => {
      const cut = await headsOf(a);
      const before = await Promise.all(
        [a, b].map((n) => sd(n, 'delta_outcomes_total', { outcome: 'not_member', via: 'gossip' })),
      );
      await publishDelta(craft(cIdentity, cut, 'rogue-after', { parents: await dagHeads(a) }));
      for (const [i, node] of [a, b].entries()) {
        await waitForMetric(node, 'delta_outcomes_total', { outcome: 'not_member', via: 'gossip' }, before[i]!);
        expect(await hasKey(node, 'rogue-after')).toBe(false);
      }
    }, 60_000);

    it('a write C made before it learned of its removal (its cut) still applies, reported as membership-cut-grant', async () => {
      const grants = await Promise.all(
        [a, b].map((n) => sd(n, 'unified_projection_divergence_total', { plane: 'membership-cut-grant' })),
      );
      await publishDelta(craft(cIdentity, headsBeforeRemoval, 'c-concurrent', { parents: dagBeforeRemoval }));
      for (const [i, node] of [a, b].entries()) {
        await waitForMetric(node, 'unified_projection_divergence_total', { plane: 'membership-cut-grant' }, grants[i]!);
        await waitFor(() => hasKey(node, 'c-concurrent'), { message: `${node.name} to apply C's concurrent write` });
        const line = node
          .logged('state-delta', 'unified_projection_divergence')
          .find((l) => l.plane === 'membership-cut-grant');
        expect(line).toMatchObject({
          event: 'unified_projection_divergence',
          plane: 'membership-cut-grant',
          group: hex(groupId),
          context: contextId,
          identity: cMember,
          projection: 'member',
          live: 'removed',
        });
      }
    }, 60_000);

    it('drains label their drops removed, never_member, or not_member (with a membership-cut divergence)', async () => {
      const heads = await headsOf(b);
      const later = op(adminOfA, heads, addMember(generateIdentity()));
      const laterCut = [verifyGroupOp(later).opId];
      // Concurrent with xavier's addition: a cut where xavier was not a member yet.
      const early = op(adminOfA, [verifyGroupOp(addXavier).parents[0]!], addMember(generateIdentity()));
      const earlyCut = [verifyGroupOp(early).opId];
      const labels = ['removed', 'never_member', 'not_member'];
      const before = await Promise.all(
        labels.map((outcome) => sd(b, 'governance_drain_outcome_total', { outcome, trigger: 'governance_applied' })),
      );
      const cuts = await sd(b, 'unified_projection_divergence_total', { plane: 'membership-cut' });
      const parents = await dagHeads(b);
      const parked = await sd(b, 'delta_outcomes_total', { outcome: 'governance_pending', via: 'gossip' });
      await publishDelta(craft(cIdentity, laterCut, 'drop-removed', { parents }));
      await publishDelta(craft(generateIdentity(), laterCut, 'drop-never', { parents }));
      await publishDelta(craft(xavier, earlyCut, 'drop-not-member', { parents }));
      await waitFor(
        async () =>
          (await sd(b, 'delta_outcomes_total', { outcome: 'governance_pending', via: 'gossip' })) >= parked + 3,
        { message: 'B to park the three deltas' },
      );
      await publishOps(later, early);
      for (const [i, outcome] of labels.entries()) {
        await waitForMetric(
          b,
          'governance_drain_outcome_total',
          { outcome, trigger: 'governance_applied' },
          before[i]!,
        );
      }
      await waitForMetric(b, 'unified_projection_divergence_total', { plane: 'membership-cut' }, cuts);
      const line = b.logged('state-delta', 'unified_projection_divergence').find((l) => l.plane === 'membership-cut');
      expect(line).toMatchObject({
        plane: 'membership-cut',
        identity: toBase58(xavier.publicKey),
        projection: 'not_member',
        live: 'member',
      });
      for (const key of ['drop-removed', 'drop-never', 'drop-not-member']) expect(await hasKey(b, key)).toBe(false);
      // The metric family carries upstream's labels and never lookup_error.
      const text = await b.metricsText('state-delta');
      expect(text).toMatch(
        /^governance_drain_outcome_total\{[^}]*outcome="never_member",trigger="governance_applied"[^}]*\} \d+/m,
      );
      expect(text).not.toContain('lookup_error');
    }, 120_000);
  });

  it('a late joiner with no history catches up governance, then state, and its first write is accepted everywhere', async () => {
    const d = await ProcessNode.start();
    try {
      const { publicKey } = await d.api.createIdentity();
      // No key in the invitation: the joiner gets the rotated key from a member by key share.
      const { invitationText } = await a.api.inviteMember(contextId, publicKey, true);
      await d.api.joinContext(invitationText);
      await d.waitForState(contextId);
      const members = (await d.api.listMembers(groupB58)).members.map((m) => m.member);
      expect(members).toContain(publicKey);
      expect(members).not.toContain(cMember);
      await waitFor(async () => (await d.api.getGroup(groupB58)).holdsCurrentKey, {
        message: 'D to hold the current key',
      });
      const written = await d.api.execute(contextId, 'set', { key: 'late-joiner', value: 'hello' });
      expect(written.deltaId).not.toBe('');
      for (const node of [a, b]) {
        await waitFor(
          async () => (await node.api.execute(contextId, 'get', { key: 'late-joiner' })).output === 'hello',
          {
            message: `${node.name} to accept the late joiner's write`,
          },
        );
      }
    } finally {
      await d.stop();
    }
  }, 180_000);
});
