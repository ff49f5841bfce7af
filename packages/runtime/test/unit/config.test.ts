import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { ConfigError, envField, parseDuration, parseEnv, parseSize } from '../../src/config.js';

describe('parseDuration', () => {
  const cases: [string, number | undefined][] = [
    ['250ms', 250],
    ['5s', 5000],
    ['2m', 120_000],
    ['12h', 43_200_000],
    ['1d', 86_400_000],
    ['1500', 1500],
    ['abc', undefined],
    ['5 seconds', undefined],
    ['-5s', undefined],
    ['', undefined],
  ];
  for (const [text, expected] of cases) {
    it(`"${text}" → ${expected}`, () => expect(parseDuration(text)).toBe(expected));
  }
});

describe('parseSize', () => {
  it('reads binary units and bare bytes', () => {
    expect(parseSize('64KiB')).toBe(65_536);
    expect(parseSize('500MiB')).toBe(500 * 1024 * 1024);
    expect(parseSize('42')).toBe(42);
    expect(parseSize('1GB')).toBeUndefined();
  });
});

describe('parseEnv', () => {
  const schema = z.object({
    A_INT: envField.int(3, { min: 1 }),
    B_DURATION: envField.duration('5s'),
    C_BOOL: envField.bool(false),
    D_LIST: envField.list(['x']),
    E_URL: envField.url('redis://h:1', ['redis']),
    F_ONE_OF: envField.oneOf(['a', 'b'] as const, 'a'),
  });

  it('applies defaults for unset variables', () => {
    expect(parseEnv(schema, {})).toEqual({
      A_INT: 3,
      B_DURATION: 5000,
      C_BOOL: false,
      D_LIST: ['x'],
      E_URL: 'redis://h:1',
      F_ONE_OF: 'a',
    });
  });

  it('parses set variables', () => {
    const config = parseEnv(schema, { A_INT: '7', B_DURATION: '2m', C_BOOL: 'yes', D_LIST: 'p, q,,r', F_ONE_OF: 'b' });
    expect(config).toMatchObject({
      A_INT: 7,
      B_DURATION: 120_000,
      C_BOOL: true,
      D_LIST: ['p', 'q', 'r'],
      F_ONE_OF: 'b',
    });
  });

  it('names every bad key, not just the first', () => {
    let error: unknown;
    try {
      parseEnv(schema, { A_INT: '0', B_DURATION: 'soon', C_BOOL: 'maybe', E_URL: 'http://x', F_ONE_OF: 'z' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues;
    expect(issues.map((i) => i.key).sort()).toEqual(['A_INT', 'B_DURATION', 'C_BOOL', 'E_URL', 'F_ONE_OF']);
    expect((error as ConfigError).message).toMatch(/B_DURATION: expected a duration/);
  });

  it('freezes the result', () => {
    const config = parseEnv(schema, {});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.D_LIST)).toBe(true);
  });
});
