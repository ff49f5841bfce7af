import { Counter, Gauge, type Registry } from 'prom-client';
import { reduceActions, type Action } from '@cnode/primitives';
import { BoundedCache, CacheEviction, errorMessage, type Logger } from '@cnode/runtime';
import type { Sql } from '../postgres.js';
import { TreeWorkspace, type TreeEntryRow } from './tree-workspace.js';

export interface HotTreeLimits {
  /** Most contexts whose whole state is held in memory. */
  contexts: number;
  /**
   * A context with more entries than this is never held (it keeps reading what each apply
   * touches); one that grows past it while held is dropped.
   */
  maxEntries: number;
  /** How long a context is not loaded again after another writer changed it under us, or it was too large. */
  cooldownMs: number;
}

/**
 * The whole state of one context as of one version of its row: every entry and tree node (`tree`),
 * and its DAG heads. `version` is the row's `xmin`, which every writer of a context's state changes
 * (they all update the row in the same transaction), so an equal version means nothing changed.
 */
export interface HotTree {
  readonly contextId: Buffer;
  version: string;
  heads: Buffer[];
  readonly tree: TreeWorkspace;
  /** Taken by an apply; a second apply of the same context in this process reads instead. */
  busy: boolean;
}

/** How an apply on a held state ended. Metric label values. */
export enum FastApplyOutcome {
  Committed = 'committed',
  /** Another writer committed since the state was loaded: it is dropped, the apply reads instead. */
  VersionChanged = 'version_changed',
  /** Deltas wait for parents (the apply must cascade): the apply reads instead. */
  Waits = 'waits',
  /** A delta of the batch was stored already (pending or applied): the apply reads instead. */
  Duplicate = 'duplicate',
  /** The transaction failed otherwise (the error goes to the caller). */
  Failed = 'failed',
}

/** Why a load of a context's state did not end in the cache. Metric label values. */
enum LoadOutcome {
  Loaded = 'loaded',
  TooLarge = 'too_large',
  /** The nodes read did not hash to the row's root: nothing is held. */
  Inconsistent = 'inconsistent',
  Gone = 'gone',
  Failed = 'failed',
}

/** SQLSTATEs of `context_apply_guard` (migration 0018) and the unique violation of a stored delta. */
const REFUSALS: Record<string, FastApplyOutcome> = {
  CN001: FastApplyOutcome.VersionChanged,
  CN002: FastApplyOutcome.Waits,
  '23505': FastApplyOutcome.Duplicate,
};

/** The refusal `err` stands for, or undefined for any other failure. */
export function fastApplyRefusal(err: unknown): FastApplyOutcome | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? REFUSALS[code] : undefined;
}

interface HotTreeMetrics {
  applies: Counter<'outcome'>;
  follows: Counter<'outcome'>;
  loads: Counter<'outcome'>;
  held: Gauge;
  maxEntries: Gauge;
}

const metricsByRegistry = new WeakMap<Registry, HotTreeMetrics>();

function hotTreeMetrics(registry: Registry): HotTreeMetrics {
  let m = metricsByRegistry.get(registry);
  if (!m) {
    m = {
      applies: new Counter({
        name: 'hot_tree_applies_total',
        help: 'Batches applied on a context state held in memory, in one round trip, by outcome (committed; version_changed, waits, duplicate: read instead; failed)',
        labelNames: ['outcome'],
        registers: [registry],
      }),
      follows: new Counter({
        name: 'hot_tree_follows_total',
        help: 'Batches applied by reading (a held state could not be used) that a held state followed, by outcome (followed, stale, diverged)',
        labelNames: ['outcome'],
        registers: [registry],
      }),
      loads: new Counter({
        name: 'hot_tree_loads_total',
        help: 'Loads of a whole context state into memory, by outcome (loaded, too_large, inconsistent, gone, failed)',
        labelNames: ['outcome'],
        registers: [registry],
      }),
      held: new Gauge({
        name: 'hot_tree_held_entries',
        help: 'State entries and tree nodes held in memory over every held context',
        registers: [registry],
      }),
      maxEntries: new Gauge({
        name: 'hot_tree_max_entries',
        help: 'Most state entries a context may have to be held in memory (HOT_TREE_MAX_ENTRIES)',
        registers: [registry],
      }),
    };
    metricsByRegistry.set(registry, m);
  }
  return m;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * The whole state (entries, Merkle tree, heads) of the few contexts a process applies deltas to
 * most, so a batch whose parents are the heads is applied without reading anything first: one
 * round trip sends the guard (`context_apply_guard`: row lock, version check, no waiting deltas),
 * the writes and COMMIT together. A guard that refuses rolls everything back; the held state is
 * dropped and the batch takes the reading path.
 *
 * Bounded: at most `contexts` held (least recently used goes), none larger than `maxEntries`.
 * A state is loaded in the background after an apply that had to read, from one repeatable-read
 * snapshot, and kept only if its tree hashes to the stored root. An apply that read while a state
 * was held at the version it locked brings that state along (`follow`); any other change makes the
 * version differ and drops it at the next guard. After another writer changed a held context it is
 * not loaded again for `cooldownMs` (contexts with writers on several processes mostly read).
 */
export class HotTrees {
  private readonly cache: BoundedCache<string, HotTree>;
  /** Contexts not to load until the given time. */
  private readonly cooling: BoundedCache<string, number>;
  /** Loads under way, by context: at most `contexts` at a time. */
  private readonly loading = new Map<string, Promise<void>>();
  private readonly metrics?: HotTreeMetrics;

  constructor(
    private readonly sql: () => Sql,
    readonly limits: HotTreeLimits,
    private readonly logger: Logger,
    registry?: Registry,
    private readonly now: () => number = Date.now,
  ) {
    this.cache = new BoundedCache('hot_trees', limits.contexts, registry);
    this.cooling = new BoundedCache('hot_trees_cooling', Math.max(64, limits.contexts * 8), registry);
    if (registry) {
      this.metrics = hotTreeMetrics(registry);
      this.metrics.maxEntries.set(limits.maxEntries);
    }
  }

  /** Hot trees within `limits`, or none when they hold no context (`HOT_TREE_CONTEXTS=0`). */
  static optional(sql: () => Sql, limits: HotTreeLimits, logger: Logger, registry?: Registry): HotTrees | undefined {
    return limits.contexts > 0 ? new HotTrees(sql, limits, logger, registry) : undefined;
  }

  /** The held state of a context for one apply (marked busy), or undefined: not held, or in use. */
  take(contextId: Buffer): HotTree | undefined {
    const held = this.cache.get(hex(contextId));
    if (!held || held.busy) return undefined;
    held.busy = true;
    return held;
  }

  /** The apply did not use it: it is as it was. */
  release(held: HotTree): void {
    held.busy = false;
  }

  /** The apply committed: the tree holds the state at `version` with `heads`. */
  committed(held: HotTree, version: string, heads: Buffer[]): void {
    held.version = version;
    held.heads = heads;
    held.tree.settle();
    held.busy = false;
    this.metrics?.applies.inc({ outcome: FastApplyOutcome.Committed });
    this.dropIfGrown(held);
    this.updateHeld();
  }

  /** The apply's transaction failed (`outcome`): the state it changed in memory is dropped. */
  failed(held: HotTree, outcome: FastApplyOutcome): void {
    this.metrics?.applies.inc({ outcome });
    const key = hex(held.contextId);
    this.cache.discardIf(key, held, CacheEviction.Discarded);
    if (outcome === FastApplyOutcome.VersionChanged) this.coolDown(key);
    this.updateHeld();
  }

  /**
   * An apply that read committed: `lockedVersion` is the version it locked, `applied` the deltas it
   * applied in order (root `rootHash`, heads `heads` at `version` after it). A state held at the
   * locked version applies them too; one at another version is stale and dropped. A context not
   * held is loaded in the background.
   */
  follow(
    contextId: Buffer,
    lockedVersion: string,
    applied: readonly { actions: Action[]; author: Buffer }[],
    after: { version: string; rootHash: Buffer; heads: Buffer[] } | undefined,
  ): void {
    const key = hex(contextId);
    const held = this.cache.get(key);
    if (!held) {
      this.warm(contextId);
      return;
    }
    if (held.busy) return;
    if (held.version !== lockedVersion) {
      this.metrics?.follows.inc({ outcome: 'stale' });
      this.cache.discard(key, CacheEviction.Invalidated);
      this.coolDown(key);
      this.updateHeld();
      return;
    }
    if (!after) return;
    for (const d of applied) held.tree.apply(reduceActions(d.actions), d.author);
    if (!held.tree.rootHash.equals(after.rootHash)) {
      this.metrics?.follows.inc({ outcome: 'diverged' });
      this.cache.discard(key, CacheEviction.Discarded);
      this.logger.warn(
        { context: key, held: held.tree.rootHash.toString('hex'), stored: after.rootHash.toString('hex') },
        'A held context state reached another root than the apply that read: dropped',
      );
      this.updateHeld();
      return;
    }
    held.version = after.version;
    held.heads = after.heads;
    held.tree.settle();
    this.metrics?.follows.inc({ outcome: 'followed' });
    this.dropIfGrown(held);
    this.updateHeld();
  }

  /** A held context that grew past the bound is dropped (and not loaded again before the cooldown). */
  private dropIfGrown(held: HotTree): void {
    if (held.tree.entries <= this.limits.maxEntries) return;
    const key = hex(held.contextId);
    if (this.cache.discardIf(key, held, CacheEviction.Capacity)) this.coolDown(key);
  }

  /** The context is not loaded again before the cooldown ends. */
  private coolDown(key: string): void {
    this.cooling.set(key, this.now() + this.limits.cooldownMs);
  }

  /** Loads the context's state in the background unless it is held, loading, cooling down, or too many load. */
  warm(contextId: Buffer): void {
    const key = hex(contextId);
    if (this.cache.has(key) || this.loading.has(key) || this.loading.size >= this.limits.contexts) return;
    const until = this.cooling.get(key);
    if (until !== undefined && until > this.now()) return;
    const loading = this.load(contextId)
      .then((outcome) => void this.metrics?.loads.inc({ outcome }))
      .catch((err: unknown) => {
        this.metrics?.loads.inc({ outcome: LoadOutcome.Failed });
        this.logger.warn({ context: key, err: errorMessage(err) }, 'Loading a context state into memory failed');
      })
      .finally(() => this.loading.delete(key));
    this.loading.set(key, loading);
  }

  /** Whether the context's state is held (loaded, not dropped since). */
  holds(contextId: Buffer): boolean {
    return this.cache.has(hex(contextId));
  }

  /** Resolves once every load under way has ended (tests; a clean shutdown). */
  async settled(): Promise<void> {
    while (this.loading.size > 0) await Promise.all(this.loading.values());
  }

  private async load(contextId: Buffer): Promise<LoadOutcome> {
    const key = hex(contextId);
    const max = this.limits.maxEntries;
    const loaded = await this.sql().begin('isolation level repeatable read read only', async (tx) => {
      const [row] = await tx<{ version: string; root_hash: Buffer; dag_heads: Buffer[]; n: number }[]>`
        select xmin::text as version, root_hash, dag_heads,
               (select count(*)::int from (select 1 from state_entries
                                          where context_id = ${contextId} limit ${max + 1}) e) as n
        from contexts where id = ${contextId}`;
      if (!row) return LoadOutcome.Gone;
      if (row.n > max) return LoadOutcome.TooLarge;
      const entries = await tx<TreeEntryRow[]>`
        select key_hash, bucket, value_hash, op_hlc, op_rank from state_entries where context_id = ${contextId}`;
      const nodes = await tx<{ path: string; hash: Buffer }[]>`
        select path, hash from state_tree_nodes where context_id = ${contextId}`;
      const tree = TreeWorkspace.complete(contextId, row.root_hash, entries, nodes);
      if (!tree) return LoadOutcome.Inconsistent;
      return { contextId, version: row.version, heads: row.dag_heads, tree, busy: false } satisfies HotTree;
    });
    if (typeof loaded === 'string') {
      if (loaded === LoadOutcome.TooLarge) this.coolDown(key);
      if (loaded === LoadOutcome.Inconsistent) {
        this.logger.warn({ context: key }, 'A context state read into memory did not hash to its stored root');
      }
      return loaded;
    }
    // An apply that read meanwhile brought nothing along (nothing was held): the guard of the first
    // apply on this state finds out whether it is still current.
    if (!this.cache.has(key)) this.cache.set(key, loaded);
    this.updateHeld();
    return LoadOutcome.Loaded;
  }

  private updateHeld(): void {
    if (!this.metrics) return;
    let n = 0;
    for (const held of this.cache.values()) n += held.tree.size;
    this.metrics.held.set(n);
  }
}
