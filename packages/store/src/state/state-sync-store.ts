import { upsertEntries } from './entry-upsert.js';
import { ZERO_ID, bucketOf, decodeHlc, isZeroId, keyHashOf, sha256, TREE_DEPTH } from '@cnode/primitives';
import { CodedError } from '@cnode/runtime';
import type postgres from 'postgres';
import { BYTEA_ARRAY, TEXT_ARRAY, type Sql } from '../postgres.js';

type Tx = postgres.TransactionSql;

export enum StateSyncErrorCode {
  ContextUnknown = 'STORE_CONTEXT_UNKNOWN',
  /** A snapshot never overwrites a context that has state (invariant I5). */
  SnapshotOnInitialized = 'STORE_SNAPSHOT_ON_INITIALIZED',
  /** The state a snapshot brought does not hash to the boundary root: nothing of it is kept (I7). */
  SnapshotRootMismatch = 'STORE_SNAPSHOT_ROOT_MISMATCH',
  /** The responder's state moved past the boundary a resumed transfer asked for. */
  BoundaryMoved = 'STORE_SNAPSHOT_BOUNDARY_MOVED',
  NotInitialized = 'STORE_CONTEXT_NOT_INITIALIZED',
}

/** One state entry as sync moves it: a live value or a tombstone. */
export interface SyncEntry {
  key: Buffer;
  /** Null for a tombstone. */
  value: Buffer | null;
  /** Canonical HLC bytes of the write or delete. */
  hlc: Buffer;
  deleted: boolean;
  author: Buffer | null;
}

/** A node of the state tree as a peer sees it. */
export interface TreeNodeView {
  path: string;
  found: boolean;
  hash: Buffer;
  /** Inner node: its non-empty children, in nibble order. */
  children: { nibble: number; hash: Buffer }[];
  /** Leaf bucket: its entries, tombstones included, in key-hash order. */
  entries: SyncEntry[];
}

export interface SnapshotBoundaryView {
  rootHash: Buffer;
  heads: Buffer[];
  totalEntries: number;
}

interface EntryDbRow {
  key: Buffer;
  value: Buffer | null;
  op_hlc: Buffer;
  op_rank: number;
  author: Buffer | null;
}

const entryOf = (r: EntryDbRow): SyncEntry => ({
  key: r.key,
  value: r.op_rank === 1 ? null : r.value,
  hlc: r.op_hlc,
  deleted: r.op_rank === 1,
  author: r.author,
});

/** The value hash an entry contributes to its bucket (the same as a merged action's). */
export function entryValueHash(entry: SyncEntry): Buffer {
  return entry.deleted ? Buffer.from(ZERO_ID) : sha256(entry.value ?? Buffer.alloc(0));
}

const isTreePath = (path: string): boolean => path.length <= TREE_DEPTH && /^[0-9a-f]*$/.test(path);

/**
 * The state queries and writes of the sync protocols: tree nodes and bucket entries for hash
 * comparison, merging entries a peer sent, and snapshot export (one point-in-time read) and import
 * (verified before it becomes visible).
 */
export class StateSyncStore {
  constructor(private readonly sql: Sql) {}

  /** Live entries of the context. */
  async entryCount(contextId: Buffer): Promise<number> {
    const [r] = await this.sql<{ n: string }[]>`
      select count(*) as n from state_entries where context_id = ${contextId} and op_rank = 0`;
    return Number(r?.n ?? 0);
  }

  /**
   * Tree nodes by path: inner nodes with their children's hashes, buckets with their entries. All
   * read from one snapshot, so every node is consistent with itself while deltas keep applying (a
   * peer checks that each node hashes to its children or entries).
   */
  treeNodes(contextId: Buffer, paths: readonly string[]): Promise<TreeNodeView[]> {
    const valid = [...new Set(paths.filter(isTreePath))];
    if (valid.length === 0) return Promise.resolve([]);
    return this.sql.begin('isolation level repeatable read read only', (tx) =>
      this.readTreeNodes(tx, contextId, valid),
    );
  }

  private async readTreeNodes(tx: Tx, contextId: Buffer, valid: string[]): Promise<TreeNodeView[]> {
    const nodes = await tx<{ path: string; hash: Buffer }[]>`
      select path, hash from state_tree_nodes
      where context_id = ${contextId} and path = any (${tx.array(valid, TEXT_ARRAY)}::text[])`;
    const found = new Map(nodes.map((n) => [n.path, n.hash]));
    const inner = valid.filter((p) => p.length < TREE_DEPTH && found.has(p));
    // Buckets answer with their entries even without a node: a bucket of tombstones only is not hashed.
    const buckets = valid.filter((p) => p.length === TREE_DEPTH);
    const children = new Map<string, { nibble: number; hash: Buffer }[]>();
    for (const level of new Set(inner.map((p) => p.length + 1))) {
      const parents = inner.filter((p) => p.length + 1 === level);
      const rows = await tx<{ parent: string; nibble: number; hash: Buffer }[]>`
        select parent, nibble, hash from state_tree_nodes
        where context_id = ${contextId} and level = ${level}
          and parent = any (${tx.array(parents, TEXT_ARRAY)}::text[])
        order by parent, nibble`;
      for (const r of rows) {
        const list = children.get(r.parent) ?? [];
        list.push({ nibble: r.nibble, hash: r.hash });
        children.set(r.parent, list);
      }
    }
    const entries = new Map<string, SyncEntry[]>();
    if (buckets.length > 0) {
      const rows = await tx<(EntryDbRow & { bucket: string })[]>`
        select bucket, key, value, op_hlc, op_rank, author from state_entries
        where context_id = ${contextId} and bucket = any (${tx.array(buckets, TEXT_ARRAY)}::text[])
        order by bucket, key_hash`;
      for (const r of rows) {
        const list = entries.get(r.bucket) ?? [];
        list.push(entryOf(r));
        entries.set(r.bucket, list);
      }
    }
    return valid.map((path) => ({
      path,
      found: found.has(path),
      hash: found.get(path) ?? Buffer.from(ZERO_ID),
      children: children.get(path) ?? [],
      entries: entries.get(path) ?? [],
    }));
  }

  /** The buckets under a subtree that hold entries (tombstones included), at most `limit`. */
  async bucketsUnder(contextId: Buffer, path: string, limit: number): Promise<string[]> {
    if (!isTreePath(path)) return [];
    const rows = await this.sql<{ bucket: string }[]>`
      select distinct bucket from state_entries
      where context_id = ${contextId} and bucket >= ${path} and bucket < ${path + 'g'}
      order by bucket limit ${limit}`;
    return rows.map((r) => r.bucket);
  }

  /** The entries of the given buckets, tombstones included, by bucket. */
  async bucketEntries(contextId: Buffer, buckets: readonly string[]): Promise<Map<string, SyncEntry[]>> {
    const out = new Map<string, SyncEntry[]>();
    if (buckets.length === 0) return out;
    const rows = await this.sql<(EntryDbRow & { bucket: string })[]>`
      select bucket, key, value, op_hlc, op_rank, author from state_entries
      where context_id = ${contextId} and bucket = any (${this.sql.array([...buckets], TEXT_ARRAY)}::text[])
      order by key_hash`;
    for (const r of rows) {
      const list = out.get(r.bucket) ?? [];
      list.push(entryOf(r));
      out.set(r.bucket, list);
    }
    return out;
  }

  /**
   * Merges entries from a peer into the state, last writer wins exactly as deltas merge, under the
   * context lock; refreshes the tree and the cached root. Returns how many entries changed.
   */
  mergeEntries(contextId: Buffer, entries: readonly SyncEntry[]): Promise<{ changed: number; rootHash: Buffer }> {
    return this.sql.begin(async (tx) => {
      const [ctx] = await tx<{ root_hash: Buffer; initialized: boolean }[]>`
        select root_hash, initialized from contexts where id = ${contextId} for update`;
      if (!ctx) throw new CodedError(StateSyncErrorCode.ContextUnknown, 'context is not hosted here');
      if (!ctx.initialized) throw new CodedError(StateSyncErrorCode.NotInitialized, 'context has no state yet');
      const buckets = await this.writeEntries(tx, contextId, entries);
      if (buckets.length === 0) return { changed: 0, rootHash: ctx.root_hash };
      const [row] = await tx<{ root: Buffer }[]>`
        select refresh_state_tree(${contextId}, ${tx.array(buckets, TEXT_ARRAY)}::text[]) as root`;
      await tx`update contexts set root_hash = ${row!.root}, updated_at = now() where id = ${contextId}`;
      return { changed: buckets.changed, rootHash: row!.root };
    });
  }

  /** Upserts entries where they win over what is stored; returns the buckets that changed. */
  private async writeEntries(
    tx: Tx,
    contextId: Buffer,
    entries: readonly SyncEntry[],
  ): Promise<string[] & { changed: number }> {
    const result = Object.assign([] as string[], { changed: 0 });
    if (entries.length === 0) return result;
    // One row per key: the greatest operation of the batch (a page never repeats a key, a push may).
    const best = new Map<string, SyncEntry>();
    for (const e of entries) {
      const k = e.key.toString('hex');
      const prev = best.get(k);
      if (!prev || compareEntries(e, prev) > 0) best.set(k, e);
    }
    const list = [...best.values()];
    const keyHashes = list.map((e) => keyHashOf(e.key));
    const changed = await upsertEntries(
      tx,
      contextId,
      list.map((e, i) => ({
        key: e.key,
        keyHash: keyHashes[i]!,
        bucket: bucketOf(keyHashes[i]!),
        value: e.deleted ? null : e.value,
        valueHash: entryValueHash(e),
        hlc: e.hlc,
        rank: e.deleted ? 1 : 0,
        author: e.author,
        deletedAtMs: e.deleted ? String(decodeHlc(e.hlc).wallTimeMs) : null,
      })),
    );
    result.push(...new Set(changed.map((r) => r.bucket)));
    result.changed = changed.length;
    return result;
  }

  /**
   * Reads a whole context from one point in time (a repeatable-read transaction): the boundary
   * first, then pages of entries (tombstones included) in key order after `after`. Refuses when the
   * context has no state, or when `expectRoot` is given and the state moved past it (a resume).
   */
  async readSnapshot(
    contextId: Buffer,
    opts: { after?: Buffer; expectRoot?: Buffer; pageEntries: number; maxCovered: number },
    onBoundary: (boundary: SnapshotBoundaryView) => Promise<void>,
    onPage: (entries: SyncEntry[]) => Promise<void>,
    onCovered: (deltaIds: Buffer[]) => Promise<void>,
  ): Promise<void> {
    await this.sql.begin('isolation level repeatable read read only', async (tx) => {
      const [ctx] = await tx<{ root_hash: Buffer; dag_heads: Buffer[]; initialized: boolean }[]>`
        select root_hash, dag_heads, initialized from contexts where id = ${contextId}`;
      if (!ctx) throw new CodedError(StateSyncErrorCode.ContextUnknown, 'context is not hosted here');
      if (!ctx.initialized) throw new CodedError(StateSyncErrorCode.NotInitialized, 'context has no state yet');
      if (opts.expectRoot && !opts.expectRoot.equals(ctx.root_hash)) {
        throw new CodedError(StateSyncErrorCode.BoundaryMoved, 'the state moved past the requested boundary');
      }
      const [count] = await tx<{ n: string }[]>`
        select count(*) as n from state_entries where context_id = ${contextId}`;
      await onBoundary({ rootHash: ctx.root_hash, heads: ctx.dag_heads, totalEntries: Number(count?.n ?? 0) });
      const cursor = tx<EntryDbRow[]>`
        select key, value, op_hlc, op_rank, author from state_entries
        where context_id = ${contextId} and key > ${opts.after ?? Buffer.alloc(0)}
        order by key`.cursor(opts.pageEntries);
      for await (const rows of cursor) await onPage(rows.map(entryOf));
      // What the state holds the effects of, newest first: applied deltas, then ids known without
      // their rows (snapshot boundaries and coverage, pruned history). Past maxCovered, the oldest
      // are left out: a late copy of one of those would wait for parents like any unknown delta.
      const covered = tx<{ delta_id: Buffer }[]>`
        (select delta_id from deltas where context_id = ${contextId} and applied order by hlc desc, delta_id)
        union all
        (select delta_id from dag_checkpoints where context_id = ${contextId} order by created_at desc, delta_id)
        limit ${opts.maxCovered}`.cursor(opts.pageEntries);
      for await (const rows of covered) await onCovered(rows.map((r) => r.delta_id));
    });
  }

  /**
   * Imports a snapshot into a context without state. `fill` writes the received pages through the
   * given writer; the rows stay invisible to everyone else until the recomputed root equals the
   * boundary root, then state, root, heads (as checkpoints) and `initialized` commit together. The
   * ids of the deltas the state covers (`cover`) become pruned checkpoints: known as applied without
   * their rows, as if this node had pruned them (GC forgets the oldest beyond its bound). Any
   * failure (a refused page, a broken transfer, a root mismatch) rolls all of it back.
   */
  importSnapshot(
    contextId: Buffer,
    boundary: { rootHash: Buffer; heads: Buffer[] },
    fill: (
      write: (entries: SyncEntry[]) => Promise<void>,
      cover: (deltaIds: Buffer[]) => Promise<void>,
    ) => Promise<void>,
  ): Promise<{ entries: number; covered: number }> {
    return this.sql.begin(async (tx) => {
      const [before] = await tx<{ initialized: boolean }[]>`
        select initialized from contexts where id = ${contextId}`;
      if (!before) throw new CodedError(StateSyncErrorCode.ContextUnknown, 'context is not hosted here');
      if (before.initialized) {
        throw new CodedError(
          StateSyncErrorCode.SnapshotOnInitialized,
          'the context has state: a snapshot never replaces it',
        );
      }
      await tx`delete from state_tree_nodes where context_id = ${contextId}`;
      await tx`delete from state_entries where context_id = ${contextId}`;
      let written = 0;
      let covered = 0;
      await fill(
        async (entries) => {
          written += (await this.writeEntries(tx, contextId, entries)).changed;
        },
        async (deltaIds) => {
          if (deltaIds.length === 0) return;
          const rows = await tx`
            insert into dag_checkpoints (context_id, delta_id, pruned)
            select ${contextId}, d, true from unnest(${tx.array(deltaIds, BYTEA_ARRAY)}::bytea[]) d
            on conflict do nothing returning 1`;
          covered += rows.length;
        },
      );
      // Lock the row only now: a transfer takes seconds, and state-delta reads the row meanwhile.
      const [ctx] = await tx<{ initialized: boolean }[]>`
        select initialized from contexts where id = ${contextId} for update`;
      if (ctx?.initialized) {
        throw new CodedError(StateSyncErrorCode.SnapshotOnInitialized, 'the context got state during the transfer');
      }
      const buckets = await tx<{ bucket: string }[]>`
        select distinct bucket from state_entries where context_id = ${contextId} and op_rank = 0`;
      const [row] = await tx<{ root: Buffer }[]>`
        select refresh_state_tree(${contextId}, ${tx.array(
          buckets.map((b) => b.bucket),
          TEXT_ARRAY,
        )}::text[]) as root`;
      const root = row!.root;
      if (!root.equals(boundary.rootHash)) {
        throw new CodedError(
          StateSyncErrorCode.SnapshotRootMismatch,
          'the received state does not hash to the boundary root',
          {
            expected: boundary.rootHash.toString('hex'),
            computed: root.toString('hex'),
          },
        );
      }
      const heads = boundary.heads.filter((h) => !isZeroId(h));
      if (heads.length > 0) {
        await tx`
          insert into dag_checkpoints (context_id, delta_id)
          select ${contextId}, h from unnest(${tx.array(heads, BYTEA_ARRAY)}::bytea[]) h
          on conflict (context_id, delta_id) do update set pruned = false`;
      }
      const headList = heads.length > 0 ? heads : [Buffer.from(ZERO_ID)];
      await tx`
        update contexts set root_hash = ${root}, dag_heads = ${tx.array(headList, BYTEA_ARRAY)}::bytea[],
          initialized = true, updated_at = now()
        where id = ${contextId}`;
      return { entries: written, covered };
    });
  }

  /** Marks a context without state as initialized and empty (its peers have no state either). */
  async initializeEmpty(contextId: Buffer): Promise<boolean> {
    const rows = await this.sql`
      update contexts set initialized = true, updated_at = now() where id = ${contextId} and not initialized returning 1`;
    return rows.length > 0;
  }

  /**
   * Re-anchors the cached root to the live tree under the context lock (a cached root may lag the
   * storage). Returns the live root.
   */
  liveRoot(contextId: Buffer): Promise<Buffer | undefined> {
    return this.sql.begin(async (tx) => {
      const [ctx] = await tx<{ root_hash: Buffer }[]>`
        select root_hash from contexts where id = ${contextId} for update`;
      if (!ctx) return undefined;
      const [node] = await tx<{ hash: Buffer }[]>`
        select hash from state_tree_nodes where context_id = ${contextId} and path = ''`;
      const live = node?.hash ?? Buffer.from(ZERO_ID);
      if (!live.equals(ctx.root_hash)) {
        await tx`update contexts set root_hash = ${live}, updated_at = now() where id = ${contextId}`;
      }
      return live;
    });
  }
}

/** Last writer wins: HLC, then tombstone over value, then value hash (the database's order). */
export function compareEntries(a: SyncEntry, b: SyncEntry): number {
  return (
    Buffer.compare(a.hlc, b.hlc) ||
    Number(a.deleted) - Number(b.deleted) ||
    Buffer.compare(entryValueHash(a), entryValueHash(b))
  );
}
