import { randomBytes } from 'node:crypto';
import { HlcClock, computeTree, generateIdentity, keyHashOf, sha256, type Action } from '@cnode/primitives';
import { standInSeal } from '@cnode/testing';
import type { Sql } from '../../src/index.js';

// The datastore test helpers live in @cnode/testing, shared with the services' tests.
export { Author, freshSchema } from '@cnode/testing';

/** Every tree node stored for the context, by path. */
export async function storedTree(sql: Sql, contextId: Buffer): Promise<Record<string, string>> {
  const rows = await sql<{ path: string; hash: Buffer }[]>`
    select path, hash from state_tree_nodes where context_id = ${contextId}`;
  return Object.fromEntries(rows.map((r) => [r.path, r.hash.toString('hex')]));
}

/** The tree the stored live entries must hash to, computed from scratch. */
export async function expectedTree(sql: Sql, contextId: Buffer): Promise<Record<string, string>> {
  const rows = await sql<{ key: Buffer; value: Buffer; op_hlc: Buffer }[]>`
    select key, value, op_hlc from state_entries where context_id = ${contextId} and op_rank = 0`;
  const tree = computeTree(rows.map((r) => ({ keyHash: keyHashOf(r.key), valueHash: sha256(r.value), hlc: r.op_hlc })));
  return Object.fromEntries([...tree].map(([path, hash]) => [path, hash.toString('hex')]));
}

/** A local writer: our identity, its clock, `set` actions stamped by it, and a stand-in seal. */
export function localWriter() {
  const me = generateIdentity();
  const clock = new HlcClock(randomBytes(16));
  return {
    me,
    clock,
    set: (key: string, value: string): Action => ({
      kind: 'set',
      key: Buffer.from(key),
      value: Buffer.from(value),
      at: clock.now(),
    }),
    seal: (contextId: Buffer) => standInSeal(contextId, me.publicKey, clock),
  };
}
