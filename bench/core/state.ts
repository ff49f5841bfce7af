/**
 * Core datastore throughput, in one run against the test Postgres:
 *  - entries applied per second through StateStore.addDelta (entries merged, Merkle tree and root
 *    maintained, delta row and heads written, one transaction per delta), as deltas of 1 action and
 *    deltas of 100 actions;
 *  - next to a plain batched INSERT of the same rows into a bare table: the ratio is the price of
 *    CRDT merge, tree maintenance and the DAG;
 *  - the root hash of 100 000 entries rebuilt in the database, and recomputed in TypeScript.
 * Prints numbers and ratios; asserts nothing.
 *
 *   npm run bench -- core/state [entries]
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import {
  HlcClock,
  ZERO_ID,
  bucketOf,
  computeDeltaId,
  generateIdentity,
  keyHashOf,
  type Action,
} from '@cnode/primitives';
import { StateStore, runMigrations, type DagDelta } from '@cnode/store';
import { TEST_INFRA, testLogger, uniqueNodeName } from '@cnode/testing';

const total = Number(process.argv[2] ?? 10_000);
const bigState = 100_000;
const schema = `cnode_${uniqueNodeName('bench')}`;
const sql = postgres(TEST_INFRA.databaseUrl, {
  max: 4,
  onnotice: () => undefined,
  connection: { search_path: `"${schema}",public` },
});
await runMigrations(sql, { schema, logger: testLogger() });
const store = new StateStore(sql);
const author = generateIdentity();
const clock = new HlcClock(randomBytes(16));

function deltas(contextId: Buffer, count: number, perDelta: number, keyPrefix: string): DagDelta[] {
  const out: DagDelta[] = [];
  let parents = [ZERO_ID];
  for (let i = 0; i < count; i++) {
    const actions: Action[] = Array.from({ length: perDelta }, (_, k) => ({
      kind: 'set',
      key: Buffer.from(`${keyPrefix}-${i}-${k}`),
      value: randomBytes(64),
      at: clock.now(),
    }));
    const deltaId = computeDeltaId(parents, actions);
    out.push({
      contextId,
      deltaId,
      parents,
      hlc: clock.now(),
      author: author.publicKey,
      governanceHeads: [],
      keyId: randomBytes(32),
      nonce: randomBytes(12),
      ciphertext: randomBytes(32),
      signature: randomBytes(64),
      actions,
    });
    parents = [deltaId];
  }
  return out;
}

async function viaStore(perDelta: number): Promise<number> {
  const contextId = randomBytes(32);
  await store.createContext(contextId);
  const list = deltas(contextId, Math.ceil(total / perDelta), perDelta, `s${perDelta}`);
  const t0 = performance.now();
  for (const d of list) await store.addDelta(d);
  return performance.now() - t0;
}

async function plainInsert(batch: number): Promise<number> {
  await sql`create table if not exists plain_rows (key bytea primary key, key_hash bytea, bucket text, value bytea)`;
  const rows = Array.from({ length: total }, (_, i) => {
    const key = Buffer.from(`plain-${batch}-${i}`);
    const keyHash = keyHashOf(key);
    return { key, key_hash: keyHash, bucket: bucketOf(keyHash), value: randomBytes(64) };
  });
  const t0 = performance.now();
  for (let i = 0; i < rows.length; i += batch) {
    await sql`insert into plain_rows ${sql(rows.slice(i, i + batch), 'key', 'key_hash', 'bucket', 'value')}`;
  }
  return performance.now() - t0;
}

async function rootOfBigState(): Promise<{ dbMs: number; tsMs: number; equal: boolean }> {
  const contextId = randomBytes(32);
  await store.createContext(contextId);
  for (const d of deltas(contextId, bigState / 1000, 1000, 'big')) await store.addDelta(d);
  const buckets = (
    await sql<{ bucket: string }[]>`select distinct bucket from state_entries where context_id = ${contextId}`
  ).map((r) => r.bucket);
  let t0 = performance.now();
  const [row] = await sql<
    { root: Buffer }[]
  >`select refresh_state_tree(${contextId}, ${sql.array(buckets, 1009)}::text[]) as root`;
  const dbMs = performance.now() - t0;
  t0 = performance.now();
  const ts = await store.recomputeRootHash(contextId);
  const tsMs = performance.now() - t0;
  return { dbMs, tsMs, equal: ts.equals(row!.root) };
}

const rate = (ms: number): string => `${Math.round((total / ms) * 1000).toLocaleString('en-US')} entries/s`;
try {
  const single = await viaStore(1);
  const batched = await viaStore(100);
  const plain1 = await plainInsert(1);
  const plain100 = await plainInsert(100);
  const big = await rootOfBigState();
  console.log(`core state benchmark (${total} entries of 64 B values)`);
  console.log(
    `  1 action per delta     store ${rate(single).padStart(18)}   plain insert ${rate(plain1).padStart(18)}   store/plain ${(plain1 / single).toFixed(2)}`,
  );
  console.log(
    `  100 actions per delta  store ${rate(batched).padStart(18)}   plain insert ${rate(plain100).padStart(18)}   store/plain ${(plain100 / batched).toFixed(2)}`,
  );
  console.log(
    `  root of ${bigState.toLocaleString('en-US')} entries: full rebuild in Postgres ${big.dbMs.toFixed(0)} ms, recomputed in TypeScript ${big.tsMs.toFixed(0)} ms (same root: ${big.equal})`,
  );
} finally {
  await sql`drop schema if exists ${sql(schema)} cascade`;
  await sql.end();
}
