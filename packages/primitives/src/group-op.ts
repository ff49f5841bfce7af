import { type wire } from '@cnode/proto';
import { CanonicalWriter } from './canonical.js';
import { signMessage, verifySignature, SIGNATURE_BYTES, type Identity } from './ed25519.js';
import { PrimitiveError, PrimitiveErrorCode } from './errors.js';
import { domainHash, sha256 } from './hash.js';
import { ID_BYTES } from './ids.js';

const GROUP_ID_DOMAIN = 'cnode/group-id/v1';
const GROUP_OP_ID_DOMAIN = 'cnode/group-op-id/v1';
const GROUP_OP_SIGNATURE_DOMAIN = 'cnode/group-op-signature/v1';
/** An op merges at most this many governance heads. */
export const MAX_GROUP_OP_PARENTS = 32;
/** A RotateKey op carries at most this many envelopes (one per member). */
export const MAX_ROTATE_ENVELOPES = 4096;

/**
 * A group's id is bound to its genesis op: SHA-256 over the genesis signer and nonce. Nobody can
 * forge another genesis for an existing group, because a different signer yields a different id.
 */
export function groupIdOf(genesisSigner: Uint8Array, nonce: bigint): Buffer {
  const n = Buffer.alloc(8);
  n.writeBigUInt64BE(nonce);
  return domainHash(GROUP_ID_DOMAIN, [genesisSigner, n]);
}

function malformed(message: string): never {
  throw new PrimitiveError(PrimitiveErrorCode.GroupOpMalformed, message);
}

function checkId(bytes: Uint8Array | undefined, what: string): Buffer {
  if (!bytes || bytes.length !== ID_BYTES) malformed(`${what} must be ${ID_BYTES} bytes`);
  return Buffer.from(bytes);
}

function writeEnvelope(w: CanonicalWriter, e: wire.KeyEnvelope | undefined): void {
  if (!e) {
    w.u8(0);
    return;
  }
  w.u8(1).bytes(e.recipient).bytes(e.ephemeralPublicKey).bytes(e.nonce).bytes(e.ciphertext);
}

/** The canonical encoding of one op: a variant tag, then its fields in a fixed order. */
function writeOp(w: CanonicalWriter, op: wire.GroupOp): void {
  const kind = op.kind;
  if (!kind) malformed('a group op has no kind');
  switch (kind.$case) {
    case 'addMember':
      w.u8(1).raw(checkId(kind.addMember.member, 'member')).u32(kind.addMember.role);
      writeEnvelope(w, kind.addMember.keyEnvelope);
      return;
    case 'removeMember':
      w.u8(2).raw(checkId(kind.removeMember.member, 'member'));
      return;
    case 'setRole':
      w.u8(3).raw(checkId(kind.setRole.member, 'member')).u32(kind.setRole.role);
      return;
    case 'setCapability':
      w.u8(4).raw(checkId(kind.setCapability.member, 'member')).u32(kind.setCapability.capabilities);
      return;
    case 'registerContext':
      w.u8(5).raw(checkId(kind.registerContext.contextId, 'context id'));
      w.bytes(kind.registerContext.applicationId);
      // Covered when named; ops without a version keep the encoding (and ids) they always had.
      if (kind.registerContext.applicationVersion) {
        if (kind.registerContext.applicationVersion.length > 128) malformed('the application version is too long');
        w.string(kind.registerContext.applicationVersion);
      }
      return;
    case 'unregisterContext':
      w.u8(6).raw(checkId(kind.unregisterContext.contextId, 'context id'));
      return;
    case 'rotateKey':
      if (kind.rotateKey.envelopes.length > MAX_ROTATE_ENVELOPES) malformed('too many key envelopes');
      w.u8(7).raw(checkId(kind.rotateKey.keyId, 'key id'));
      w.list(kind.rotateKey.envelopes, (e) => writeEnvelope(w, e));
      return;
  }
}

export interface GroupOpFields {
  groupId: Uint8Array;
  parents: readonly Uint8Array[];
  signer: Uint8Array;
  nonce: bigint;
  op: wire.GroupOp;
}

/** The content address of an op: group, parents, signer, nonce and the op, canonically encoded. */
export function computeGroupOpId(f: GroupOpFields): Buffer {
  const w = new CanonicalWriter().string(GROUP_OP_ID_DOMAIN).raw(f.groupId);
  w.list(f.parents, (p) => w.raw(p));
  w.raw(f.signer).u64(f.nonce);
  writeOp(w, f.op);
  return sha256(w.finish());
}

function signaturePayload(opId: Uint8Array): Buffer {
  return new CanonicalWriter().string(GROUP_OP_SIGNATURE_DOMAIN).raw(opId).finish();
}

/** Builds and signs an op. */
export function signGroupOp(f: Omit<GroupOpFields, 'signer'> & { signer: Identity }): wire.SignedGroupOpV1 {
  const fields = { ...f, signer: f.signer.publicKey };
  const opId = computeGroupOpId(fields);
  return {
    groupId: Buffer.from(f.groupId),
    parents: f.parents.map((p) => Buffer.from(p)),
    signer: Buffer.from(f.signer.publicKey),
    nonce: f.nonce,
    op: f.op,
    signature: signMessage(f.signer.privateKey, signaturePayload(opId)),
  };
}

/** An op whose structure and signature checked out; whether the signer may issue it is the store's call. */
export interface VerifiedGroupOp {
  groupId: Buffer;
  opId: Buffer;
  parents: Buffer[];
  signer: Buffer;
  nonce: bigint;
  op: wire.GroupOp;
  /** The op as received, for storing and forwarding. */
  signed: wire.SignedGroupOpV1;
}

/** Checks an op's structure and signature; throws CORE_GROUP_OP_MALFORMED or _SIGNATURE_INVALID. */
export function verifyGroupOp(signed: wire.SignedGroupOpV1): VerifiedGroupOp {
  const groupId = checkId(signed.groupId, 'group id');
  if (signed.parents.length > MAX_GROUP_OP_PARENTS) malformed(`at most ${MAX_GROUP_OP_PARENTS} parents`);
  const parents = signed.parents.map((p) => checkId(p, 'parent op id'));
  const signer = checkId(signed.signer, 'signer');
  if (!signed.op) malformed('a signed group op carries no op');
  const opId = computeGroupOpId({ groupId, parents, signer, nonce: signed.nonce, op: signed.op });
  if (
    signed.signature.length !== SIGNATURE_BYTES ||
    !verifySignature(signer, signaturePayload(opId), signed.signature)
  ) {
    throw new PrimitiveError(PrimitiveErrorCode.GroupOpSignatureInvalid, 'group op signature does not verify');
  }
  return { groupId, opId, parents, signer, nonce: signed.nonce, op: signed.op, signed };
}

/**
 * Who signs a member-auth proof. Requesters prove membership with their first request, responders
 * with their first answer; distinct domains keep a proof of one role from passing as the other.
 */
export enum MemberAuthRole {
  Requester = 'cnode/member-auth/v1',
  Responder = 'cnode/member-auth/responder/v1',
}
/** How far a member-auth timestamp may be from the responder's clock. */
export const MEMBER_AUTH_MAX_SKEW_MS = 60_000;

function memberAuthPayload(role: MemberAuthRole, scopeId: Uint8Array, peer: string, timestampMs: bigint): Buffer {
  return new CanonicalWriter().string(role).raw(scopeId).string(peer).u64(timestampMs).finish();
}

/**
 * Proves to the other end of a sync stream that `signerPeer` (the signer's own libp2p peer id)
 * speaks for `member` about `scopeId` (context or group).
 */
export function signMemberAuth(
  member: Identity,
  scopeId: Uint8Array,
  signerPeer: string,
  opts: { nowMs?: number; role?: MemberAuthRole } = {},
): wire.MemberAuth {
  const timestampMs = BigInt(opts.nowMs ?? Date.now());
  const role = opts.role ?? MemberAuthRole.Requester;
  return {
    member: Buffer.from(member.publicKey),
    timestampMs,
    signature: signMessage(member.privateKey, memberAuthPayload(role, scopeId, signerPeer, timestampMs)),
  };
}

/** Checks a member-auth proof for the stream's actual remote peer; returns the member's key. */
export function verifyMemberAuth(
  auth: wire.MemberAuth | undefined,
  scopeId: Uint8Array,
  remotePeer: string,
  opts: { nowMs?: number; role?: MemberAuthRole } = {},
): Buffer {
  const nowMs = opts.nowMs ?? Date.now();
  const role = opts.role ?? MemberAuthRole.Requester;
  const invalid = (why: string): never => {
    throw new PrimitiveError(PrimitiveErrorCode.AuthInvalid, why);
  };
  if (!auth) return invalid('no member proof');
  if (auth.member.length !== ID_BYTES || auth.signature.length !== SIGNATURE_BYTES) {
    return invalid('malformed member proof');
  }
  if (Math.abs(Number(auth.timestampMs) - nowMs) > MEMBER_AUTH_MAX_SKEW_MS) return invalid('stale member proof');
  if (!verifySignature(auth.member, memberAuthPayload(role, scopeId, remotePeer, auth.timestampMs), auth.signature)) {
    return invalid('member proof does not verify for this peer');
  }
  return Buffer.from(auth.member);
}
