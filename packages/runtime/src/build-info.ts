import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The commit the running code was built from: `CNODE_COMMIT` (set by the image build), else the
 * HEAD of the git checkout this package lives in, else "unknown".
 */
export function buildCommit(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CNODE_COMMIT) return env.CNODE_COMMIT;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++, dir = dirname(dir)) {
    const git = join(dir, '.git');
    if (!existsSync(git)) continue;
    try {
      const head = readFileSync(join(git, 'HEAD'), 'utf8').trim();
      if (!head.startsWith('ref: ')) return head;
      const ref = head.slice(5);
      if (existsSync(join(git, ref))) return readFileSync(join(git, ref), 'utf8').trim();
      const packed = readFileSync(join(git, 'packed-refs'), 'utf8')
        .split('\n')
        .find((line) => line.endsWith(` ${ref}`));
      return packed?.split(' ')[0] ?? 'unknown';
    } catch {
      return 'unknown';
    }
  }
  return 'unknown';
}
