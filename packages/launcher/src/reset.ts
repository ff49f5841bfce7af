import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { loadNodeConfig } from '@cnode/config';
import { wipeNodeData } from '@cnode/service-kit';
import type { LocalNode } from './node-env.js';

/**
 * `npm start -- --reset NODE [--yes]`: deletes everything the local node keeps — its Postgres
 * schema, JetStream streams, Redis keys and its home (identity key file, admin token, endpoint
 * files) — so its next start is a new node. Asks to type the node's name unless `--yes`; without a
 * terminal to ask on, `--yes` is required. Returns the exit code.
 */
export async function resetNode(
  node: LocalNode,
  opts: { yes: boolean; write: (line: string) => void },
): Promise<number> {
  const config = loadNodeConfig('node-manager', node.envFor('node-manager'));
  const what = `node ${node.name}: its Postgres schema, NATS streams, Redis keys and ${node.home}`;
  if (!opts.yes) {
    if (!process.stdin.isTTY) {
      opts.write(`cnode: --reset deletes ${what}; pass --yes to confirm without a terminal`);
      return 2;
    }
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    const answer = await rl.question(`This deletes ${what}.\nType the node name (${node.name}) to confirm: `);
    rl.close();
    if (answer.trim() !== node.name) {
      opts.write('cnode: not confirmed; nothing deleted');
      return 1;
    }
  }
  await wipeNodeData(
    { natsUrl: config.nats.url, databaseUrl: config.postgres.url, redisUrl: config.redis.url },
    node.name,
  );
  rmSync(node.home, { recursive: true, force: true });
  opts.write(`cnode: reset ${node.name}; the next start creates it afresh (new identity, no contexts)`);
  return 0;
}
