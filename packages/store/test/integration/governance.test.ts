import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { wire } from '@cnode/proto';
import { generateIdentity, groupIdOf, signGroupOp, verifyGroupOp, type Identity } from '@cnode/primitives';
import {
  GOVERNANCE_PENDING_CAPACITY,
  GovernancePendingRepo,
  GroupOpOutcome,
  GroupStore,
  ParkOutcome,
  StateStore,
} from '../../src/index.js';
import { freshSchema } from './state-harness.js';

let db: Awaited<ReturnType<typeof freshSchema>>;
let store: GroupStore;

beforeAll(async () => {
  db = await freshSchema();
  store = new GroupStore(db.sql, randomBytes(32));
});

afterAll(async () => {
  await db.drop();
});

const { GROUP_ROLE_ADMIN: ADMIN, GROUP_ROLE_MEMBER: MEMBER, GROUP_ROLE_READ_ONLY: READ_ONLY } = wire.GroupRole;
const add = (m: Identity, role: wire.GroupRole): wire.GroupOp => ({
  kind: { $case: 'addMember', addMember: { member: Buffer.from(m.publicKey), role } },
});
const remove = (m: Identity): wire.GroupOp => ({
  kind: { $case: 'removeMember', removeMember: { member: Buffer.from(m.publicKey) } },
});
const setRole = (m: Identity, role: wire.GroupRole): wire.GroupOp => ({
  kind: { $case: 'setRole', setRole: { member: Buffer.from(m.publicKey), role } },
});

let nonce = 100n;
/** A group with `admin` as genesis admin; returns helpers to sign ops on given parents. */
async function group(admin: Identity) {
  const groupId = groupIdOf(admin.publicKey, 1n);
  const genesis = signGroupOp({ groupId, parents: [], signer: admin, nonce: 1n, op: add(admin, ADMIN) });
  expect((await store.addSigned(genesis)).outcome).toBe(GroupOpOutcome.Applied);
  const sign = (signer: Identity, parents: Buffer[], op: wire.GroupOp, n = nonce++) =>
    signGroupOp({ groupId, parents, signer, nonce: n, op });
  return {
    groupId,
    genesisId: verifyGroupOp(genesis).opId,
    sign,
    id: (op: wire.SignedGroupOpV1) => verifyGroupOp(op).opId,
  };
}

describe('governance: membership at a cut (real Postgres)', () => {
  it('answers membership at any known cut, and undefined for a cut with unknown ops', async () => {
    const admin = generateIdentity();
    const [bob, carol] = [generateIdentity(), generateIdentity()];
    const g = await group(admin);
    const addBob = g.sign(admin, [g.genesisId], add(bob, MEMBER));
    await store.addSigned(addBob);
    const removeBob = g.sign(admin, [g.id(addBob)], remove(bob));
    await store.addSigned(removeBob);

    expect(await store.memberAtCut(g.groupId, bob.publicKey, [g.genesisId])).toBeNull();
    expect(await store.memberAtCut(g.groupId, bob.publicKey, [g.id(addBob)])).toBe(MEMBER);
    expect(await store.memberAtCut(g.groupId, bob.publicKey, [g.id(removeBob)])).toBeNull();
    expect(await store.memberAtCut(g.groupId, carol.publicKey, [g.id(addBob)])).toBeNull();
    // A cut naming an op we do not hold is undecidable, not a refusal.
    expect(await store.memberAtCut(g.groupId, bob.publicKey, [randomBytes(32)])).toBeUndefined();
    // The cut before any op names nobody.
    expect((await store.projection(g.groupId, []))!.members.size).toBe(0);
    expect(await store.liveStanding(g.groupId, bob.publicKey)).toBe('removed');
    expect(await store.liveStanding(g.groupId, carol.publicKey)).toBe('never_member');
    expect(await store.liveStanding(g.groupId, admin.publicKey)).toBe('member');
  });

  it('authorises an op at its own cut: an admin removed concurrently still issued a valid op', async () => {
    const [a1, a2, dave] = [generateIdentity(), generateIdentity(), generateIdentity()];
    const g = await group(a1);
    const addA2 = g.sign(a1, [g.genesisId], add(a2, ADMIN));
    await store.addSigned(addA2);
    // Concurrent: a1 removes a2, while a2 (not having seen it) adds dave.
    const removeA2 = g.sign(a1, [g.id(addA2)], remove(a2));
    const addDave = g.sign(a2, [g.id(addA2)], add(dave, MEMBER));
    expect((await store.addSigned(removeA2)).outcome).toBe(GroupOpOutcome.Applied);
    // Live, a2 is no admin any more; at addDave's cut it was: the op applies (every node agrees).
    expect((await store.addSigned(addDave)).outcome).toBe(GroupOpOutcome.Applied);
    expect(await store.isMember(g.groupId, dave.publicKey)).toBe(true);
    // But an op a2 signs on the removal is refused.
    const late = g.sign(a2, [g.id(removeA2), g.id(addDave)], add(generateIdentity(), MEMBER));
    expect((await store.addSigned(late)).outcome).toBe(GroupOpOutcome.Unauthorized);
  });

  it('refuses forged ops: non-admin signer, replayed nonce, removing the last admin, acting on a non-member', async () => {
    const admin = generateIdentity();
    const [bob, eve] = [generateIdentity(), generateIdentity()];
    const g = await group(admin);
    const addBob = g.sign(admin, [g.genesisId], add(bob, MEMBER), 7n);
    await store.addSigned(addBob);
    // A member (not an admin) cannot change membership.
    expect((await store.addSigned(g.sign(bob, [g.id(addBob)], add(eve, MEMBER)))).outcome).toBe(
      GroupOpOutcome.Unauthorized,
    );
    // The same nonce with other content is a replay; the same op again is a harmless duplicate.
    expect((await store.addSigned(g.sign(admin, [g.id(addBob)], add(eve, ADMIN), 7n))).outcome).toBe(
      GroupOpOutcome.ReplayedNonce,
    );
    expect((await store.addSigned(addBob)).outcome).toBe(GroupOpOutcome.Duplicate);
    expect((await store.addSigned(g.sign(admin, [g.id(addBob)], remove(admin)))).outcome).toBe(
      GroupOpOutcome.Unauthorized,
    );
    expect((await store.addSigned(g.sign(admin, [g.id(addBob)], setRole(eve, ADMIN)))).outcome).toBe(
      GroupOpOutcome.Unauthorized,
    );
    expect(await store.isMember(g.groupId, eve.publicKey)).toBe(false);
  });

  it('grants read_only_tee only with an attestation, and never an attestation with another role', async () => {
    const admin = generateIdentity();
    const [tee, plain, mixed] = [generateIdentity(), generateIdentity(), generateIdentity()];
    const g = await group(admin);
    const TEE = wire.GroupRole.GROUP_ROLE_READ_ONLY_TEE;
    const attested = (m: Identity, role: wire.GroupRole): wire.GroupOp => ({
      kind: {
        $case: 'addMember',
        addMember: {
          member: Buffer.from(m.publicKey),
          role,
          tee: { quoteHash: Buffer.alloc(32, 7), tcbStatus: 'Mock' },
        },
      },
    });
    expect((await store.addSigned(g.sign(admin, [g.genesisId], add(plain, TEE)))).outcome).toBe(
      GroupOpOutcome.Unauthorized,
    );
    expect((await store.addSigned(g.sign(admin, [g.genesisId], attested(mixed, MEMBER)))).outcome).toBe(
      GroupOpOutcome.Unauthorized,
    );
    const admitted = g.sign(admin, [g.genesisId], attested(tee, TEE));
    expect((await store.addSigned(admitted)).outcome).toBe(GroupOpOutcome.Applied);
    const cut = await store.currentProjection(g.groupId);
    expect(cut?.roleOf(tee.publicKey)).toBe(TEE);
    expect(cut?.isMember(tee.publicKey)).toBe(true);
    expect(cut?.canWrite(tee.publicKey)).toBe(false);
    // Nor can a role change grant it.
    expect((await store.addSigned(g.sign(admin, [g.id(admitted)], setRole(tee, TEE)))).outcome).toBe(
      GroupOpOutcome.Unauthorized,
    );
    expect(await store.isMember(g.groupId, plain.publicKey)).toBe(false);
    expect(await store.isMember(g.groupId, mixed.publicKey)).toBe(false);
  });

  it('resolves concurrent writes of one member slot by (generation, op id), the same whatever order they apply in', async () => {
    const admin = generateIdentity();
    const bob = generateIdentity();
    const g = await group(admin);
    const addBob = g.sign(admin, [g.genesisId], add(bob, MEMBER));
    await store.addSigned(addBob);
    // Two concurrent ops on bob's slot at the same generation.
    const readOnly = g.sign(admin, [g.id(addBob)], setRole(bob, READ_ONLY));
    const removal = g.sign(admin, [g.id(addBob)], remove(bob));
    await store.addSigned(readOnly);
    await store.addSigned(removal);
    const winner = Buffer.compare(g.id(readOnly), g.id(removal)) > 0 ? 'set_role' : 'remove';
    const cut = await store.currentProjection(g.groupId);
    expect(cut!.isMember(bob.publicKey)).toBe(winner === 'set_role');
    // The live view applied them in arrival order: the removal came last, so bob is gone there.
    expect(await store.isMember(g.groupId, bob.publicKey)).toBe(false);
    expect((await store.heads(g.groupId)).length).toBe(2);

    // Another node receiving them the other way round projects the same group.
    const other = await freshSchema();
    try {
      const replica = new GroupStore(other.sql, randomBytes(32));
      for (const op of await store.appliedOps(g.groupId)) {
        if (!verifyGroupOp(op).opId.equals(g.id(readOnly)) && !verifyGroupOp(op).opId.equals(g.id(removal))) {
          await replica.addSigned(op);
        }
      }
      await replica.addSigned(removal);
      await replica.addSigned(readOnly);
      const replicaCut = await replica.currentProjection(g.groupId);
      expect(replicaCut!.isMember(bob.publicKey)).toBe(winner === 'set_role');
      expect(replicaCut!.roleOf(bob.publicKey)).toBe(cut!.roleOf(bob.publicKey));
    } finally {
      await other.drop();
    }
  });

  it('serves only the ops a requester lacks when it names its heads', async () => {
    const admin = generateIdentity();
    const g = await group(admin);
    const a = g.sign(admin, [g.genesisId], add(generateIdentity(), MEMBER));
    await store.addSigned(a);
    const b = g.sign(admin, [g.id(a)], add(generateIdentity(), MEMBER));
    await store.addSigned(b);
    expect((await store.appliedOps(g.groupId)).length).toBe(3);
    const lacking = await store.appliedOps(g.groupId, 100, [g.id(a)]);
    expect(lacking.map((op) => verifyGroupOp(op).opId.toString('hex'))).toEqual([g.id(b).toString('hex')]);
    // Unknown heads are ignored: everything is served.
    expect((await store.appliedOps(g.groupId, 100, [randomBytes(32)])).length).toBe(3);
  });

  it('fills the projection columns of ops stored before they existed', async () => {
    const admin = generateIdentity();
    const bob = generateIdentity();
    const g = await group(admin);
    const addBob = g.sign(admin, [g.genesisId], add(bob, MEMBER));
    await store.addSigned(addBob);
    await db.sql`update group_ops set generation = null, slot = null, kind = null, subject = null, role = null, nonce = null
                 where group_id = ${g.groupId}`;
    const fresh = new GroupStore(db.sql, randomBytes(32));
    expect(await fresh.fillProjectionColumns()).toBe(2);
    expect(await fresh.memberAtCut(g.groupId, bob.publicKey, [g.id(addBob)])).toBe(MEMBER);
    expect(await fresh.fillProjectionColumns()).toBe(0);
  });
});

describe('governance-pending buffer (real Postgres)', () => {
  it('parks deltas FIFO-bounded per context, dedups by id, and keeps attempts', async () => {
    const states = new StateStore(db.sql);
    const contextId = randomBytes(32);
    await states.createContext(contextId, { groupId: randomBytes(32) });
    const repo = new GovernancePendingRepo(db.sql);
    const ids = Array.from({ length: GOVERNANCE_PENDING_CAPACITY + 2 }, () => randomBytes(32));
    const outcomes = [];
    for (const deltaId of ids) {
      outcomes.push(await repo.park({ contextId, deltaId, sourcePeer: 'p', delta: Buffer.from('x') }));
    }
    expect(outcomes.filter((o) => o === ParkOutcome.ParkedEvictingOldest)).toHaveLength(2);
    expect(await repo.park({ contextId, deltaId: ids.at(-1)!, sourcePeer: null, delta: Buffer.from('x') })).toBe(
      ParkOutcome.Duplicate,
    );
    const parked = await repo.list(contextId);
    expect(parked).toHaveLength(GOVERNANCE_PENDING_CAPACITY);
    expect(parked[0]!.deltaId.equals(ids[2]!)).toBe(true);
    await repo.bumpAttempts(contextId, ids[2]!);
    expect((await repo.list(contextId))[0]!.attempts).toBe(1);
    await repo.remove(contextId, ids[2]!);
    expect(await repo.count(contextId)).toBe(GOVERNANCE_PENDING_CAPACITY - 1);
    expect((await repo.contexts()).some((c) => c.equals(contextId))).toBe(true);
  });
});
