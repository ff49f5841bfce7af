import { describe, expect, it } from '@jest/globals';
import {
  PrimitiveErrorCode,
  fromBase58,
  generateIdentity,
  generateSymmetricKey,
  openKeyEnvelope,
  publicKeyOf,
  sameIdSet,
  sealKeyEnvelope,
  signMessage,
  toBase58,
  verifySignature,
} from '../../src/index.js';

describe('Ed25519 identities', () => {
  it('signs and verifies; a changed message or key fails', () => {
    const id = generateIdentity();
    expect(publicKeyOf(id.privateKey)).toEqual(id.publicKey);
    const sig = signMessage(id.privateKey, Buffer.from('m'));
    expect(verifySignature(id.publicKey, Buffer.from('m'), sig)).toBe(true);
    expect(verifySignature(id.publicKey, Buffer.from('n'), sig)).toBe(false);
    expect(verifySignature(generateIdentity().publicKey, Buffer.from('m'), sig)).toBe(false);
    expect(verifySignature(Buffer.alloc(31), Buffer.from('m'), sig)).toBe(false);
  });
});

describe('key envelopes', () => {
  it('only the recipient opens a sealed group key', () => {
    const member = generateIdentity();
    const other = generateIdentity();
    const groupKey = generateSymmetricKey();
    const envelope = sealKeyEnvelope(groupKey, member.publicKey);
    expect(openKeyEnvelope(envelope, member.privateKey, member.publicKey)).toEqual(groupKey);
    expect(() => openKeyEnvelope(envelope, other.privateKey, other.publicKey)).toThrow(
      expect.objectContaining({ code: PrimitiveErrorCode.EnvelopeInvalid }),
    );
    const misaddressed = { ...envelope, recipient: other.publicKey };
    expect(() => openKeyEnvelope(misaddressed, other.privateKey, other.publicKey)).toThrow(
      expect.objectContaining({ code: PrimitiveErrorCode.DecryptFailed }),
    );
  });
});

describe('ids', () => {
  it('round-trip through base58 and refuse other lengths', () => {
    const id = generateIdentity().publicKey;
    expect(fromBase58(toBase58(id))).toEqual(id);
    expect(() => fromBase58(toBase58(Buffer.alloc(31, 1)))).toThrow(
      expect.objectContaining({ code: PrimitiveErrorCode.BadId }),
    );
    expect(() => fromBase58('0OIl')).toThrow(expect.objectContaining({ code: PrimitiveErrorCode.BadId }));
  });

  it('compare as sets of heads: order does not matter, membership and size do', () => {
    const [a, b, c] = [1, 2, 3].map((n) => Buffer.alloc(32, n));
    expect(sameIdSet([a!, b!], [b!, a!])).toBe(true);
    expect(sameIdSet([a!, b!], [a!, c!])).toBe(false);
    expect(sameIdSet([a!], [a!, b!])).toBe(false);
    expect(sameIdSet([], [])).toBe(true);
  });
});
