import { CodedError } from '@cnode/runtime';

/** Why a value from outside was refused by the core library. Metric label values. */
export enum PrimitiveErrorCode {
  BadId = 'CORE_BAD_ID',
  BadKey = 'CORE_BAD_KEY',
  /** An HLC more than 5 s ahead of our wall clock. */
  HlcDrift = 'CORE_HLC_DRIFT',
  BadHlc = 'CORE_BAD_HLC',
  /** The delta's envelope signature does not verify (id, author, context, position or HLC altered). */
  SignatureInvalid = 'CORE_SIGNATURE_INVALID',
  /** No group key with the delta's key id. */
  KeyUnknown = 'CORE_KEY_UNKNOWN',
  /** AES-GCM refused the ciphertext: wrong key, or ciphertext or nonce altered. */
  DecryptFailed = 'CORE_DECRYPT_FAILED',
  /** The plaintext is not a SealedDeltaPayload. */
  PayloadMalformed = 'CORE_PAYLOAD_MALFORMED',
  /** The id recomputed from parents and actions differs (parents or actions altered). */
  IdMismatch = 'CORE_ID_MISMATCH',
  /** A delta that breaks a structural rule (no parents, too many, oversize). */
  DeltaMalformed = 'CORE_DELTA_MALFORMED',
  EnvelopeInvalid = 'CORE_ENVELOPE_INVALID',
  /** A governance op that breaks a structural rule (no op, bad ids, too many parents). */
  GroupOpMalformed = 'CORE_GROUP_OP_MALFORMED',
  /** A governance op whose signature does not verify. */
  GroupOpSignatureInvalid = 'CORE_GROUP_OP_SIGNATURE_INVALID',
  /** A member-auth proof on a sync stream that is stale, for another peer, or forged. */
  AuthInvalid = 'CORE_AUTH_INVALID',
}

export class PrimitiveError extends CodedError<PrimitiveErrorCode> {
  constructor(code: PrimitiveErrorCode, message: string, meta: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(code, message, meta, options);
    this.name = 'PrimitiveError';
  }
}
