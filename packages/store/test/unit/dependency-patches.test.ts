import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';

const postgresDir = new URL('../../../../node_modules/postgres/', import.meta.url);

describe('dependency patches', () => {
  it('postgres.js carries the closed-socket guard and the BEGIN reservation fix (scripts/patch-dependencies.mjs)', () => {
    const pkg = JSON.parse(readFileSync(new URL('package.json', postgresDir), 'utf8')) as { version: string };
    expect(pkg.version).toBe('3.4.9');
    for (const file of ['src/connection.js', 'cjs/src/connection.js']) {
      const text = readFileSync(new URL(file, postgresDir), 'utf8');
      expect(text).toContain('cnode-patch: closed-socket-guard');
      expect(text).toContain('cnode-patch: begin-reserves');
      expect(text).not.toContain('(!q.options.onexecute || q.options.onexecute(connection))');
    }
  });

  it('postgres.js keeps a reserved connection that closed out of the open queue, and its holder off the new session', () => {
    for (const file of ['src/index.js', 'cjs/src/index.js']) {
      const text = readFileSync(new URL(file, postgresDir), 'utf8');
      expect(text).toContain('cnode-patch: release-closed');
      expect(text).toContain('cnode-patch: reservation-lost');
    }
  });
});
