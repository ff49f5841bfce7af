import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { seal, unseal } from '../../src/sealed-box.js';

describe('sealed box', () => {
  const key = randomBytes(32);
  const secret = Buffer.from('a private key');

  it('opens what it sealed, and the box does not contain the plaintext', () => {
    const box = seal(key, secret, 'purpose');
    expect(box.includes(secret)).toBe(false);
    expect(unseal(key, box, 'purpose')).toEqual(secret);
  });

  it('uses a fresh nonce every time', () => {
    expect(seal(key, secret, 'p').equals(seal(key, secret, 'p'))).toBe(false);
  });

  it('refuses a wrong key, a different purpose, a flipped bit and a truncated box', () => {
    const box = seal(key, secret, 'purpose');
    expect(() => unseal(randomBytes(32), box, 'purpose')).toThrow(/does not open/);
    expect(() => unseal(key, box, 'other')).toThrow(/does not open/);
    const flipped = Buffer.from(box);
    flipped[15] = (flipped[15] ?? 0) ^ 1;
    expect(() => unseal(key, flipped, 'purpose')).toThrow(/does not open/);
    expect(() => unseal(key, box.subarray(0, 20), 'purpose')).toThrow(/too short/);
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => seal(randomBytes(16), secret, 'p')).toThrow(/32 bytes/);
  });
});
