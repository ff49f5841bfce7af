import { wire } from '@cnode/proto';
import { actionsFromWire, actionsToWire, writeActions, type Action } from './actions.js';
import { AEAD_NONCE_BYTES, aeadOpen, aeadSeal, keyIdOf } from './aead.js';
import { CanonicalWriter } from './canonical.js';
import { signMessage, verifySignature, SIGNATURE_BYTES, type Identity } from './ed25519.js';
import { PrimitiveError, PrimitiveErrorCode } from './errors.js';
import { sha256 } from './hash.js';
import { assertNotFromFuture, encodeHlc, hlcFromWire, hlcToWire, type Hlc } from './hlc.js';
import { ID_BYTES, ZERO_ID } from './ids.js';

/** Domain tags keep a delta id or signature from ever meaning anything else. */
const DELTA_ID_DOMAIN = 'cnode/delta-id/v1';
const DELTA_SIGNATURE_DOMAIN = 'cnode/delta-signature/v1';
/** Upstream caps the sealed plaintext at 1 MiB (MAX_STATE_DELTA_PLAINTEXT_BYTES). */
export const MAX_DELTA_PLAINTEXT_BYTES = 1024 * 1024;
/** Largest gossip message any node sends or accepts (a delta, or a batch of them, with its envelope). */
export const GOSSIP_MAX_MESSAGE_BYTES = 1024 * 1024;
/** A delta names at most this many parents (heads it merges). */
export const MAX_DELTA_PARENTS = 64;
/** MAX_GOVERNANCE_DAG_HEADS upstream. */
export const MAX_GOVERNANCE_HEADS = 32;

/**
 * The content address of a delta: SHA-256 over its parents (in order) and the canonical encoding of
 * its actions. The HLC and the author are not part of it; the signature covers those.
 */
export function computeDeltaId(parents: readonly Uint8Array[], actions: readonly Action[]): Buffer {
  const w = new CanonicalWriter().string(DELTA_ID_DOMAIN);
  w.list(parents, (p) => w.raw(p));
  writeActions(w, actions);
  return sha256(w.finish());
}

export interface DeltaSignedFields {
  contextId: Uint8Array;
  deltaId: Uint8Array;
  author: Uint8Array;
  governanceHeads: readonly Uint8Array[];
  hlc: Hlc;
}

/** What the author signs: context, delta id, author, cited governance heads and HLC. */
export function deltaSignaturePayload(f: DeltaSignedFields): Buffer {
  const w = new CanonicalWriter().string(DELTA_SIGNATURE_DOMAIN).raw(f.contextId).raw(f.deltaId).raw(f.author);
  w.list(f.governanceHeads, (h) => w.raw(h));
  return w.raw(encodeHlc(f.hlc)).finish();
}

export interface NewDelta {
  contextId: Uint8Array;
  parents: readonly Uint8Array[];
  actions: readonly Action[];
  hlc: Hlc;
  author: Identity;
  governanceHeads?: readonly Uint8Array[];
  groupKey: Uint8Array;
  /** The author's root hash after applying the delta (advisory, sealed). */
  rootHash: Uint8Array;
  events?: wire.ExecutionEvent[];
}

/** Builds, seals and signs a StateDelta. */
export function createDelta(d: NewDelta): wire.StateDelta {
  return createOwnDelta(d).delta;
}

/**
 * Builds, seals and signs a StateDelta, and returns it also as the VerifiedDelta it is: we just
 * signed it, so there is nothing to verify.
 */
export function createOwnDelta(d: NewDelta): { delta: wire.StateDelta; verified: VerifiedDelta } {
  const deltaId = computeDeltaId(d.parents, d.actions);
  const plaintext = wire.SealedDeltaPayload.encode({
    actions: actionsToWire(d.actions),
    rootHash: Buffer.from(d.rootHash),
    events: d.events ?? [],
  }).finish();
  if (plaintext.length > MAX_DELTA_PLAINTEXT_BYTES) {
    throw new PrimitiveError(
      PrimitiveErrorCode.DeltaMalformed,
      `delta plaintext exceeds ${MAX_DELTA_PLAINTEXT_BYTES} bytes`,
    );
  }
  const { nonce, ciphertext } = aeadSeal(d.groupKey, plaintext);
  const governanceHeads = (d.governanceHeads ?? []).map((h) => Buffer.from(h));
  const signature = signMessage(
    d.author.privateKey,
    deltaSignaturePayload({ contextId: d.contextId, deltaId, author: d.author.publicKey, governanceHeads, hlc: d.hlc }),
  );
  const contextId = Buffer.from(d.contextId);
  const parents = d.parents.map((p) => Buffer.from(p));
  const keyId = keyIdOf(d.groupKey);
  return {
    delta: {
      contextId,
      deltaId,
      parentIds: parents,
      hlc: hlcToWire(d.hlc),
      author: d.author.publicKey,
      governancePosition: { dagHeads: governanceHeads },
      keyId,
      nonce,
      ciphertext,
      signature,
    },
    verified: {
      contextId,
      deltaId,
      parents,
      hlc: d.hlc,
      author: Buffer.from(d.author.publicKey),
      governanceHeads,
      keyId: Buffer.from(keyId),
      nonce: Buffer.from(nonce),
      ciphertext: Buffer.from(ciphertext),
      signature,
    },
  };
}

/** A delta whose envelope checked out: header fields validated, signature verified. */
export interface VerifiedDelta {
  contextId: Buffer;
  deltaId: Buffer;
  parents: Buffer[];
  hlc: Hlc;
  author: Buffer;
  governanceHeads: Buffer[];
  keyId: Buffer;
  nonce: Buffer;
  ciphertext: Buffer;
  signature: Buffer;
}

export interface OpenedDelta extends VerifiedDelta {
  actions: Action[];
  rootHash: Buffer;
  events: wire.ExecutionEvent[];
}

function malformed(message: string): never {
  throw new PrimitiveError(PrimitiveErrorCode.DeltaMalformed, message);
}

function checkId(bytes: Uint8Array, what: string): Buffer {
  if (bytes.length !== ID_BYTES) malformed(`${what} must be ${ID_BYTES} bytes`);
  return Buffer.from(bytes);
}

/**
 * Checks a delta's structure, its HLC against our clock and the author's signature, without the
 * group key (a node buffering deltas it cannot decrypt yet still refuses forgeries).
 */
export function verifyDelta(delta: wire.StateDelta, nowMs: number = Date.now()): VerifiedDelta {
  const parents = delta.parentIds.map((p) => checkId(p, 'parent id'));
  if (parents.length === 0 || parents.length > MAX_DELTA_PARENTS)
    malformed(`a delta has 1 to ${MAX_DELTA_PARENTS} parents`);
  const heads = (delta.governancePosition?.dagHeads ?? []).map((h) => checkId(h, 'governance head'));
  if (heads.length > MAX_GOVERNANCE_HEADS) malformed(`at most ${MAX_GOVERNANCE_HEADS} governance heads`);
  if (delta.nonce.length !== AEAD_NONCE_BYTES) malformed('a delta nonce is 12 bytes');
  if (delta.signature.length !== SIGNATURE_BYTES) {
    throw new PrimitiveError(PrimitiveErrorCode.SignatureInvalid, 'a delta signature is 64 bytes');
  }
  if (delta.ciphertext.length > MAX_DELTA_PLAINTEXT_BYTES + 16) malformed('delta ciphertext too large');
  const verified: VerifiedDelta = {
    contextId: checkId(delta.contextId, 'context id'),
    deltaId: checkId(delta.deltaId, 'delta id'),
    parents,
    hlc: hlcFromWire(delta.hlc),
    author: checkId(delta.author, 'author'),
    governanceHeads: heads,
    keyId: checkId(delta.keyId, 'key id'),
    nonce: Buffer.from(delta.nonce),
    ciphertext: Buffer.from(delta.ciphertext),
    signature: Buffer.from(delta.signature),
  };
  assertNotFromFuture(verified.hlc, nowMs);
  const payload = deltaSignaturePayload(verified);
  if (!verifySignature(verified.author, payload, verified.signature)) {
    throw new PrimitiveError(PrimitiveErrorCode.SignatureInvalid, 'delta signature does not verify');
  }
  return verified;
}

/**
 * The whole receive check of a delta: structure and HLC, signature, group key by key id, decryption,
 * payload decoding, and the content address. Each failure has its own code.
 */
export function openDelta(
  delta: wire.StateDelta,
  groupKey: (keyId: Buffer) => Uint8Array | undefined,
  nowMs: number = Date.now(),
): OpenedDelta {
  return openVerifiedDelta(verifyDelta(delta, nowMs), groupKey);
}

/**
 * The rest of the receive check for a delta whose envelope `verifyDelta` already accepted: group key
 * by key id, decryption, payload decoding and the content address.
 */
export function openVerifiedDelta(
  verified: VerifiedDelta,
  groupKey: (keyId: Buffer) => Uint8Array | undefined,
): OpenedDelta {
  const key = groupKey(verified.keyId);
  if (!key) throw new PrimitiveError(PrimitiveErrorCode.KeyUnknown, 'no group key with this key id');
  const plaintext = aeadOpen(key, verified.nonce, verified.ciphertext);
  let payload: wire.SealedDeltaPayload;
  let actions: Action[];
  try {
    payload = wire.SealedDeltaPayload.decode(plaintext);
    actions = actionsFromWire(payload.actions);
  } catch (err) {
    if (err instanceof PrimitiveError) throw err;
    throw new PrimitiveError(
      PrimitiveErrorCode.PayloadMalformed,
      'delta plaintext does not decode',
      {},
      { cause: err },
    );
  }
  if (!computeDeltaId(verified.parents, actions).equals(verified.deltaId)) {
    throw new PrimitiveError(PrimitiveErrorCode.IdMismatch, 'delta id does not match its parents and actions');
  }
  return { ...verified, actions, rootHash: Buffer.from(payload.rootHash), events: payload.events };
}

/** The parent list of a context's first delta. */
export const GENESIS_PARENTS: readonly Buffer[] = [ZERO_ID];
