import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { generateIdentity } from '@cnode/primitives';
import {
  AttestationRefusal,
  MOCK_QUOTE_BYTES,
  mockQuote,
  reportData,
  verifyAttestation,
} from '../../src/specialized/mock-quote.js';

describe('attestations', () => {
  const nonce = randomBytes(32);
  const key = generateIdentity().publicKey;

  it('a mock quote is the header and nonce ‖ sha256(key), zero-padded; it verifies only where mocks are accepted', () => {
    const quote = mockQuote(nonce, key);
    expect(quote.length).toBe(MOCK_QUOTE_BYTES);
    expect(quote.subarray(0, 17).toString('ascii')).toBe('MOCK_TDX_QUOTE_V1');
    expect(quote.subarray(17, 81).equals(reportData(nonce, key))).toBe(true);
    expect(quote.subarray(81).every((b) => b === 0)).toBe(true);
    expect(verifyAttestation(quote, nonce, key, true)).toEqual({ ok: true, tcbStatus: 'Mock' });
    expect(verifyAttestation(quote, nonce, key, false)).toMatchObject({ refusal: AttestationRefusal.MockNotAccepted });
  });

  it('refuses another nonce, another key, a short quote, and any non-mock quote (TDX is not verified here)', () => {
    expect(verifyAttestation(mockQuote(randomBytes(32), key), nonce, key, true)).toMatchObject({
      refusal: AttestationRefusal.NonceMismatch,
    });
    expect(verifyAttestation(mockQuote(nonce, generateIdentity().publicKey), nonce, key, true)).toMatchObject({
      refusal: AttestationRefusal.KeyMismatch,
    });
    expect(verifyAttestation(Buffer.alloc(40), nonce, key, true)).toMatchObject({
      refusal: AttestationRefusal.Malformed,
    });
    const tdxLike = Buffer.concat([Buffer.from([4, 0, 2, 0]), randomBytes(1000)]);
    expect(verifyAttestation(tdxLike, nonce, key, true)).toMatchObject({ refusal: AttestationRefusal.TdxNotSupported });
  });
});
