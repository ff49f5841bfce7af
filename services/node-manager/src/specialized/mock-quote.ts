import { createHash } from 'node:crypto';

/** The header of a mock TDX quote (upstream's format). */
export const MOCK_QUOTE_HEADER = Buffer.from('MOCK_TDX_QUOTE_V1', 'ascii');
/** A mock quote: header ‖ 64 bytes of report data, zero-padded to this length. */
export const MOCK_QUOTE_BYTES = 256;
const REPORT_DATA_BYTES = 64;
/** Largest quote accepted (real TDX quotes are a few KiB). */
export const MAX_QUOTE_BYTES = 64 * 1024;

/** The report data an attestation must carry: nonce ‖ sha256(public key). */
export function reportData(nonce: Uint8Array, publicKey: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(nonce), createHash('sha256').update(publicKey).digest()]);
}

/** A mock quote binding the nonce and the key (what a read-only node without TDX hardware sends). */
export function mockQuote(nonce: Uint8Array, publicKey: Uint8Array): Buffer {
  const quote = Buffer.alloc(MOCK_QUOTE_BYTES);
  MOCK_QUOTE_HEADER.copy(quote, 0);
  reportData(nonce, publicKey).copy(quote, MOCK_QUOTE_HEADER.length);
  return quote;
}

/** Why an attestation was refused: metric label values and the answer's error. */
export enum AttestationRefusal {
  Malformed = 'malformed_quote',
  MockNotAccepted = 'mock_not_accepted',
  TdxNotSupported = 'tdx_not_supported',
  NonceMismatch = 'nonce_mismatch',
  KeyMismatch = 'key_mismatch',
}

export type AttestationVerdict =
  { ok: true; tcbStatus: string } | { ok: false; refusal: AttestationRefusal; message: string };

/**
 * Verifies an attestation for `nonce` and `publicKey`. A mock quote is accepted only when
 * `acceptMock`, and only when its report data is exactly nonce ‖ sha256(public key). A real TDX
 * quote would need DCAP verification, which this node does not do: it is refused, never accepted
 * unverified.
 */
export function verifyAttestation(
  quote: Uint8Array,
  nonce: Uint8Array,
  publicKey: Uint8Array,
  acceptMock: boolean,
): AttestationVerdict {
  const bytes = Buffer.from(quote);
  if (bytes.length < MOCK_QUOTE_HEADER.length + REPORT_DATA_BYTES || bytes.length > MAX_QUOTE_BYTES) {
    return { ok: false, refusal: AttestationRefusal.Malformed, message: `a quote of ${bytes.length} bytes` };
  }
  if (!bytes.subarray(0, MOCK_QUOTE_HEADER.length).equals(MOCK_QUOTE_HEADER)) {
    return {
      ok: false,
      refusal: AttestationRefusal.TdxNotSupported,
      message: 'TDX quote verification is not supported by this node',
    };
  }
  if (!acceptMock) {
    return {
      ok: false,
      refusal: AttestationRefusal.MockNotAccepted,
      message: 'a mock attestation, and this node does not accept mock TEEs (ACCEPT_MOCK_TEE=false)',
    };
  }
  const data = bytes.subarray(MOCK_QUOTE_HEADER.length, MOCK_QUOTE_HEADER.length + REPORT_DATA_BYTES);
  const expected = reportData(nonce, publicKey);
  if (!data.subarray(0, 32).equals(expected.subarray(0, 32))) {
    return { ok: false, refusal: AttestationRefusal.NonceMismatch, message: 'the report data names another nonce' };
  }
  if (!data.subarray(32).equals(expected.subarray(32))) {
    return { ok: false, refusal: AttestationRefusal.KeyMismatch, message: 'the report data is not bound to this key' };
  }
  return { ok: true, tcbStatus: 'Mock' };
}
