/**
 * Node modes and specialized nodes, every service a process, real libp2p on loopback: three
 * standard nodes (A admits mock TEEs, B does not, C forgets invites after one second) and a
 * read-only node R. A test peer plays a forger on the invite protocol and, once admitted as a
 * read_only_tee member with a key it holds, an author of deltas that every standard node must refuse.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { multiaddr } from '@multiformats/multiaddr';
import { peerIdFromString } from '@libp2p/peer-id';
import { NetworkClient, SPECIALIZED_INVITE_PROTOCOL, createCatalog } from '@cnode/bus';
import {
  HlcClock,
  MAX_GOVERNANCE_HEADS,
  createDelta,
  fromBase58,
  generateIdentity,
  openKeyEnvelope,
  toBase58,
  type Identity,
} from '@cnode/primitives';
import { admin, wire } from '@cnode/proto';
import {
  ProcessNode,
  TEST_INFRA,
  builtEntry,
  spawnNode,
  framedStream,
  plainLibp2pNode,
  refusal,
  waitFor,
  type PlainLibp2pNode,
} from '@cnode/testing';
import { mockQuote } from '../../services/node-manager/src/specialized/mock-quote.js';

const INVITE_TOPIC = 'mero_specialized_node_invites';
let a: ProcessNode;
let b: ProcessNode;
let c: ProcessNode;
let r: ProcessNode;
let peer: PlainLibp2pNode;
let nc: NatsConnection;
let contextId: string;
let groupB58: string;
/** B's member identity in the shared context. */
let memberOfB: string;

const listenAddr = async (node: ProcessNode): Promise<string> => {
  const info = await node.api.info();
  const addr = info.listenAddrs.find((x) => x.includes('127.0.0.1'))!;
  return addr.includes('/p2p/') ? addr : `${addr}/p2p/${info.peerId}`;
};

/** Whether `node`'s network service sees `subscriber` on the invite topic. */
async function seesOnInviteTopic(node: ProcessNode, subscriber: string): Promise<boolean> {
  const client = new NetworkClient({ nc: () => nc, catalog: createCatalog(node.name), timeoutMs: 5_000 });
  const { subscribers } = await client.topicPeers(INVITE_TOPIC);
  return subscribers.includes(subscriber);
}

const invites = (node: ProcessNode, outcome: string) =>
  node.metric('node-manager', 'node_manager_specialized_invites_total', { outcome });

/** The test peer answers an invite of `node` on the invite protocol; the inviter's answer. */
async function answerAs(
  node: ProcessNode,
  request: { nonce: Buffer; quote: Buffer; publicKey: Buffer },
): Promise<wire.SpecializedNodeInvitationResponse> {
  const stream = framedStream(
    await peer.dialProtocol(peerIdFromString((await node.api.info()).peerId), SPECIALIZED_INVITE_PROTOCOL),
  );
  await stream.writeFrame(wire.SpecializedNodeVerificationRequest.encode(request).finish());
  await stream.close();
  return wire.SpecializedNodeInvitationResponse.decode((await stream.readFrame())!);
}

const rootOf = async (node: ProcessNode, ctx = contextId): Promise<string> => (await node.api.getContext(ctx)).rootHash;

beforeAll(async () => {
  nc = await connect({ servers: TEST_INFRA.natsUrl });
  [a, b, c] = await Promise.all([
    ProcessNode.start({ env: { ACCEPT_MOCK_TEE: 'true' } }),
    ProcessNode.start({ env: { ACCEPT_MOCK_TEE: 'false' } }),
    ProcessNode.start({ env: { ACCEPT_MOCK_TEE: 'true', SPECIALIZED_INVITE_TTL: '1s' } }),
  ]);
  const shared = await ProcessNode.sharedContext([a, b, c]);
  contextId = shared.contextId;
  memberOfB = shared.members[1]!;
  groupB58 = (await a.api.getContext(contextId)).groupId;
  r = await ProcessNode.start({
    env: { NODE_MODE: 'read-only', NETWORK_BOOTSTRAP: (await Promise.all([a, b, c].map(listenAddr))).join(',') },
  });
  const rPeer = (await r.api.info()).peerId;
  await waitFor(async () => (await Promise.all([a, b, c].map((n) => seesOnInviteTopic(n, rPeer)))).every(Boolean), {
    timeoutMs: 60_000,
    message: 'the standard nodes to see R on the invite topic',
  });
  peer = await plainLibp2pNode();
  for (const node of [a, b, c]) await peer.dial(multiaddr(await listenAddr(node)));
}, 300_000);

afterAll(async () => {
  await peer?.stop();
  await nc?.close();
  await Promise.all([a, b, c, r].filter(Boolean).map((n) => n.stop()));
}, 60_000);

describe('a read-only node', () => {
  it('says so, and refuses every write: execute, batch, new contexts and groups', async () => {
    expect((await r.api.info()).nodeMode).toBe('read-only');
    expect((await a.api.info()).nodeMode).toBe('standard');
    const info = spawnNode(
      builtEntry('packages/cli/bin/cnode.js'),
      ['info', '--home', r.env.NODE_HOME!, '--token', r.env.ADMIN_TOKEN!],
      r.env,
    );
    expect(await info.exited).toBe(0);
    expect(info.lines).toContain('mode      read-only');
    for (const call of [r.api.createContext(), r.api.createGroup()]) {
      const refused = await refusal(call);
      expect(refused.code).toBe(status.FAILED_PRECONDITION);
      expect(refused.details).toMatch(/^NODE_READ_ONLY: /);
    }
  });

  it('is admitted by a mock-accepting inviter within 30 s, follows every delta, and cannot write', async () => {
    const before = await invites(a, 'confirmed');
    const started = Date.now();
    const { invite, recipients } = await a.api.inviteSpecializedNode(contextId);
    expect(recipients).toBeGreaterThan(0);
    expect(invite!.state).toBe('open');
    await waitFor(async () => (await r.api.listContexts()).contexts.some((ctx) => ctx.contextId === contextId), {
      timeoutMs: 30_000,
      message: 'R to join the context',
    });
    expect(Date.now() - started).toBeLessThan(30_000);
    await r.waitForState(contextId);
    await waitFor(async () => (await invites(a, 'confirmed')) > before, { message: 'A to hear R confirm its join' });
    expect(await a.api.listSpecializedInvites()).toEqual([]);
    const rMember = (await a.api.listMembers(groupB58)).members.find(
      (m) => m.role === admin.MemberRole.MEMBER_ROLE_READ_ONLY_TEE,
    );
    expect(rMember).toBeDefined();

    for (const [i, node] of [a, b, c].entries()) {
      await node.api.executeBatch(
        contextId,
        Array.from({ length: 20 }, (_, k) => ({ method: 'set', args: { key: `w${i}/${k}`, value: `${k}` } })),
      );
    }
    await waitFor(async () => new Set(await Promise.all([a, b, c, r].map((n) => rootOf(n)))).size === 1, {
      timeoutMs: 60_000,
      message: 'all four nodes, R included, to reach one root',
    });
    expect((await r.api.execute(contextId, 'get', { key: 'w2/19' })).output).toBe('19');

    const rootBefore = await rootOf(r);
    const refused = await refusal(r.api.execute(contextId, 'set', { key: 'mine', value: 'no' }));
    expect(refused.code).toBe(status.FAILED_PRECONDITION);
    expect(refused.details).toMatch(/^NODE_READ_ONLY: /);
    const [batched] = await r.api.executeBatch(contextId, [{ method: 'set', args: { key: 'mine', value: 'no' } }]);
    expect(batched).toMatchObject({ ok: false, code: 'NODE_READ_ONLY' });
    expect((await refusal(r.api.inviteSpecializedNode(contextId))).code).toBe(status.FAILED_PRECONDITION);
    expect(await rootOf(r)).toBe(rootBefore);
  }, 180_000);

  it('is refused by an inviter that does not accept mock TEEs, and counted', async () => {
    const own = (await b.api.createContext()).contextId;
    const before = await invites(b, 'mock_not_accepted');
    await b.api.inviteSpecializedNode(own);
    await waitFor(async () => (await invites(b, 'mock_not_accepted')) > before, {
      timeoutMs: 30_000,
      message: 'B to refuse R',
    });
    await waitFor(
      async () =>
        (await r.metric('node-manager', 'node_manager_specialized_answers_total', { outcome: 'refused' })) > 0,
      {
        message: 'R to hear the refusal',
      },
    );
    expect((await r.api.listContexts()).contexts.some((ctx) => ctx.contextId === own)).toBe(false);
    expect((await b.api.listMembers((await b.api.getContext(own)).groupId)).members).toHaveLength(1);
  }, 60_000);
});

describe('forged answers', () => {
  beforeAll(async () => {
    // From now on only the test peer answers invites.
    await r.kill('node-manager', 'SIGTERM');
  });

  it('are refused and counted: unknown nonce, key not bound, a claimed nonce, a replayed quote, an expired nonce', async () => {
    const membersBefore = (await a.api.listMembers(groupB58)).members.length;
    const rootBefore = await rootOf(a);
    const key = generateIdentity();

    const unknown = randomBytes(32);
    const wrongNonce = await answerAs(a, {
      nonce: unknown,
      quote: mockQuote(unknown, key.publicKey),
      publicKey: Buffer.from(key.publicKey),
    });
    expect(wrongNonce.error).toMatch(/unknown, expired or already claimed nonce/);

    const first = Buffer.from((await a.api.inviteSpecializedNode(contextId)).invite!.nonce, 'hex');
    const other = generateIdentity();
    const unbound = await answerAs(a, {
      nonce: first,
      quote: mockQuote(first, other.publicKey),
      publicKey: Buffer.from(key.publicKey),
    });
    expect(unbound).toMatchObject({ error: 'the report data is not bound to this key' });
    expect(unbound.invitation).toHaveLength(0);
    // The refused answer used the nonce up.
    const claimed = await answerAs(a, {
      nonce: first,
      quote: mockQuote(first, key.publicKey),
      publicKey: Buffer.from(key.publicKey),
    });
    expect(claimed.error).toMatch(/already claimed/);

    const second = Buffer.from((await a.api.inviteSpecializedNode(contextId)).invite!.nonce, 'hex');
    const replayed = await answerAs(a, {
      nonce: second,
      quote: mockQuote(first, key.publicKey),
      publicKey: Buffer.from(key.publicKey),
    });
    expect(replayed.error).toBe('the report data names another nonce');

    const ownOfC = (await c.api.createContext()).contextId;
    const late = Buffer.from((await c.api.inviteSpecializedNode(ownOfC)).invite!.nonce, 'hex');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const expired = await answerAs(c, {
      nonce: late,
      quote: mockQuote(late, key.publicKey),
      publicKey: Buffer.from(key.publicKey),
    });
    expect(expired.error).toMatch(/unknown, expired or already claimed nonce/);

    expect(await invites(a, 'unknown_nonce')).toBe(2);
    expect(await invites(a, 'key_mismatch')).toBe(1);
    expect(await invites(a, 'nonce_mismatch')).toBe(1);
    expect(await invites(c, 'unknown_nonce')).toBe(1);
    expect((await a.api.listMembers(groupB58)).members).toHaveLength(membersBefore);
    expect(await rootOf(a)).toBe(rootBefore);
  }, 60_000);

  it('a delta by a read_only_tee member (the test holds its key) is refused by every standard node', async () => {
    const tee: Identity = generateIdentity();
    const nonce = Buffer.from((await a.api.inviteSpecializedNode(contextId)).invite!.nonce, 'hex');
    const admitted = await answerAs(a, {
      nonce,
      quote: mockQuote(nonce, tee.publicKey),
      publicKey: Buffer.from(tee.publicKey),
    });
    expect(admitted.error).toBe('');
    const invitation = wire.Invitation.decode(admitted.invitation);
    const addOp = invitation.groupOps
      .map((o) => o.op?.kind)
      .find((k) => k?.$case === 'addMember' && Buffer.from(k.addMember.member).equals(Buffer.from(tee.publicKey)));
    expect(addOp?.$case === 'addMember' && addOp.addMember.role).toBe(wire.GroupRole.GROUP_ROLE_READ_ONLY_TEE);
    const envelope = addOp?.$case === 'addMember' ? addOp.addMember.keyEnvelope : undefined;
    const groupKey = openKeyEnvelope(envelope!, tee.privateKey, tee.publicKey);
    // The same quote cannot admit twice.
    const again = Buffer.from((await a.api.inviteSpecializedNode(contextId)).invite!.nonce, 'hex');
    expect(
      (
        await answerAs(a, {
          nonce: again,
          quote: mockQuote(nonce, tee.publicKey),
          publicKey: Buffer.from(tee.publicKey),
        })
      ).error,
    ).not.toBe('');

    await waitFor(
      async () =>
        (await Promise.all([a, b, c].map((n) => n.api.listMembers(groupB58)))).every((m) =>
          m.members.some((x) => x.member === toBase58(tee.publicKey)),
        ),
      { message: 'every standard node to know the TEE member' },
    );
    const heads = await a.withStore((s) => s.groups.heads(Buffer.from(fromBase58(groupB58))));
    const parents = (await a.api.getContext(contextId)).heads.map((h) => Buffer.from(fromBase58(h)));
    const clock = new HlcClock(randomBytes(16));
    const delta = createDelta({
      contextId: Buffer.from(fromBase58(contextId)),
      parents,
      actions: [{ kind: 'set', key: Buffer.from('tee-wrote'), value: Buffer.from('v'), at: clock.now() }],
      hlc: clock.now(),
      author: tee,
      governanceHeads: heads.slice(0, MAX_GOVERNANCE_HEADS),
      groupKey,
      rootHash: Buffer.alloc(32),
    });
    const refused = (node: ProcessNode) => node.metric('state-delta', 'delta_outcomes_total', { outcome: 'read_only' });
    const before = await Promise.all([a, b, c].map(refused));
    peer.services.pubsub.subscribe(contextId);
    await waitFor(
      () =>
        (peer.services.pubsub as unknown as { getSubscribers(t: string): unknown[] }).getSubscribers(contextId)
          .length >= 3,
      {
        message: 'the test peer to see the context topic subscribers',
      },
    );
    await peer.services.pubsub.publish(
      contextId,
      wire.BroadcastMessage.encode({ payload: { $case: 'stateDelta', stateDelta: delta } }).finish(),
    );
    await waitFor(async () => (await Promise.all([a, b, c].map(refused))).every((n, i) => n > before[i]!), {
      timeoutMs: 30_000,
      message: 'every standard node to refuse the read-only delta',
    });
    for (const node of [a, b, c])
      expect((await node.api.execute(contextId, 'get', { key: 'tee-wrote' })).output).toBeNull();
  }, 90_000);

  it('a read-only member of a standard node may call views only: its writes are refused, not dropped', async () => {
    const readOnly = admin.MemberRole.MEMBER_ROLE_READ_ONLY;
    await a.api.setMemberRole(groupB58, memberOfB, readOnly);
    await waitFor(
      async () => (await b.api.listMembers(groupB58)).members.find((m) => m.member === memberOfB)?.role === readOnly,
      { message: 'B to apply its demotion' },
    );
    const refused = await refusal(b.api.execute(contextId, 'set', { key: 'from-read-only', value: 'x' }));
    expect(refused.code).toBe(status.PERMISSION_DENIED);
    expect(refused.details).toMatch(/^ADMIN_MEMBER_READ_ONLY: set is not a view method/);
    expect((await b.api.execute(contextId, 'get', { key: 'w0/0' })).output).toBe('0');
    expect(
      await b.metric('node-manager', 'node_manager_read_only_refusals_total', { reason: 'member_read_only' }),
    ).toBe(1);
    // Nobody may grant read_only_tee without an attestation.
    const tee = await refusal(a.api.setMemberRole(groupB58, memberOfB, admin.MemberRole.MEMBER_ROLE_READ_ONLY_TEE));
    expect(tee.details).toMatch(/only through attested admission/);
  }, 60_000);
});
