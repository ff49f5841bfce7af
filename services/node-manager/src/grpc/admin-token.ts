import { randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ADMIN_TOKEN_BYTES } from '../constants.js';
import { NodeManagerError, NodeManagerErrorCode } from '../errors.js';

/**
 * The admin token: ADMIN_TOKEN if set; otherwise the contents of ADMIN_TOKEN_FILE (default
 * `<home>/admin.token`), generated with owner-only permissions on first start.
 */
export async function resolveAdminToken(opts: {
  token: string | undefined;
  tokenFile: string | undefined;
  home: string;
}): Promise<{ token: string; source: string }> {
  if (opts.token) return { token: opts.token, source: 'ADMIN_TOKEN' };
  const file = opts.tokenFile ?? join(opts.home, 'admin.token');
  try {
    const token = (await readFile(file, 'utf8')).trim();
    if (token.length > 0) return { token, source: file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new NodeManagerError(
        NodeManagerErrorCode.AdminTokenUnavailable,
        `cannot read admin token file ${file}`,
        {},
        {
          cause: err,
        },
      );
    }
  }
  const token = randomBytes(ADMIN_TOKEN_BYTES).toString('hex');
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  // 'wx' fails if another replica wrote it first: then read theirs.
  try {
    await writeFile(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
    return { token, source: file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { token: (await readFile(file, 'utf8')).trim(), source: file };
  }
}

/** Constant-time comparison of a presented bearer token with the expected one. */
export function tokenMatches(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
