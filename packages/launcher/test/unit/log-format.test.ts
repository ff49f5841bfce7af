import { describe, expect, it } from '@jest/globals';
import { formatLogLine } from '../../src/log-format.js';

describe('formatLogLine', () => {
  it('shows time, level, message and the extra fields of a pino line', () => {
    const line = JSON.stringify({
      level: 'warn',
      time: '2026-01-02T03:04:05.678Z',
      service: 'sync',
      node: 'node1',
      msg: 'Sync failed',
      contextId: 'abc',
      attempt: 2,
    });
    expect(formatLogLine(line)).toBe('03:04:05 WARN  Sync failed contextId=abc attempt=2');
  });

  it('passes other lines through', () => {
    expect(formatLogLine('plain text')).toBe('plain text');
    expect(formatLogLine('{not json')).toBe('{not json');
  });
});
