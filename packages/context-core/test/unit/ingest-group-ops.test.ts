import { describe, expect, it } from '@jest/globals';
import {
  generateIdentity,
  generateSymmetricKey,
  groupIdOf,
  keyIdOf,
  sealKeyEnvelope,
  signGroupOp,
  type Identity,
  type VerifiedGroupOp,
} from '@cnode/primitives';
import type { wire } from '@cnode/proto';
import { GroupOpOutcome, type GroupStore, type IdentityRepo } from '@cnode/store';
import { testLogger } from '@cnode/testing';
import { ingestGroupOps } from '../../src/index.js';

/** A group store that records the order of key writes and op applications. */
function recordingStore(log: string[]) {
  const store = {
    putKey: async (_groupId: Buffer, keyId: Buffer) => {
      log.push(`key ${keyId.toString('hex')}`);
    },
    add: async (op: VerifiedGroupOp) => {
      log.push(`apply ${op.op.kind?.$case}`);
      return { outcome: GroupOpOutcome.Applied, applied: [op], unauthorized: 0 };
    },
  };
  return store as unknown as GroupStore;
}

const ownIdentities = (me: Identity) =>
  ({
    find: async (publicKey: Buffer) => (publicKey.equals(Buffer.from(me.publicKey)) ? me : undefined),
  }) as unknown as IdentityRepo;

function rotation(admin: Identity, recipient: Identity, keyId: Buffer, key: Buffer): wire.SignedGroupOpV1 {
  return signGroupOp({
    groupId: groupIdOf(admin.publicKey, 1n),
    parents: [],
    signer: admin,
    nonce: 5n,
    op: { kind: { $case: 'rotateKey', rotateKey: { keyId, envelopes: [sealKeyEnvelope(key, recipient.publicKey)] } } },
  });
}

describe('ingestGroupOps', () => {
  it('stores the key a RotateKey seals to us before the op is applied, so writers never see a keyless moment', async () => {
    const [admin, me] = [generateIdentity(), generateIdentity()];
    const key = generateSymmetricKey();
    const log: string[] = [];
    const result = await ingestGroupOps(
      { groups: recordingStore(log), identities: ownIdentities(me), logger: testLogger() },
      [rotation(admin, me, keyIdOf(key), key)],
    );
    expect(result.outcomes[GroupOpOutcome.Applied]).toBe(1);
    expect(log).toEqual([`key ${keyIdOf(key).toString('hex')}`, 'apply rotateKey']);
  });

  it('keeps no key of an op whose signature fails, nor one whose key does not match the id it names', async () => {
    const [admin, me] = [generateIdentity(), generateIdentity()];
    const key = generateSymmetricKey();
    const forged = rotation(admin, me, keyIdOf(key), key);
    forged.signature = Buffer.from(forged.signature).fill(7);
    const mislabelled = rotation(admin, me, keyIdOf(generateSymmetricKey()), key);
    const log: string[] = [];
    const result = await ingestGroupOps(
      { groups: recordingStore(log), identities: ownIdentities(me), logger: testLogger() },
      [forged, mislabelled],
    );
    expect(result.outcomes.invalid).toBe(1);
    expect(log).toEqual(['apply rotateKey']);
  });
});
