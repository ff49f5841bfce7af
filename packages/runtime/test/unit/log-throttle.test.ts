import { describe, expect, it } from '@jest/globals';
import { LogThrottle, type Logger } from '../../src/index.js';

/** A logger that keeps what it was asked to write. */
function recording() {
  const lines: { fields: Record<string, unknown>; msg: string }[] = [];
  const logger = { warn: (fields: Record<string, unknown>, msg: string) => lines.push({ fields, msg }) };
  return { lines, logger: logger as unknown as Logger };
}

describe('LogThrottle', () => {
  it('writes one line per key per interval, and the next says how many were held back', () => {
    let now = 0;
    const throttle = new LogThrottle(10_000, 16, () => now);
    const { lines, logger } = recording();
    for (let i = 0; i < 5; i++) throttle.log(logger, 'warn', 'a', { i }, 'refused');
    throttle.log(logger, 'warn', 'b', { i: 0 }, 'refused');
    expect(lines.map((l) => l.fields)).toEqual([{ i: 0 }, { i: 0 }]);
    now = 10_000;
    throttle.log(logger, 'warn', 'a', { i: 5 }, 'refused');
    expect(lines.at(-1)).toEqual({ fields: { i: 5, suppressed: 4 }, msg: 'refused' });
    now = 20_000;
    throttle.log(logger, 'warn', 'a', { i: 6 }, 'refused');
    expect(lines.at(-1)?.fields).toEqual({ i: 6 });
  });

  it('forgets the least recently logged keys past its bound', () => {
    const throttle = new LogThrottle(10_000, 2, () => 0);
    const { lines, logger } = recording();
    for (const key of ['a', 'b', 'c', 'a']) throttle.log(logger, 'warn', key, { key }, 'refused');
    // 'a' was forgotten when 'c' came, so it is written again.
    expect(lines.map((l) => l.fields.key)).toEqual(['a', 'b', 'c', 'a']);
  });
});
