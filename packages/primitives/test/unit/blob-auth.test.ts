import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { BlobAuthRefusal, checkBlobAuth, createBlobAuth, generateIdentity } from '../../src/index.js';

const member = generateIdentity();
const scope = { blobId: randomBytes(32), contextId: randomBytes(32), requesterPeer: '12D3KooWRequester' };
const NOW = 1_800_000_000_000;

describe('blob auth tokens', () => {
  it('holds for its blob, context and peer within [now - 30 s, now + 10 s]', () => {
    for (const skewS of [-30, 0, 10]) {
      const auth = createBlobAuth(member, scope, NOW + skewS * 1000);
      expect(checkBlobAuth(auth, scope, NOW)).toEqual({ member: Buffer.from(member.publicKey) });
    }
  });

  it('is refused outside the window, with the reason', () => {
    for (const skewS of [-31, 11]) {
      expect(checkBlobAuth(createBlobAuth(member, scope, NOW + skewS * 1000), scope, NOW)).toEqual({
        refused: BlobAuthRefusal.Expired,
      });
    }
    expect(checkBlobAuth(undefined, scope, NOW)).toEqual({ refused: BlobAuthRefusal.Missing });
    const short = { ...createBlobAuth(member, scope, NOW), signature: Buffer.alloc(10) };
    expect(checkBlobAuth(short, scope, NOW)).toEqual({ refused: BlobAuthRefusal.Malformed });
  });

  it('does not carry over to another blob, context or peer, nor survive a changed timestamp', () => {
    const auth = createBlobAuth(member, scope, NOW);
    const bad = { refused: BlobAuthRefusal.BadSignature };
    expect(checkBlobAuth(auth, { ...scope, blobId: randomBytes(32) }, NOW)).toEqual(bad);
    expect(checkBlobAuth(auth, { ...scope, contextId: randomBytes(32) }, NOW)).toEqual(bad);
    expect(checkBlobAuth(auth, { ...scope, requesterPeer: '12D3KooWOther' }, NOW)).toEqual(bad);
    expect(checkBlobAuth({ ...auth, timestampS: auth.timestampS - 1n }, scope, NOW)).toEqual(bad);
  });
});
