import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from '@jest/globals';

const require = createRequire(import.meta.url);

describe('dependency patches', () => {
  it('postgres.js carries the closed-socket guard (scripts/patch-dependencies.mjs)', () => {
    const pkgDir = dirname(require.resolve('postgres/package.json'));
    for (const file of ['src/connection.js', 'cjs/src/connection.js']) {
      expect(readFileSync(join(pkgDir, file), 'utf8')).toContain('cnode-patch: closed-socket-guard');
    }
  });
});
