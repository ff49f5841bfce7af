import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { wire } from '@cnode/proto';
import {
  generateIdentity,
  generateSymmetricKey,
  groupIdOf,
  keyIdOf,
  signGroupOp,
  verifyGroupOp,
  type Identity,
} from '@cnode/primitives';
import { GroupOpOutcome, GroupStore } from '../../src/index.js';
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

const add = (member: Uint8Array, role: wire.GroupRole): wire.GroupOp => ({
  kind: { $case: 'addMember', addMember: { member: Buffer.from(member), role } },
});

function genesis(admin: Identity, nonce = 1n): { groupId: Buffer; op: wire.SignedGroupOpV1 } {
  const groupId = groupIdOf(admin.publicKey, nonce);
  return {
    groupId,
    op: signGroupOp({
      groupId,
      parents: [],
      signer: admin,
      nonce,
      op: add(admin.publicKey, wire.GroupRole.GROUP_ROLE_ADMIN),
    }),
  };
}

describe('group store (real Postgres)', () => {
  it('applies a genesis, then admin ops in causal order, whatever order they arrive in', async () => {
    const admin = generateIdentity();
    const [bob, carol] = [generateIdentity(), generateIdentity()];
    const { groupId, op: g } = genesis(admin);
    const gId = (await store.addSigned(g)).applied[0]!.opId;
    const addBob = signGroupOp({ groupId, parents: [gId], signer: admin, nonce: 2n, op: add(bob.publicKey, 1) });
    const bobOpId = verifyGroupOp(addBob).opId;
    const addCarol = signGroupOp({
      groupId,
      parents: [bobOpId],
      signer: admin,
      nonce: 3n,
      op: add(carol.publicKey, 1),
    });

    // The child first: it waits for its parent, then both apply in order.
    expect((await store.addSigned(addCarol)).outcome).toBe(GroupOpOutcome.Pending);
    expect(await store.isMember(groupId, carol.publicKey)).toBe(false);
    const result = await store.addSigned(addBob);
    expect(result.outcome).toBe(GroupOpOutcome.Applied);
    expect(result.applied.map((o) => o.signed.nonce)).toEqual([2n, 3n]);
    expect(await store.isMember(groupId, bob.publicKey)).toBe(true);
    expect(await store.isMember(groupId, carol.publicKey)).toBe(true);
    expect((await store.addSigned(addBob)).outcome).toBe(GroupOpOutcome.Duplicate);
    expect((await store.appliedOps(groupId)).map((o) => o.nonce)).toEqual([1n, 2n, 3n]);
    expect(await store.heads(groupId)).toHaveLength(1);
    expect(await store.role(groupId, admin.publicKey)).toBe(wire.GroupRole.GROUP_ROLE_ADMIN);
  });

  it('refuses ops from non-admins and a second genesis, counting them as unauthorized', async () => {
    const admin = generateIdentity();
    const outsider = generateIdentity();
    const { groupId, op: g } = genesis(admin);
    const gId = (await store.addSigned(g)).applied[0]!.opId;
    const forged = signGroupOp({
      groupId,
      parents: [gId],
      signer: outsider,
      nonce: 9n,
      op: add(outsider.publicKey, 2),
    });
    const result = await store.addSigned(forged);
    expect(result.outcome).toBe(GroupOpOutcome.Unauthorized);
    expect(result.unauthorized).toBe(1);
    expect(await store.isMember(groupId, outsider.publicKey)).toBe(false);

    // A genesis for someone else's group id does not match the id binding.
    const fake = signGroupOp({ groupId, parents: [], signer: outsider, nonce: 1n, op: add(outsider.publicKey, 2) });
    expect((await store.addSigned(fake)).outcome).toBe(GroupOpOutcome.Unauthorized);
    expect(await store.members(groupId)).toHaveLength(1);
  });

  it('keeps group keys sealed at rest and returns them by key id', async () => {
    const groupId = randomBytes(32);
    const key = generateSymmetricKey();
    await store.putKey(groupId, keyIdOf(key), key);
    expect((await store.keys(groupId)).get(keyIdOf(key).toString('hex'))?.equals(key)).toBe(true);
    expect((await store.currentKey(groupId))?.equals(key)).toBe(true);
    const [row] = await db.sql<{ sealed_key: Buffer }[]>`select sealed_key from group_keys where group_id = ${groupId}`;
    expect(row!.sealed_key.includes(key)).toBe(false);
  });
});
