/**
 * The backup and restore procedure of docs/operations.md, step by step: a node with data and a peer;
 * pg_dump of its schema while it runs, and its master key; the node wiped (what `npm start --
 * --reset` deletes: schema, streams, Redis keys, home); pg_restore; started with the same key. It
 * comes back with the same peer id, contexts and root hashes, and catches up with what its peer
 * wrote while it was gone.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fromBase58, toBase58 } from '@cnode/primitives';
import { wipeNodeData } from '@cnode/service-kit';
import { ProcessNode, TEST_INFRA, waitFor } from '@cnode/testing';

let a: ProcessNode;
let b: ProcessNode;
let contextId: string;
const dump = join(mkdtempSync(join(tmpdir(), 'cnode-backup-')), 'node.dump');

beforeAll(async () => {
  [a, b] = await Promise.all([ProcessNode.start(), ProcessNode.start()]);
  ({ contextId } = await ProcessNode.sharedContext([a, b]));
  await a.api.executeBatch(
    contextId,
    Array.from({ length: 50 }, (_, i) => ({ method: 'set', args: { key: `before/${i}`, value: String(i) } })),
  );
  await waitFor(
    async () => (await a.api.getContext(contextId)).rootHash === (await b.api.getContext(contextId)).rootHash,
    {
      message: 'both nodes to agree before the backup',
    },
  );
}, 180_000);

afterAll(async () => {
  await Promise.all([a, b].map((n) => n?.stop()));
});

describe('backup and restore (docs/operations.md)', () => {
  it('a restored node has its identity, contexts and roots back, and catches up with its peer', async () => {
    const before = {
      peerId: (await a.api.info()).peerId,
      contexts: (await a.api.listContexts()).contexts.map((c) => c.contextId).sort(),
      root: (await a.api.getContext(contextId)).rootHash,
    };
    // Backup, while the node runs.
    execFileSync('pg_dump', [TEST_INFRA.databaseUrl, `--schema=${a.schema}`, '--format=custom', `--file=${dump}`]);

    // The node is lost: everything npm start -- --reset deletes.
    await a.stopServices();
    await wipeNodeData(TEST_INFRA, a.name);
    for (const entry of readdirSync(a.env.NODE_HOME!)) rmSync(join(a.env.NODE_HOME!, entry), { recursive: true });
    // Its peer goes on writing meanwhile.
    await b.api.execute(contextId, 'set', { key: 'while-away', value: 'written by b' });

    // Restore: the dump, then the services with the same master key.
    execFileSync('pg_restore', [`--dbname=${TEST_INFRA.databaseUrl}`, dump]);
    // What the dump brought back, before the node runs (and syncs) again: the root it had.
    const restoredRoot = await a.withStore(async (s) =>
      toBase58((await s.states.context(Buffer.from(fromBase58(contextId))))!.rootHash),
    );
    expect(restoredRoot).toBe(before.root);
    await a.startServices();

    expect((await a.api.info()).peerId).toBe(before.peerId);
    expect((await a.api.listContexts()).contexts.map((c) => c.contextId).sort()).toEqual(before.contexts);
    expect((await a.api.execute(contextId, 'get', { key: 'before/49' })).output).toBe('49');

    await waitFor(
      async () => (await a.api.getContext(contextId)).rootHash === (await b.api.getContext(contextId)).rootHash,
      { timeoutMs: 90_000, message: 'the restored node to catch up with its peer' },
    );
    expect((await a.api.execute(contextId, 'get', { key: 'while-away' })).output).toBe('written by b');
    // And it writes again, and its peer hears it.
    await a.api.execute(contextId, 'set', { key: 'after-restore', value: 'a is back' });
    await waitFor(
      async () => (await b.api.execute(contextId, 'get', { key: 'after-restore' })).output === 'a is back',
      {
        timeoutMs: 30_000,
        message: 'the peer to get the restored node’s write',
      },
    );
  }, 240_000);
});
