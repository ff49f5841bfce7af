import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { wire } from '@cnode/proto';
import {
  PrimitiveErrorCode,
  generateIdentity,
  generateSymmetricKey,
  groupIdOf,
  openKeyEnvelope,
  sealKeyEnvelope,
  signGroupOp,
  MemberAuthRole,
  signMemberAuth,
  verifyGroupOp,
  verifyMemberAuth,
} from '../../src/index.js';

const admin = generateIdentity();
const invitee = generateIdentity();
const groupId = groupIdOf(admin.publicKey, 7n);
const groupKey = generateSymmetricKey();

function addInvitee(): wire.SignedGroupOpV1 {
  return signGroupOp({
    groupId,
    parents: [randomBytes(32)],
    signer: admin,
    nonce: 1n,
    op: {
      kind: {
        $case: 'addMember',
        addMember: {
          member: invitee.publicKey,
          role: wire.GroupRole.GROUP_ROLE_MEMBER,
          keyEnvelope: sealKeyEnvelope(groupKey, invitee.publicKey),
        },
      },
    },
  });
}

describe('group ops', () => {
  it('verify after signing, with a stable id, and survive a protobuf round trip', () => {
    const signed = addInvitee();
    const verified = verifyGroupOp(signed);
    const again = verifyGroupOp(wire.SignedGroupOpV1.decode(wire.SignedGroupOpV1.encode(signed).finish()));
    expect(again.opId.equals(verified.opId)).toBe(true);
    expect(verified.signer.equals(admin.publicKey)).toBe(true);
    const kind = verified.op.kind;
    expect(kind?.$case).toBe('addMember');
    if (kind?.$case === 'addMember') {
      expect(openKeyEnvelope(kind.addMember.keyEnvelope!, invitee.privateKey, invitee.publicKey).equals(groupKey)).toBe(
        true,
      );
    }
  });

  it.each([
    ['group id', (op: wire.SignedGroupOpV1) => (op.groupId = randomBytes(32))],
    ['parents', (op: wire.SignedGroupOpV1) => (op.parents = [randomBytes(32)])],
    ['nonce', (op: wire.SignedGroupOpV1) => (op.nonce = 2n)],
    ['signer', (op: wire.SignedGroupOpV1) => (op.signer = invitee.publicKey)],
    [
      'member',
      (op: wire.SignedGroupOpV1) => {
        if (op.op?.kind?.$case === 'addMember') op.op.kind.addMember.member = randomBytes(32);
      },
    ],
    [
      'role',
      (op: wire.SignedGroupOpV1) => {
        if (op.op?.kind?.$case === 'addMember') op.op.kind.addMember.role = wire.GroupRole.GROUP_ROLE_ADMIN;
      },
    ],
  ])('refuse an op whose %s was altered', (_field, tamper) => {
    const signed = addInvitee();
    tamper(signed);
    expect(() => verifyGroupOp(signed)).toThrow(
      expect.objectContaining({ code: PrimitiveErrorCode.GroupOpSignatureInvalid }),
    );
  });

  it('refuse malformed ops with their own code', () => {
    const noOp = { ...addInvitee(), op: undefined };
    expect(() => verifyGroupOp(noOp)).toThrow(expect.objectContaining({ code: PrimitiveErrorCode.GroupOpMalformed }));
    const shortId = { ...addInvitee(), groupId: randomBytes(5) };
    expect(() => verifyGroupOp(shortId)).toThrow(
      expect.objectContaining({ code: PrimitiveErrorCode.GroupOpMalformed }),
    );
  });

  it('bind a group id to its genesis signer and nonce', () => {
    expect(groupIdOf(admin.publicKey, 7n).equals(groupId)).toBe(true);
    expect(groupIdOf(invitee.publicKey, 7n).equals(groupId)).toBe(false);
    expect(groupIdOf(admin.publicKey, 8n).equals(groupId)).toBe(false);
  });
});

describe('member auth', () => {
  const contextId = randomBytes(32);
  const now = 1_700_000_000_000;

  it('accepts a responder proof in the responder role', () => {
    const auth = signMemberAuth(invitee, contextId, 'peerA', { nowMs: now, role: MemberAuthRole.Responder });
    expect(verifyMemberAuth(auth, contextId, 'peerA', { nowMs: now, role: MemberAuthRole.Responder })).toEqual(
      invitee.publicKey,
    );
  });

  it('accepts a fresh proof from the peer it names', () => {
    const auth = signMemberAuth(invitee, contextId, 'peerA', { nowMs: now });
    expect(verifyMemberAuth(auth, contextId, 'peerA', { nowMs: now + 1000 }).equals(invitee.publicKey)).toBe(true);
  });

  it.each([
    [
      'another peer',
      (auth = signMemberAuth(invitee, contextId, 'peerA', { nowMs: now })) =>
        () =>
          verifyMemberAuth(auth, contextId, 'peerB', { nowMs: now }),
    ],
    [
      'another context',
      (auth = signMemberAuth(invitee, contextId, 'peerA', { nowMs: now })) =>
        () =>
          verifyMemberAuth(auth, randomBytes(32), 'peerA', { nowMs: now }),
    ],
    [
      'a stale proof',
      (auth = signMemberAuth(invitee, contextId, 'peerA', { nowMs: now })) =>
        () =>
          verifyMemberAuth(auth, contextId, 'peerA', { nowMs: now + 120_000 }),
    ],
    [
      'a forged member',
      (auth = signMemberAuth(invitee, contextId, 'peerA', { nowMs: now })) =>
        () =>
          verifyMemberAuth({ ...auth, member: admin.publicKey }, contextId, 'peerA', { nowMs: now }),
    ],
    ['no proof', () => () => verifyMemberAuth(undefined, contextId, 'peerA', { nowMs: now })],
    [
      "a requester's proof offered as a responder's",
      (auth = signMemberAuth(invitee, contextId, 'peerA', { nowMs: now })) =>
        () =>
          verifyMemberAuth(auth, contextId, 'peerA', { nowMs: now, role: MemberAuthRole.Responder }),
    ],
  ])('refuses %s', (_what, make) => {
    expect(make()).toThrow(expect.objectContaining({ code: PrimitiveErrorCode.AuthInvalid }));
  });
});
