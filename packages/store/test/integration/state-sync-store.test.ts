import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TREE_DEPTH, bucketOf, encodeHlc, HlcClock, keyHashOf } from '@cnode/primitives';
import { StateStore, StateSyncErrorCode, StateSyncStore, type SyncEntry } from '../../src/index.js';
import { Author, freshSchema } from './state-harness.js';

let db: Awaited<ReturnType<typeof freshSchema>>;
let states: StateStore;
let sync: StateSyncStore;

beforeAll(async () => {
  db = await freshSchema();
  states = new StateStore(db.sql);
  sync = new StateSyncStore(db.sql);
});

afterAll(async () => {
  await db.drop();
});

const clock = new HlcClock(randomBytes(16));
const author = randomBytes(32);
const live = (key: string, value: string): SyncEntry => ({
  key: Buffer.from(key),
  value: Buffer.from(value),
  hlc: encodeHlc(clock.now()),
  deleted: false,
  author,
});
const tombstone = (key: string): SyncEntry => ({
  key: Buffer.from(key),
  value: null,
  hlc: encodeHlc(clock.now()),
  deleted: true,
  author,
});

/** A context with state built by deltas, as a responder would hold it. */
async function contextWithState(n: number, perDelta = 50): Promise<{ id: Buffer; author: Author }> {
  const id = randomBytes(32);
  await states.createContext(id);
  const writer = new Author();
  for (let i = 0; i < n; i += perDelta) {
    const ops = Array.from({ length: Math.min(perDelta, n - i) }, (_, j) => ({
      key: `k${i + j}`,
      value: `v${i + j}`,
    }));
    const delta = writer.write(id, ops);
    await states.addDelta(delta);
  }
  return { id, author: writer };
}

async function exportAll(
  id: Buffer,
  maxCovered = 1000,
): Promise<{ root: Buffer; heads: Buffer[]; entries: SyncEntry[]; total: number; covered: Buffer[] }> {
  const entries: SyncEntry[] = [];
  const covered: Buffer[] = [];
  let root: Buffer = Buffer.alloc(0);
  let heads: Buffer[] = [];
  let total = 0;
  await sync.readSnapshot(
    id,
    { pageEntries: 7, maxCovered },
    async (b) => {
      root = b.rootHash;
      heads = b.heads;
      total = b.totalEntries;
    },
    async (page) => void entries.push(...page),
    async (ids) => void covered.push(...ids),
  );
  return { root, heads, entries, total, covered };
}

describe('StateSyncStore', () => {
  it('serves inner nodes with their children and buckets with their entries, tombstones included', async () => {
    const { id } = await contextWithState(40);
    await sync.mergeEntries(id, [tombstone('k3')]);
    const [root] = await sync.treeNodes(id, ['']);
    expect(root!.found).toBe(true);
    expect(root!.hash).toEqual((await states.context(id))!.rootHash);
    expect(root!.children.length).toBeGreaterThan(0);
    const bucket = bucketOf(keyHashOf(Buffer.from('k3')));
    const [node] = await sync.treeNodes(id, [bucket]);
    expect(node!.path.length).toBe(TREE_DEPTH);
    expect(node!.entries.find((e) => e.key.toString() === 'k3')).toMatchObject({ deleted: true, value: null });
    // Not a path of the tree: ignored.
    expect(await sync.treeNodes(id, ['xyz', '123456'])).toEqual([]);
    expect(await sync.entryCount(id)).toBe(39);
  });

  it('merges entries last writer wins, like deltas, and keeps the tree and root in step', async () => {
    const { id } = await contextWithState(10);
    const older = { ...live('k1', 'stale'), hlc: Buffer.alloc(28) };
    const { changed } = await sync.mergeEntries(id, [older, live('k2', 'new'), tombstone('k3'), live('fresh', 'x')]);
    expect(changed).toBe(3);
    expect((await states.get(id, Buffer.from('k1')))?.toString()).toBe('v1');
    expect((await states.get(id, Buffer.from('k2')))?.toString()).toBe('new');
    expect(await states.get(id, Buffer.from('k3'))).toBeUndefined();
    expect((await states.context(id))!.rootHash).toEqual(await states.recomputeRootHash(id));
    expect((await sync.mergeEntries(id, [older])).changed).toBe(0);
  });

  it('exports a point-in-time snapshot in key order and refuses a resume past a moved boundary', async () => {
    const { id } = await contextWithState(30);
    const full = await exportAll(id);
    expect(full.total).toBe(30);
    expect(full.entries.map((e) => e.key.toString())).toEqual([...full.entries.map((e) => e.key.toString())].sort());
    const after: SyncEntry[] = [];
    await sync.readSnapshot(
      id,
      { pageEntries: 5, after: full.entries[9]!.key, expectRoot: full.root, maxCovered: 0 },
      async () => undefined,
      async (page) => void after.push(...page),
      async () => undefined,
    );
    expect(after).toHaveLength(20);
    await sync.mergeEntries(id, [live('moved', 'on')]);
    await expect(
      sync.readSnapshot(
        id,
        { pageEntries: 5, expectRoot: full.root, maxCovered: 0 },
        async () => undefined,
        async () => undefined,
        async () => undefined,
      ),
    ).rejects.toMatchObject({ code: StateSyncErrorCode.BoundaryMoved });
  });

  it('imports a verified snapshot into a context without state; its heads become checkpoints', async () => {
    const source = await contextWithState(120);
    const snap = await exportAll(source.id);
    const target = randomBytes(32);
    await states.createContext(target, { initialized: false });
    const imported = await sync.importSnapshot(
      target,
      { rootHash: snap.root, heads: snap.heads },
      async (write, cover) => {
        for (let i = 0; i < snap.entries.length; i += 50) await write(snap.entries.slice(i, i + 50));
        await cover(snap.covered);
      },
    );
    const ctx = (await states.context(target))!;
    expect(ctx.initialized).toBe(true);
    expect(ctx.rootHash).toEqual(snap.root);
    expect(ctx.heads).toEqual(snap.heads);
    // A delta built on the boundary applies at once: its parent is a checkpoint.
    const next = source.author.write(target, [{ key: 'after', value: 'snapshot' }]);
    expect((await states.addDelta(next)).outcome).toBe('applied');
    expect(await states.hasDelta(target, snap.heads[0]!)).toBe(true);
    // Every delta the source applied (3 of 50 writes, the head included) is known as covered, the
    // heads first among the checkpoints a request names.
    expect(snap.covered).toHaveLength(3);
    expect(imported).toEqual({ entries: 120, covered: 3 });
    expect((await states.knownDeltas(target, snap.covered)).size).toBe(3);
    expect(await states.checkpoints(target, 1)).toEqual(snap.heads);
  });

  it('knows the history a snapshot covers: a late copy of it is a duplicate, a branch from it applies', async () => {
    const source = await contextWithState(20, 1);
    const history = await db.sql<{ delta_id: Buffer; parents: Buffer[] }[]>`
      select delta_id, parents from deltas where context_id = ${source.id} order by hlc`;
    const snap = await exportAll(source.id);
    // Newest first, and no more than asked for.
    expect(snap.covered[0]).toEqual(history[history.length - 1]!.delta_id);
    expect((await exportAll(source.id, 5)).covered).toEqual(snap.covered.slice(0, 5));
    const target = randomBytes(32);
    await states.createContext(target, { initialized: false });
    await sync.importSnapshot(target, { rootHash: snap.root, heads: snap.heads }, async (write, cover) => {
      await write(snap.entries);
      await cover(snap.covered);
    });
    const stored = async (id: Buffer) => (await states.delta(source.id, id))!;
    // An old delta arriving late (gossip delayed past the snapshot) changes nothing, not even the heads.
    const old = { ...(await stored(history[3]!.delta_id)), contextId: target };
    expect((await states.addDelta(old)).outcome).toBe('duplicate');
    expect((await states.context(target))!.heads).toEqual(snap.heads);
    // A delta written on an old delta (a branch the snapshot does not hold) applies: its parent is covered.
    const branch = source.author.write(target, [{ key: 'branch', value: 'x' }]);
    branch.parents = [history[5]!.delta_id];
    const resealed = { ...branch, deltaId: randomBytes(32) };
    const added = await states.addDelta(resealed);
    expect(added.outcome).toBe('applied');
    expect(await states.pendingCount(target)).toBe(0);
  });

  it('never overwrites a context that has state', async () => {
    const { id } = await contextWithState(5);
    const before = await states.context(id);
    await expect(
      sync.importSnapshot(id, { rootHash: randomBytes(32), heads: [] }, async (write) => write([live('evil', 'x')])),
    ).rejects.toMatchObject({ code: StateSyncErrorCode.SnapshotOnInitialized });
    expect(await states.context(id)).toEqual(before);
    expect(await states.get(id, Buffer.from('evil'))).toBeUndefined();
  });

  it('keeps nothing of a snapshot whose root does not verify', async () => {
    const source = await contextWithState(60);
    const snap = await exportAll(source.id);
    const target = randomBytes(32);
    await states.createContext(target, { initialized: false });
    const tampered = snap.entries.map((e, i) => (i === 7 ? { ...e, value: Buffer.from('forged') } : e));
    await expect(
      sync.importSnapshot(target, { rootHash: snap.root, heads: snap.heads }, (write, cover) =>
        write(tampered).then(() => cover(snap.covered)),
      ),
    ).rejects.toMatchObject({ code: StateSyncErrorCode.SnapshotRootMismatch });
    const ctx = (await states.context(target))!;
    expect(ctx.initialized).toBe(false);
    expect(await sync.entryCount(target)).toBe(0);
    const [row] = await db.sql<{ n: string }[]>`select count(*) as n from state_entries where context_id = ${target}`;
    expect(Number(row?.n)).toBe(0);
    // A failure inside the transfer rolls back the same way.
    await expect(
      sync.importSnapshot(target, { rootHash: snap.root, heads: snap.heads }, async (write) => {
        await write(snap.entries.slice(0, 10));
        throw new Error('stream broke');
      }),
    ).rejects.toThrow('stream broke');
    expect(await sync.entryCount(target)).toBe(0);
  });

  it('re-anchors a cached root that lags the live tree', async () => {
    const { id } = await contextWithState(8);
    const live = (await states.context(id))!.rootHash;
    await db.sql`update contexts set root_hash = ${randomBytes(32)} where id = ${id}`;
    expect(await sync.liveRoot(id)).toEqual(live);
    expect((await states.context(id))!.rootHash).toEqual(live);
  });
});
