import {
  TREE_DEPTH,
  ZERO_ID,
  bucketHash,
  bucketOf,
  encodeHlc,
  innerNodeHash,
  keyHashOf,
  opRank,
  opValueHash,
  type Action,
  type LiveEntry,
} from '@cnode/primitives';
import type { PipelinedTx } from '../pipelined-tx.js';
import { BYTEA_ARRAY, TEXT_ARRAY } from '../postgres.js';
import { upsertEntries } from './entry-upsert.js';

/** The stored operation on one key (write or tombstone): what a new operation must beat. */
interface StoredOp {
  hlc: Buffer;
  rank: number;
  valueHash: Buffer;
}

/** A stored entry of a touched bucket, as the tree reads return it. */
export interface TreeEntryRow {
  key_hash: Buffer;
  bucket: string;
  value_hash: Buffer;
  op_hlc: Buffer;
  op_rank: number;
}

/** What `TreeWorkspace.fetch` read: the buckets and ancestor paths it covers, and their rows. */
export interface TreeRows {
  buckets: readonly string[];
  parents: readonly string[];
  entries: readonly TreeEntryRow[];
  children: readonly { path: string; hash: Buffer }[];
}

/** An operation that beat the stored one, with the author of the delta that carried it. */
interface WinningOp {
  action: Action;
  keyHash: Buffer;
  bucket: string;
  author: Buffer;
}

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Ancestor paths of a bucket, from its parent up to the root (''). */
function ancestorsOf(bucket: string): string[] {
  const out: string[] = [];
  for (let depth = TREE_DEPTH - 1; depth >= 0; depth--) out.push(bucket.slice(0, depth));
  return out;
}

/**
 * The part of a context's state and Merkle tree that a batch of deltas touches, loaded in the
 * batch's transaction (the context row locked) and updated in memory delta by delta: every delta
 * gets its own post-apply root without a database round trip, and the batch writes entries and tree
 * nodes once. Loaded: every entry (tombstones too) of each touched bucket, and every existing child
 * of each touched bucket's ancestors — all an inner node's hash depends on. Hashes follow
 * `@cnode/primitives` merkle (the database's `refresh_state_tree` computes the same ones), and an
 * operation wins exactly when the database's upsert guard would let it: the greatest
 * (HLC, rank, value hash) per key.
 */
export class TreeWorkspace {
  /** Stored op per key hash (hex) of the touched buckets, updated as operations win. */
  private readonly ops = new Map<string, StoredOp>();
  /** Live entries per touched bucket, by key hash (hex). */
  private readonly live = new Map<string, Map<string, LiveEntry>>();
  /** Known node hashes by path (touched buckets, their ancestors and the ancestors' children). */
  private readonly nodes = new Map<string, Buffer>();
  private readonly winners = new Map<string, WinningOp>();
  private readonly changedPaths = new Set<string>();
  /** Ancestor paths whose children are loaded. */
  private readonly loadedParents = new Set<string>();
  private root: Buffer;

  /**
   * @param complete every entry and every tree node of the context is loaded (a hot tree): a bucket
   *   or node it does not hold is empty, and nothing needs reading before an apply.
   */
  private constructor(
    private readonly contextId: Buffer,
    root: Buffer,
    readonly complete = false,
  ) {
    this.root = root;
  }

  /**
   * Sends the reads of what applying `actions` will touch (every entry of each touched bucket, every
   * child of each touched bucket's ancestors), to build the workspace with `from` once they answer.
   * Sent before the batch knows which of its deltas are new, the reads cover them all.
   */
  static fetch(
    tx: PipelinedTx,
    contextId: Buffer,
    actions: readonly Action[],
    skip?: TreeWorkspace,
  ): Promise<TreeRows> {
    if (skip?.complete) return Promise.resolve({ buckets: [], parents: [], entries: [], children: [] });
    const buckets = [...new Set(actions.map((a) => bucketOf(keyHashOf(a.key))))].filter((b) => !skip?.live.has(b));
    const parents = [...new Set(buckets.flatMap(ancestorsOf))].filter((p) => !skip?.loadedParents.has(p));
    if (buckets.length === 0) return Promise.resolve({ buckets, parents, entries: [], children: [] });
    const sql = tx.sql;
    const entries = tx.send(sql<TreeEntryRow[]>`
      select key_hash, bucket, value_hash, op_hlc, op_rank from state_entries_in_buckets(${contextId}, ${sql.array(buckets, TEXT_ARRAY)}::text[])`);
    const children = tx.send(sql<{ path: string; hash: Buffer }[]>`
      select path, hash from state_tree_children(${contextId}, ${sql.array(parents, TEXT_ARRAY)}::text[])`);
    const rows = Promise.all([entries, children]).then(([e, c]) => ({ buckets, parents, entries: e, children: c }));
    // A transaction that fails before it needs the rows never awaits them: that is no unhandled rejection.
    rows.catch(() => undefined);
    return rows;
  }

  /** The workspace over what `fetch` read; `root` is the context's current root hash. */
  static from(contextId: Buffer, root: Buffer, rows: TreeRows): TreeWorkspace {
    const ws = new TreeWorkspace(contextId, root);
    ws.add(rows);
    return ws;
  }

  /**
   * The whole state of a context — every entry (tombstones too) and every tree node — as one
   * workspace that stays valid across batches (`settle` after each commit). Undefined when the
   * nodes do not hash to `root`: what was read is not a state this workspace could continue.
   */
  static complete(
    contextId: Buffer,
    root: Buffer,
    entries: readonly TreeEntryRow[],
    nodes: readonly { path: string; hash: Buffer }[],
  ): TreeWorkspace | undefined {
    const ws = new TreeWorkspace(contextId, root, true);
    const buckets = [...new Set(entries.map((e) => e.bucket))];
    ws.add({ buckets, parents: [], entries, children: nodes });
    const stored = ws.nodes.get('') ?? Buffer.from(ZERO_ID);
    return stored.equals(root) ? ws : undefined;
  }

  /** State entries held (tombstones too). */
  get entries(): number {
    return this.ops.size;
  }

  /** Entries and tree nodes held: what a hot tree costs in memory. */
  get size(): number {
    return this.ops.size + this.nodes.size;
  }

  /**
   * Forgets what the last batch changed once it committed: the workspace is the stored state again,
   * ready for the next batch (`persist` then writes only that batch's changes).
   */
  settle(): void {
    this.winners.clear();
    this.changedPaths.clear();
  }

  /** Loads what `actions` touch beyond what is loaded already (deltas a batch unblocked). */
  async extend(tx: PipelinedTx, actions: readonly Action[]): Promise<void> {
    this.add(await TreeWorkspace.fetch(tx, this.contextId, actions, this));
  }

  private add(rows: TreeRows): void {
    for (const b of rows.buckets) this.live.set(b, new Map());
    for (const p of rows.parents) this.loadedParents.add(p);
    for (const e of rows.entries) {
      this.ops.set(hexOf(e.key_hash), { hlc: e.op_hlc, rank: e.op_rank, valueHash: e.value_hash });
      if (e.op_rank === 0) {
        this.live
          .get(e.bucket)
          ?.set(hexOf(e.key_hash), { keyHash: e.key_hash, valueHash: e.value_hash, hlc: e.op_hlc });
      }
    }
    // A node changed in memory already is newer than the stored one (never the case for the
    // children of a parent loaded only now: nothing under it was touched).
    for (const c of rows.children) if (!this.changedPaths.has(c.path)) this.nodes.set(c.path, c.hash);
  }

  /** The root hash after everything applied so far. */
  get rootHash(): Buffer {
    return this.root;
  }

  /**
   * Applies one delta's actions (author `author`): each operation that beats the key's stored one
   * replaces it; the touched buckets and their ancestors are rehashed. Returns the root after it.
   */
  apply(actions: readonly Action[], author: Buffer): Buffer {
    const dirty = new Set<string>();
    for (const action of actions) {
      const keyHash = keyHashOf(action.key);
      const id = hexOf(keyHash);
      const bucket = bucketOf(keyHash);
      const op: StoredOp = { hlc: encodeHlc(action.at), rank: opRank(action), valueHash: opValueHash(action) };
      const stored = this.ops.get(id);
      if (stored && compareStored(op, stored) <= 0) continue;
      const live = this.live.get(bucket) ?? this.emptyBucket(bucket);
      this.ops.set(id, op);
      // It beat everything stored and everything earlier in the batch: the key's write is this one.
      this.winners.set(id, { action, keyHash, bucket, author });
      if (op.rank === 0) live.set(id, { keyHash, valueHash: op.valueHash, hlc: op.hlc });
      else live.delete(id);
      dirty.add(bucket);
    }
    if (dirty.size > 0) this.rehash(dirty);
    return this.root;
  }

  /** A bucket of a complete workspace that holds no entry yet. */
  private emptyBucket(bucket: string): Map<string, LiveEntry> {
    if (!this.complete) throw new Error('tree workspace: an action outside the loaded buckets');
    const live = new Map<string, LiveEntry>();
    this.live.set(bucket, live);
    return live;
  }

  private rehash(buckets: Set<string>): void {
    let level = new Set<string>();
    for (const bucket of buckets) {
      const entries = [...this.live.get(bucket)!.values()];
      this.setNode(bucket, entries.length > 0 ? bucketHash(entries) : undefined);
      level.add(bucket.slice(0, TREE_DEPTH - 1));
    }
    for (let depth = TREE_DEPTH - 1; depth >= 0; depth--) {
      const next = new Set<string>();
      for (const path of level) {
        const children: [number, Buffer][] = [];
        for (let nibble = 0; nibble < 16; nibble++) {
          const hash = this.nodes.get(path + nibble.toString(16));
          if (hash) children.push([nibble, hash]);
        }
        this.setNode(path, children.length > 0 ? innerNodeHash(children) : undefined);
        if (depth > 0) next.add(path.slice(0, depth - 1));
      }
      level = next;
    }
    this.root = this.nodes.get('') ?? Buffer.from(ZERO_ID);
  }

  private setNode(path: string, hash: Buffer | undefined): void {
    if (hash) this.nodes.set(path, hash);
    else this.nodes.delete(path);
    this.changedPaths.add(path);
  }

  /**
   * Sends the writes of what the batch changed: the winning operation per key (the upsert guard is
   * kept, so a write never replaces a greater stored op) and every changed tree node. The caller
   * commits them (`PipelinedTx.commit`); `rootHash` is the final root.
   */
  persist(tx: PipelinedTx): Promise<unknown>[] {
    const sql = tx.sql;
    const sent: Promise<unknown>[] = [];
    const won = [...this.winners.values()];
    if (won.length > 0) {
      sent.push(
        tx.send(
          upsertEntries(
            sql,
            this.contextId,
            won.map(({ action, keyHash, bucket, author }) => ({
              key: action.key,
              keyHash,
              bucket,
              value: action.kind === 'set' ? action.value : null,
              valueHash: opValueHash(action),
              hlc: encodeHlc(action.at),
              rank: opRank(action),
              author,
              deletedAtMs: action.kind === 'remove' ? String(action.at.wallTimeMs) : null,
            })),
          ),
        ),
      );
    }
    const paths = [...this.changedPaths];
    if (paths.length > 0) {
      const present = paths.filter((p) => this.nodes.has(p));
      sent.push(
        tx.send(sql`
          select state_tree_write(${this.contextId}, ${sql.array(paths, TEXT_ARRAY)}::text[],
            ${sql.array(present, TEXT_ARRAY)}::text[], ${sql.array(
              present.map((p) => this.nodes.get(p)!),
              BYTEA_ARRAY,
            )}::bytea[])`),
      );
    }
    return sent;
  }
}

function compareStored(a: StoredOp, b: StoredOp): number {
  return Buffer.compare(a.hlc, b.hlc) || a.rank - b.rank || Buffer.compare(a.valueHash, b.valueHash);
}
