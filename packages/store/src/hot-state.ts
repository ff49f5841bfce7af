import type { Identity } from '@cnode/primitives';
import type { wire } from '@cnode/proto';
import { BoundedCache, CacheEviction, errorMessage, type Logger, type Registry, type Startable } from '@cnode/runtime';
import type { Sql } from './postgres.js';
import type { GroupStore } from './groups/group-store.js';
import type { AliasKind, AliasRepo } from './repos/alias-repo.js';
import type { GovernancePendingRepo } from './repos/governance-pending-repo.js';
import type { IdentityRepo } from './repos/identity-repo.js';
import type { StateStore } from './state/state-store.js';

/** The parts of a context row that change only on join, snapshot, leave or re-registration. */
export interface ContextSettings {
  id: Buffer;
  groupId: Buffer | null;
  applicationId: Buffer | null;
  /** The version it runs; null: the one installed last. */
  applicationVersion: string | null;
  /** False while the context waits for a snapshot. */
  initialized: boolean;
}

/** Where an identity stands in a group's live membership. */
export interface LiveStanding {
  live: 'member' | 'removed' | 'never_member';
  /** The role while a member. */
  role?: wire.GroupRole;
}

export interface HotStateLimits {
  /** Most entries of each cache. */
  entries: number;
  /** An entry older than this is read again, whatever was (or was not) notified. */
  maxAgeMs: number;
}

/** The stores the hot state reads through. */
export interface HotStateStores {
  states: StateStore;
  groups: GroupStore;
  identities: IdentityRepo;
  aliases: AliasRepo;
  pending: GovernancePendingRepo;
}

export interface HotStateOptions {
  sql: () => Sql;
  /** The node's notification channel ("<schema>.hot", written by the migration 0012 triggers). */
  channel: string;
  /** The stores, built once Postgres is up. */
  stores: () => HotStateStores;
  limits: HotStateLimits;
  registry?: Registry;
  logger: Logger;
  now?: () => number;
}

/** The channel the migration 0012 triggers notify for a node schema. */
export function hotStateChannel(schema: string): string {
  return `${schema}.hot`;
}

interface Entry<V> {
  at: number;
  value: Promise<V>;
}

/** A scope the triggers name: what changed, and which group or context (hex). */
type Scope = 'group' | 'context' | 'aliases';

/**
 * The node's hot, rarely changing state in memory, shared by every request of a process: context
 * settings, our identities per context (keys opened), group keys and the current one, governance
 * heads, members' live standing and role, aliases, and the fact that a context has no
 * governance-pending delta. Root hashes and heads change with every delta and are never cached.
 *
 * Invalidation: triggers notify `<schema>.hot` when a transaction that changed a scope commits, so
 * every process and replica of the node drops that scope — group ops, key rotations and shares,
 * joins and leaves, alias changes, parking. A process may also drop a scope itself the moment it
 * changed it (`invalidate`). An answer that was being read while its scope changed is never kept:
 * entries are promises, and invalidation removes the promise, not a later answer. When the listening
 * connection is re-established (notifications may have been missed) everything is dropped, and no
 * entry lives longer than `maxAgeMs` in any case. Loads that fail are not kept.
 *
 * Every cache is bounded (least recently used goes) and exports hits, misses, evictions by reason
 * (capacity, invalidated, expired, discarded), size and bound as `cache_*{cache="hot_…"}`.
 */
export class HotState implements Startable {
  readonly name = 'hot-state';
  private readonly contexts: BoundedCache<string, Entry<ContextSettings | undefined>>;
  private readonly owned: BoundedCache<string, Entry<Identity[]>>;
  private readonly pendingEmpty: BoundedCache<string, Entry<boolean>>;
  private readonly groupKeys: BoundedCache<string, Entry<Map<string, Buffer>>>;
  private readonly currentKeys: BoundedCache<string, Entry<Buffer | undefined>>;
  private readonly governanceHeads: BoundedCache<string, Entry<Buffer[]>>;
  private readonly standings: BoundedCache<string, Entry<LiveStanding>>;
  private readonly aliases: BoundedCache<string, Entry<Buffer | undefined>>;
  private readonly byScope: Record<Scope, BoundedCache<string, Entry<unknown>>[]>;
  private unlisten: (() => Promise<void>) | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: HotStateOptions) {
    const cache = <V>(name: string) =>
      new BoundedCache<string, Entry<V>>(`hot_${name}`, opts.limits.entries, opts.registry);
    this.contexts = cache('context_settings');
    this.owned = cache('owned_identities');
    this.pendingEmpty = cache('governance_pending_empty');
    this.groupKeys = cache('group_keys');
    this.currentKeys = cache('group_current_key');
    this.governanceHeads = cache('governance_heads');
    this.standings = cache('member_standing');
    this.aliases = cache('aliases');
    const all = <V>(c: BoundedCache<string, Entry<V>>) => c as unknown as BoundedCache<string, Entry<unknown>>;
    this.byScope = {
      context: [all(this.contexts), all(this.owned), all(this.pendingEmpty)],
      group: [all(this.groupKeys), all(this.currentKeys), all(this.governanceHeads), all(this.standings)],
      aliases: [all(this.aliases)],
    };
    this.now = opts.now ?? Date.now;
  }

  async start(): Promise<void> {
    const listening = await this.opts.sql().listen(
      this.opts.channel,
      (payload) => this.onNotify(payload),
      // Called on the first LISTEN and on every reconnect: what changed meanwhile was not told.
      () => this.clear(),
    );
    this.unlisten = () => listening.unlisten();
  }

  async stop(): Promise<void> {
    const unlisten = this.unlisten;
    this.unlisten = undefined;
    await unlisten?.().catch((err: unknown) =>
      this.opts.logger.debug({ err: errorMessage(err) }, 'Hot-state unlisten failed'),
    );
    this.clear();
  }

  // --- contexts ------------------------------------------------------------------------------------

  /** The context's settings; undefined (and not remembered) when it is not hosted here. */
  contextSettings(contextId: Buffer): Promise<ContextSettings | undefined> {
    return this.read(
      this.contexts,
      hex(contextId),
      async () => {
        const ctx = await this.opts.stores().states.context(contextId);
        return (
          ctx && {
            id: contextId,
            groupId: ctx.groupId,
            applicationId: ctx.applicationId,
            applicationVersion: ctx.applicationVersion,
            initialized: ctx.initialized,
          }
        );
      },
      (v) => v !== undefined,
    );
  }

  /** Our identities in the context, private keys opened, oldest first. */
  ownedIdentities(contextId: Buffer): Promise<Identity[]> {
    return this.read(this.owned, hex(contextId), () => this.opts.stores().identities.owned(contextId));
  }

  async isOwned(contextId: Buffer, publicKey: Buffer): Promise<boolean> {
    return (await this.ownedIdentities(contextId)).some((i) => i.publicKey.equals(publicKey));
  }

  /** True when the context has no governance-pending delta. Only that answer is remembered. */
  noGovernancePending(contextId: Buffer): Promise<boolean> {
    return this.read(
      this.pendingEmpty,
      hex(contextId),
      async () => (await this.opts.stores().pending.count(contextId)) === 0,
      (empty) => empty,
    );
  }

  // --- groups --------------------------------------------------------------------------------------

  /** Every key of the group we hold, by key id (hex). `fresh` reads past the cache (and refreshes it). */
  keysOf(groupId: Buffer, opts: { fresh?: boolean } = {}): Promise<Map<string, Buffer>> {
    if (opts.fresh) this.groupKeys.delete(hex(groupId));
    return this.read(this.groupKeys, hex(groupId), () => this.opts.stores().groups.keys(groupId));
  }

  /** The key new deltas are sealed with (see GroupStore.currentKey). */
  currentKey(groupId: Buffer): Promise<Buffer | undefined> {
    return this.read(this.currentKeys, hex(groupId), () => this.opts.stores().groups.currentKey(groupId));
  }

  /** The group's governance DAG heads: the cut new deltas cite. */
  headsOf(groupId: Buffer): Promise<Buffer[]> {
    return this.read(this.governanceHeads, hex(groupId), () => this.opts.stores().groups.heads(groupId));
  }

  /** An identity's live standing in the group, with its role while a member. */
  standing(groupId: Buffer, member: Buffer): Promise<LiveStanding> {
    return this.read(this.standings, `${hex(groupId)}:${hex(member)}`, async () => {
      const groups = this.opts.stores().groups;
      const role = await groups.role(groupId, member);
      if (role !== undefined) return { live: 'member', role };
      return { live: await groups.liveStanding(groupId, member) };
    });
  }

  async role(groupId: Buffer, member: Buffer): Promise<wire.GroupRole | undefined> {
    return (await this.standing(groupId, member)).role;
  }

  // --- aliases -------------------------------------------------------------------------------------

  /** The alias's target, or undefined when there is no such alias (remembered too: ids are looked up first). */
  alias(kind: AliasKind, name: string, scope?: Buffer): Promise<Buffer | undefined> {
    return this.read(this.aliases, `${kind}:${scope ? hex(scope) : ''}:${name}`, () =>
      this.opts.stores().aliases.lookup(kind, name, scope),
    );
  }

  // --- invalidation --------------------------------------------------------------------------------

  /** Drops what is held of a scope (a group or context id; every alias for 'aliases'). */
  invalidate(scope: Scope, id?: Buffer | string): void {
    const prefix = id === undefined ? '' : typeof id === 'string' ? id : hex(id);
    for (const cache of this.byScope[scope]) cache.deleteWhere((key) => key.startsWith(prefix));
  }

  /** Drops everything. */
  clear(): void {
    for (const caches of Object.values(this.byScope)) for (const cache of caches) cache.clear();
  }

  private onNotify(payload: string): void {
    const [scope, id = ''] = payload.split(':', 2);
    if (scope === 'group' || scope === 'context') {
      // An id the trigger did not write (it writes 64 hex digits) would match too much: drop all.
      if (/^[0-9a-f]{64}$/.test(id)) this.invalidate(scope, id);
      else this.clear();
    } else if (scope === 'aliases') {
      this.invalidate('aliases');
    } else {
      this.opts.logger.warn({ payload }, 'Unknown hot-state notification: dropping every cached entry');
      this.clear();
    }
  }

  /**
   * The cached answer, or `load`'s (remembered while fresh, unless `keep` says otherwise). A load
   * that fails, or whose answer is not kept, leaves nothing behind.
   */
  private read<V>(
    cache: BoundedCache<string, Entry<V>>,
    key: string,
    load: () => Promise<V>,
    keep: (value: V) => boolean = () => true,
  ): Promise<V> {
    const now = this.now();
    const hit = cache.get(key, (e) => now - e.at <= this.opts.limits.maxAgeMs);
    if (hit) return hit.value;
    const entry: Entry<V> = { at: now, value: load() };
    cache.set(key, entry);
    entry.value.then(
      (value) => {
        if (!keep(value)) cache.discardIf(key, entry, CacheEviction.Discarded);
      },
      () => cache.discardIf(key, entry, CacheEviction.Discarded),
    );
    return entry.value;
  }
}

function hex(id: Buffer): string {
  return id.toString('hex');
}
