import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { HlcClock, PrimitiveErrorCode, compareHlc, decodeHlc, encodeHlc } from '../../src/index.js';

describe('HlcClock', () => {
  it('is strictly increasing even when the wall clock stands still or goes back', () => {
    let wall = 1_000;
    const clock = new HlcClock(randomBytes(16), () => wall);
    const readings = [clock.now(), clock.now()];
    wall = 500;
    readings.push(clock.now());
    wall = 2_000;
    readings.push(clock.now());
    for (let i = 1; i < readings.length; i++) expect(compareHlc(readings[i - 1]!, readings[i]!)).toBeLessThan(0);
  });

  it('orders after an absorbed remote reading', () => {
    const wall = 1_000;
    const a = new HlcClock(randomBytes(16), () => wall);
    const b = new HlcClock(randomBytes(16), () => wall + 3_000);
    const remote = b.now();
    a.update(remote);
    expect(compareHlc(a.now(), remote)).toBeGreaterThan(0);
  });

  it('refuses a remote reading more than 5 s ahead, and stays unchanged', () => {
    const a = new HlcClock(randomBytes(16), () => 1_000);
    const before = a.now();
    const remote = new HlcClock(randomBytes(16), () => 7_000).now();
    expect(() => a.update(remote)).toThrow(expect.objectContaining({ code: PrimitiveErrorCode.HlcDrift }));
    expect(a.now().wallTimeMs).toBe(before.wallTimeMs);
  });

  it('encodes so that byte order is clock order', () => {
    const clock = new HlcClock(randomBytes(16), () => 5);
    const x = clock.now();
    const y = clock.now();
    expect(Buffer.compare(encodeHlc(x), encodeHlc(y))).toBe(-1);
    expect(decodeHlc(encodeHlc(x))).toEqual(x);
  });

  it('refuses an all-zero node id', () => {
    expect(() => new HlcClock(Buffer.alloc(16))).toThrow(expect.objectContaining({ code: PrimitiveErrorCode.BadHlc }));
  });
});
