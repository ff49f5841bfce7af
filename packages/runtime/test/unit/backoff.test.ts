import { describe, expect, it } from '@jest/globals';
import { backoffCeilingMs, backoffMs } from '../../src/timers.js';

describe('backoffMs (exponential, full jitter)', () => {
  it('stays between half the base and the doubling ceiling, capped', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = backoffCeilingMs(attempt, 100, 5_000);
      expect(ceiling).toBe(Math.min(5_000, 100 * 2 ** attempt));
      expect(backoffMs(attempt, 100, 5_000, () => 0)).toBe(50);
      expect(backoffMs(attempt, 100, 5_000, () => 0.999_999)).toBe(ceiling);
      for (let i = 0; i < 200; i++) {
        const delay = backoffMs(attempt, 100, 5_000);
        expect(delay).toBeGreaterThanOrEqual(50);
        expect(delay).toBeLessThanOrEqual(ceiling);
      }
    }
    // Huge attempt counts neither overflow nor pass the cap.
    expect(backoffMs(1_000, 100, 5_000, () => 0.999_999)).toBe(5_000);
    expect(backoffMs(-3, 100, 5_000, () => 0.999_999)).toBe(100);
  });

  it('spreads the retries of peers that failed together', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffMs(6, 100, 60_000)));
    expect(delays.size).toBeGreaterThan(40);
  });
});
