import type postgres from 'postgres';
import { admin, wire } from '@cnode/proto';
import {
  ZERO_ID,
  computeDeltaId,
  actionsFromWire,
  actionsToWire,
  bucketOf,
  computeRootHash,
  decodeHlc,
  encodeHlc,
  hlcToWire,
  isZeroId,
  keyHashOf,
  opValueHash,
  reduceActions,
  type Action,
  type Hlc,
  type VerifiedDelta,
  toBase58,
} from '@cnode/primitives';
import { CodedError } from '@cnode/runtime';
import { BYTEA_ARRAY, TEXT_ARRAY, INT2_ARRAY, INT8_ARRAY, type Sql } from '../postgres.js';

/** Postgres array type oids, for typed array parameters. */

/** MAX_PENDING_DELTAS upstream: beyond it the oldest pending delta of the context is evicted. */
export const MAX_PENDING_DELTAS = 10_000;
/** MAX_DELTA_QUERY_LIMIT upstream: most missing-parent ids returned at once. */
export const MAX_MISSING_PARENTS = 3_000;

export enum StateErrorCode {
  ContextUnknown = 'STORE_CONTEXT_UNKNOWN',
  ContextExists = 'STORE_CONTEXT_EXISTS',
}

export enum DeltaOutcome {
  Applied = 'applied',
  Pending = 'pending',
  Duplicate = 'duplicate',
}

/**
 * A delta ready for the DAG: its envelope checked and its actions decrypted (an `OpenedDelta` from
 * `openDelta`), or produced locally.
 */
export type DagDelta = VerifiedDelta & { actions: Action[]; events?: wire.ExecutionEvent[] };

/** Seals a locally produced delta once its parents and the post-apply root hash are known. */
export type SealLocalDelta = (draft: { deltaId: Buffer; parents: Buffer[]; rootHash: Buffer }) => VerifiedDelta;

export interface LocalDeltaResult {
  delta: VerifiedDelta;
  rootHash: Buffer;
  heads: Buffer[];
}

export interface ContextRow extends ContextState {
  id: Buffer;
}

export interface AddDeltaResult {
  outcome: DeltaOutcome;
  /** Deltas applied by this call, in order: the delta itself, then what it unblocked (breadth-first). */
  applied: Buffer[];
  /** For a pending delta: parents this node has never seen (fetch them). */
  missingParents: Buffer[];
  /** Pending deltas evicted to stay under the cap. */
  evicted: number;
  rootHash: Buffer;
  heads: Buffer[];
}

export interface ContextState {
  rootHash: Buffer;
  heads: Buffer[];
  applicationId: Buffer | null;
  groupId: Buffer | null;
  /** False while the context has no state yet (it waits for a snapshot): deltas are buffered. */
  initialized: boolean;
}

export interface EntryRow {
  key: Buffer;
  value: Buffer | null;
  hlc: Hlc;
  deleted: boolean;
  author: Buffer | null;
}

export interface TreeNode {
  path: string;
  hash: Buffer;
}

type Tx = postgres.TransactionSql;

interface ContextDbRow {
  id: Buffer;
  root_hash: Buffer;
  dag_heads: Buffer[];
  application_id: Buffer | null;
  group_id: Buffer | null;
  initialized: boolean;
}

/** The stored envelope of a delta, as `deltas` holds it. */
interface DeltaEnvelopeRow {
  parents: Buffer[];
  hlc: Buffer;
  author: Buffer;
  governance_heads: Buffer[];
  key_id: Buffer;
  nonce: Buffer;
  ciphertext: Buffer;
  signature: Buffer;
}

function contextRowOf(row: ContextDbRow): ContextRow {
  return {
    id: row.id,
    rootHash: row.root_hash,
    heads: row.dag_heads,
    applicationId: row.application_id,
    groupId: row.group_id,
    initialized: row.initialized,
  };
}

/** The decrypted content of a stored delta: its actions and application events. */
function encodeContent(d: DagDelta): Buffer {
  return Buffer.from(
    wire.SealedDeltaPayload.encode({
      actions: actionsToWire(d.actions),
      rootHash: Buffer.alloc(0),
      events: d.events ?? [],
    }).finish(),
  );
}

function decodeContent(bytes: Uint8Array): { actions: Action[]; events: wire.ExecutionEvent[] } {
  const payload = wire.SealedDeltaPayload.decode(bytes);
  return { actions: actionsFromWire(payload.actions), events: payload.events };
}

const hex = (id: Uint8Array): string => Buffer.from(id).toString('hex');

/**
 * The replicated state of every context and its delta DAG, in Postgres. Each delta is applied in one
 * transaction that locks the context row first: state entries, Merkle tree, delta row, heads and
 * root hash commit together or not at all, and concurrent writers to one context (any number of
 * state-delta replicas) queue on the database lock.
 */
export class StateStore {
  constructor(
    private readonly sql: Sql,
    private readonly limits: { maxPending: number; maxMissing: number } = {
      maxPending: MAX_PENDING_DELTAS,
      maxMissing: MAX_MISSING_PARENTS,
    },
  ) {}

  async createContext(
    id: Buffer,
    opts: { applicationId?: Buffer; groupId?: Buffer; initialized?: boolean } = {},
  ): Promise<void> {
    const rows = await this.sql`
      insert into contexts (id, application_id, group_id, initialized)
      values (${id}, ${opts.applicationId ?? null}, ${opts.groupId ?? null}, ${opts.initialized ?? true})
      on conflict (id) do nothing returning id`;
    if (rows.length === 0) throw new CodedError(StateErrorCode.ContextExists, `context ${hex(id)} exists`);
  }

  async context(id: Buffer): Promise<ContextState | undefined> {
    const [row] = await this.sql<ContextDbRow[]>`
      select id, root_hash, dag_heads, application_id, group_id, initialized from contexts where id = ${id}`;
    return row && contextRowOf(row);
  }

  async listContexts(): Promise<ContextRow[]> {
    const rows = await this.sql<ContextDbRow[]>`
      select id, root_hash, dag_heads, application_id, group_id, initialized from contexts order by created_at, id`;
    return rows.map(contextRowOf);
  }

  /** Deletes a context and everything stored under it (state, tree, deltas, identities, buffers). */
  async deleteContext(id: Buffer): Promise<boolean> {
    const rows = await this.sql`delete from contexts where id = ${id} returning 1`;
    return rows.length > 0;
  }

  /**
   * Commits a delta produced on this node: under the context lock, its parents are the current heads,
   * the actions merge into the state, and `seal` builds the signed envelope with the post-apply root
   * hash. Delta, state, heads and root commit together; a node event is queued in the same transaction.
   */
  commitLocal(
    contextId: Buffer,
    author: Buffer,
    actions: Action[],
    events: wire.ExecutionEvent[],
    seal: SealLocalDelta,
  ): Promise<LocalDeltaResult> {
    return this.sql.begin(async (tx) => {
      const [ctx] = await tx<{ root_hash: Buffer; dag_heads: Buffer[] }[]>`
        select root_hash, dag_heads from contexts where id = ${contextId} for update`;
      if (!ctx) throw new CodedError(StateErrorCode.ContextUnknown, `context ${hex(contextId)} is not hosted here`);
      const parents = ctx.dag_heads;
      const deltaId = computeDeltaId(parents, actions);
      const draft = { contextId, author, actions };
      const rootHash = (await this.mergeActions(tx, draft)) ?? ctx.root_hash;
      const delta = seal({ deltaId, parents, rootHash });
      await this.insertDelta(tx, { ...delta, actions, events }, true);
      const heads = [deltaId];
      await tx`
        update contexts set root_hash = ${rootHash}, dag_heads = ${tx.array(heads, BYTEA_ARRAY)}::bytea[], updated_at = now()
        where id = ${contextId}`;
      await this.queueMutationEvent(tx, { ...delta, actions, events }, rootHash, heads, true);
      return { delta, rootHash, heads };
    });
  }

  /**
   * Adds a delta to its context's DAG. Applicable (every parent applied, or the zero id) → applied
   * with everything it unblocks; otherwise kept pending until its parents arrive.
   */
  addDelta(delta: DagDelta): Promise<AddDeltaResult> {
    return this.sql.begin(async (tx) => {
      const [ctx] = await tx<{ root_hash: Buffer; dag_heads: Buffer[] }[]>`
        select root_hash, dag_heads from contexts where id = ${delta.contextId} for update`;
      if (!ctx)
        throw new CodedError(StateErrorCode.ContextUnknown, `context ${hex(delta.contextId)} is not hosted here`);
      const heads = new Map(ctx.dag_heads.map((h) => [hex(h), h]));
      const result = (outcome: DeltaOutcome, extra: Partial<AddDeltaResult> = {}): AddDeltaResult => ({
        outcome,
        applied: [],
        missingParents: [],
        evicted: 0,
        rootHash: ctx.root_hash,
        heads: [...heads.values()],
        ...extra,
      });

      const [known] = await tx`
        select 1 from deltas where context_id = ${delta.contextId} and delta_id = ${delta.deltaId}
        union all
        select 1 from dag_checkpoints where context_id = ${delta.contextId} and delta_id = ${delta.deltaId}`;
      if (known) return result(DeltaOutcome.Duplicate);

      const parents = delta.parents.filter((p) => !isZeroId(p));
      const present = parents.length
        ? await tx<{ delta_id: Buffer; applied: boolean }[]>`
            select delta_id, applied from deltas
            where context_id = ${delta.contextId} and delta_id = any (${tx.array(parents, BYTEA_ARRAY)}::bytea[])
            union all
            select delta_id, true from dag_checkpoints
            where context_id = ${delta.contextId} and delta_id = any (${tx.array(parents, BYTEA_ARRAY)}::bytea[])`
        : [];
      const appliedParents = new Set(present.filter((r) => r.applied).map((r) => hex(r.delta_id)));
      const waitingOn = parents.filter((p) => !appliedParents.has(hex(p)));

      if (waitingOn.length > 0) {
        await this.insertDelta(tx, delta, false);
        await tx`
          insert into delta_waits (context_id, parent_id, delta_id)
          select ${delta.contextId}, p, ${delta.deltaId} from unnest(${tx.array(waitingOn, BYTEA_ARRAY)}::bytea[]) p
          on conflict do nothing`;
        const evicted = await this.evictPending(tx, delta.contextId);
        const seen = new Set(present.map((r) => hex(r.delta_id)));
        return result(DeltaOutcome.Pending, { missingParents: waitingOn.filter((p) => !seen.has(hex(p))), evicted });
      }

      let root = ctx.root_hash;
      const applied: Buffer[] = [];
      const apply = async (d: DagDelta, stored: boolean): Promise<void> => {
        root = (await this.applyDelta(tx, d, stored)) ?? root;
        for (const p of d.parents) heads.delete(hex(p));
        heads.set(hex(d.deltaId), d.deltaId);
        applied.push(d.deltaId);
        await this.queueMutationEvent(tx, d, root, [...heads.values()], false);
      };
      await apply(delta, false);
      // Cascade, breadth-first: every pending delta whose last missing parent just applied.
      for (let i = 0; i < applied.length; i++) {
        const unblocked = await tx<{ delta_id: Buffer }[]>`
          delete from delta_waits w where w.context_id = ${delta.contextId} and w.parent_id = ${applied[i]!}
          returning w.delta_id`;
        for (const { delta_id } of unblocked) {
          const [still] =
            await tx`select 1 from delta_waits where context_id = ${delta.contextId} and delta_id = ${delta_id} limit 1`;
          if (still) continue;
          const child = await this.loadDelta(tx, delta.contextId, delta_id);
          if (child) await apply(child, true);
        }
      }
      const headList = [...heads.values()];
      await tx`
        update contexts set root_hash = ${root}, dag_heads = ${tx.array(headList, BYTEA_ARRAY)}::bytea[], updated_at = now()
        where id = ${delta.contextId}`;
      return result(DeltaOutcome.Applied, { applied, rootHash: root, heads: headList });
    });
  }

  /** Merges the actions into the state, refreshes the tree, records the delta as applied. */
  private async applyDelta(tx: Tx, delta: DagDelta, stored: boolean): Promise<Buffer | undefined> {
    const root = await this.mergeActions(tx, delta);
    if (stored) {
      await tx`update deltas set applied = true, applied_at = now() where context_id = ${delta.contextId} and delta_id = ${delta.deltaId}`;
    } else {
      await this.insertDelta(tx, delta, true);
    }
    return root;
  }

  /** The node event of an applied delta, written in the delta's transaction (the outbox). */
  private async queueMutationEvent(
    tx: Tx,
    d: DagDelta,
    rootHash: Buffer,
    heads: Buffer[],
    local: boolean,
  ): Promise<void> {
    await this.insertEvent(tx, d.contextId, {
      $case: 'stateMutation',
      stateMutation: {
        deltaId: toBase58(d.deltaId),
        rootHash: toBase58(rootHash),
        heads: heads.map(toBase58),
        author: toBase58(d.author),
        local,
        events: (d.events ?? []).map((e) => ({ kind: e.kind, data: e.data })),
      },
    });
  }

  /** Queues a node event (published to NODE_EVENTS by the outbox publisher). */
  queueNodeEvent(contextId: Buffer, event: admin.NodeEvent['event']): Promise<void> {
    return this.insertEvent(this.sql, contextId, event);
  }

  private async insertEvent(tx: Tx | Sql, contextId: Buffer, event: admin.NodeEvent['event']): Promise<void> {
    const payload: admin.NodeEvent = { contextId: toBase58(contextId), emittedAtMs: BigInt(Date.now()), event };
    await tx`insert into node_event_outbox (context_id, payload)
      values (${contextId}, ${Buffer.from(admin.NodeEvent.encode(payload).finish())})`;
  }

  /** Merges actions into the state entries and refreshes the tree; returns the new root if it changed. */
  private async mergeActions(
    tx: Tx,
    delta: Pick<DagDelta, 'contextId' | 'actions' | 'author'>,
  ): Promise<Buffer | undefined> {
    const actions = reduceActions(delta.actions);
    let root: Buffer | undefined;
    if (actions.length > 0) {
      const keyHashes = actions.map((a) => keyHashOf(a.key));
      const changed = await tx<{ bucket: string }[]>`
        insert into state_entries (context_id, key, key_hash, bucket, value, value_hash, op_hlc, op_rank, author, deleted_at_ms)
        select ${delta.contextId}, k, kh, b, v, vh, h, r, ${delta.author}, dms
        from unnest(
          ${tx.array(
            actions.map((a) => a.key),
            BYTEA_ARRAY,
          )}::bytea[],
          ${tx.array(keyHashes, BYTEA_ARRAY)}::bytea[],
          ${tx.array(keyHashes.map(bucketOf), TEXT_ARRAY)}::text[],
          ${tx.array(
            actions.map((a) => (a.kind === 'set' ? a.value : null)),
            BYTEA_ARRAY,
          )}::bytea[],
          ${tx.array(actions.map(opValueHash), BYTEA_ARRAY)}::bytea[],
          ${tx.array(
            actions.map((a) => encodeHlc(a.at)),
            BYTEA_ARRAY,
          )}::bytea[],
          ${tx.array(
            actions.map((a) => (a.kind === 'set' ? 0 : 1)),
            INT2_ARRAY,
          )}::int2[],
          ${tx.array(
            actions.map((a) => (a.kind === 'remove' ? String(a.at.wallTimeMs) : null)),
            INT8_ARRAY,
          )}::int8[]
        ) as t(k, kh, b, v, vh, h, r, dms)
        on conflict (context_id, key) do update set
          value = excluded.value, value_hash = excluded.value_hash, op_hlc = excluded.op_hlc,
          op_rank = excluded.op_rank, author = excluded.author, deleted_at_ms = excluded.deleted_at_ms
        where (excluded.op_hlc, excluded.op_rank, excluded.value_hash)
            > (state_entries.op_hlc, state_entries.op_rank, state_entries.value_hash)
        returning bucket`;
      const dirty = [...new Set(changed.map((r) => r.bucket))];
      if (dirty.length > 0) {
        const [row] = await tx<{ root: Buffer }[]>`
          select refresh_state_tree(${delta.contextId}, ${tx.array(dirty, TEXT_ARRAY)}::text[]) as root`;
        root = row!.root;
      }
    }
    return root;
  }

  private async insertDelta(tx: Tx, d: DagDelta, applied: boolean): Promise<void> {
    await tx`
      insert into deltas (context_id, delta_id, parents, hlc, author, governance_heads, key_id, nonce, ciphertext,
                          signature, actions, applied, applied_at)
      values (${d.contextId}, ${d.deltaId}, ${tx.array(d.parents, BYTEA_ARRAY)}::bytea[], ${encodeHlc(d.hlc)}, ${d.author},
              ${tx.array(d.governanceHeads, BYTEA_ARRAY)}::bytea[], ${d.keyId}, ${d.nonce}, ${d.ciphertext}, ${d.signature},
              ${encodeContent(d)}, ${applied}, ${applied ? new Date() : null})`;
  }

  private async loadDelta(tx: Tx | Sql, contextId: Buffer, deltaId: Buffer): Promise<DagDelta | undefined> {
    const [r] = await tx<
      (DeltaEnvelopeRow & { actions: Buffer })[]
    >`select parents, hlc, author, governance_heads, key_id, nonce, ciphertext, signature, actions
      from deltas where context_id = ${contextId} and delta_id = ${deltaId}`;
    return (
      r && {
        contextId,
        deltaId,
        parents: r.parents,
        hlc: decodeHlc(r.hlc),
        author: r.author,
        governanceHeads: r.governance_heads,
        keyId: r.key_id,
        nonce: r.nonce,
        ciphertext: r.ciphertext,
        signature: r.signature,
        ...decodeContent(r.actions),
      }
    );
  }

  /** Keeps at most maxPending pending deltas in the context, evicting the oldest. */
  private async evictPending(tx: Tx, contextId: Buffer): Promise<number> {
    const [{ n } = { n: '0' }] = await tx<{ n: string }[]>`
      select count(*) as n from deltas where context_id = ${contextId} and not applied`;
    const excess = Number(n) - this.limits.maxPending;
    if (excess <= 0) return 0;
    const evicted = await tx`
      delete from deltas where context_id = ${contextId} and delta_id in (
        select delta_id from deltas where context_id = ${contextId} and not applied
        order by received_at, delta_id limit ${excess})
      returning delta_id`;
    return evicted.length;
  }

  /** Stored delta, applied or pending (for serving peers and tests). */
  delta(contextId: Buffer, deltaId: Buffer): Promise<DagDelta | undefined> {
    return this.loadDelta(this.sql, contextId, deltaId);
  }

  /** Whether the delta is stored, applied or pending. */
  async hasDelta(contextId: Buffer, deltaId: Buffer): Promise<boolean> {
    const [r] = await this.sql`
      select 1 from deltas where context_id = ${contextId} and delta_id = ${deltaId}
      union all
      select 1 from dag_checkpoints where context_id = ${contextId} and delta_id = ${deltaId}`;
    return Boolean(r);
  }

  async isApplied(contextId: Buffer, deltaId: Buffer): Promise<boolean> {
    const [r] = await this.sql<{ applied: boolean }[]>`
      select applied from deltas where context_id = ${contextId} and delta_id = ${deltaId}`;
    return r?.applied ?? false;
  }

  /** Whether the delta is stored but waits for parents. */
  async isPending(contextId: Buffer, deltaId: Buffer): Promise<boolean> {
    const [r] = await this.sql<{ applied: boolean }[]>`
      select applied from deltas where context_id = ${contextId} and delta_id = ${deltaId}`;
    return r ? !r.applied : false;
  }

  /** The DAG heads a snapshot brought (this node holds their effects, not their history), at most `max`. */
  async checkpoints(contextId: Buffer, max: number): Promise<Buffer[]> {
    const rows = await this.sql<{ delta_id: Buffer }[]>`
      select delta_id from dag_checkpoints where context_id = ${contextId} order by created_at desc, delta_id limit ${max}`;
    return rows.map((r) => r.delta_id);
  }

  async pendingCount(contextId: Buffer): Promise<number> {
    const [r] = await this.sql<
      { n: string }[]
    >`select count(*) as n from deltas where context_id = ${contextId} and not applied`;
    return Number(r?.n ?? 0);
  }

  /** Parents that pending deltas wait on and this node has never seen, at most maxMissing. */
  async missingParents(contextId: Buffer): Promise<Buffer[]> {
    const rows = await this.sql<{ parent_id: Buffer }[]>`
      select distinct w.parent_id from delta_waits w
      where w.context_id = ${contextId}
        and not exists (select 1 from deltas d where d.context_id = w.context_id and d.delta_id = w.parent_id)
        and not exists (select 1 from dag_checkpoints c where c.context_id = w.context_id and c.delta_id = w.parent_id)
      order by w.parent_id limit ${this.limits.maxMissing}`;
    return rows.map((r) => r.parent_id);
  }

  /** Every entry, tombstones included, in key order. */
  async entries(contextId: Buffer): Promise<EntryRow[]> {
    const rows = await this.sql<
      { key: Buffer; value: Buffer | null; op_hlc: Buffer; op_rank: number; author: Buffer | null }[]
    >`
      select key, value, op_hlc, op_rank, author from state_entries where context_id = ${contextId} order by key`;
    return rows.map((r) => ({
      key: r.key,
      value: r.value,
      hlc: decodeHlc(r.op_hlc),
      deleted: r.op_rank === 1,
      author: r.author,
    }));
  }

  /** The root hash recomputed from the live entries alone, ignoring the maintained tree. */
  async recomputeRootHash(contextId: Buffer): Promise<Buffer> {
    const rows = await this.sql<{ key_hash: Buffer; value_hash: Buffer; op_hlc: Buffer }[]>`
      select key_hash, value_hash, op_hlc from state_entries where context_id = ${contextId} and op_rank = 0`;
    return computeRootHash(rows.map((r) => ({ keyHash: r.key_hash, valueHash: r.value_hash, hlc: r.op_hlc })));
  }

  /** The live value of a key, if any. */
  async get(contextId: Buffer, key: Buffer): Promise<Buffer | undefined> {
    const [row] = await this.sql<{ value: Buffer }[]>`
      select value from state_entries where context_id = ${contextId} and key = ${key} and op_rank = 0`;
    return row?.value;
  }

  /** Live entries whose key starts with `prefix`, in key order, strictly after `after`, at most `limit`. */
  async scan(
    contextId: Buffer,
    prefix: Buffer,
    after: Buffer | undefined,
    limit: number,
  ): Promise<{ key: Buffer; value: Buffer }[]> {
    const rows = await this.sql<{ key: Buffer; value: Buffer }[]>`
      select key, value from state_entries
      where context_id = ${contextId} and op_rank = 0
        and substring(key from 1 for ${prefix.length}) = ${prefix}
        and key > ${after ?? Buffer.alloc(0)}
      order by key limit ${limit}`;
    return rows;
  }

  /** The newest HLC among the given deltas (the causal past a new local delta must follow). */
  async maxHlcOf(contextId: Buffer, deltaIds: readonly Buffer[]): Promise<Hlc | undefined> {
    const ids = deltaIds.filter((d) => !isZeroId(d));
    if (ids.length === 0) return undefined;
    const [row] = await this.sql<{ hlc: Buffer | null }[]>`
      select hlc from deltas
      where context_id = ${contextId} and delta_id = any (${this.sql.array(ids, BYTEA_ARRAY)}::bytea[])
      order by hlc desc limit 1`;
    return row?.hlc ? decodeHlc(row.hlc) : undefined;
  }

  /**
   * Applied deltas for a peer that asked for `wanted`: those and their ancestors, stopping at `known`
   * ids, the genesis and snapshot checkpoints, without the known ids' own ancestors (the peer holds
   * them: it sends its heads and its snapshot checkpoints). The whole gap is walked first (ids only, at most
   * `walkCap`), then the oldest `max` are returned in HLC order, which respects causality (a delta's
   * HLC follows its parents'): a far-behind peer applies each answer as it comes, round after round,
   * instead of holding thousands of pending deltas for one final cascade. With `newestFirst` the
   * newest `max` of the gap are returned instead (still in HLC order): for a peer whose heads we
   * never saw, the walk does not stop at them, and the oldest of it would be history it holds.
   */
  async deltasForPeer(
    contextId: Buffer,
    wanted: readonly Buffer[],
    known: readonly Buffer[],
    max: number,
    opts: { newestFirst?: boolean; walkCap?: number } = {},
  ): Promise<{ deltas: wire.StateDelta[]; truncated: boolean }> {
    const walkCap = opts.walkCap ?? 50_000;
    const order = opts.newestFirst ? this.sql`hlc desc, delta_id desc` : this.sql`hlc, delta_id`;
    if (wanted.length === 0) return { deltas: [], truncated: false };
    // One recursive query walks the gap (a chain of thousands of deltas is one round trip, not
    // one per generation); a walk that hits the cap is truncated.
    const gap = await this.sql<{ delta_id: Buffer; hlc: Buffer; total: string }[]>`
      with recursive gap (delta_id, parents, hlc) as (
        select delta_id, parents, hlc from deltas
        where context_id = ${contextId} and applied
          and delta_id = any (${this.sql.array([...wanted], BYTEA_ARRAY)}::bytea[])
        union
        select d.delta_id, d.parents, d.hlc from gap
        cross join lateral unnest(gap.parents) as p (id)
        join deltas d on d.context_id = ${contextId} and d.delta_id = p.id and d.applied
        where p.id <> all (${this.sql.array([...known], BYTEA_ARRAY)}::bytea[])
      ),
      -- What the peer holds for sure: the known ids we have, and their ancestors. A walk that got
      -- around a known head (concurrent branches) does not hand those back.
      have (delta_id) as (
        select delta_id from deltas
        where context_id = ${contextId} and applied
          and delta_id = any (${this.sql.array([...known], BYTEA_ARRAY)}::bytea[])
        union
        select d.delta_id from have
        join deltas k on k.context_id = ${contextId} and k.delta_id = have.delta_id
        cross join lateral unnest(k.parents) as p (id)
        join deltas d on d.context_id = ${contextId} and d.delta_id = p.id and d.applied
      ),
      held as materialized (select delta_id from have limit ${walkCap}),
      capped as materialized (
        select delta_id, hlc from gap where delta_id not in (select delta_id from held) limit ${walkCap + 1})
      select delta_id, hlc, (select count(*) from capped) as total from capped order by ${order} limit ${max}`;
    const total = Number(gap[0]?.total ?? 0);
    const walkCapped = total > walkCap;
    // Sent oldest first either way: parents before children, so each applies as it arrives.
    const chosen = gap
      .sort((x, y) => Buffer.compare(x.hlc, y.hlc) || Buffer.compare(x.delta_id, y.delta_id))
      .map((g) => ({ id: g.delta_id }));
    const rows = chosen.length
      ? await this.sql<(DeltaEnvelopeRow & { delta_id: Buffer })[]>`
          select delta_id, parents, hlc, author, governance_heads, key_id, nonce, ciphertext, signature from deltas
          where context_id = ${contextId}
            and delta_id = any (${this.sql.array(
              chosen.map((c) => c.id),
              BYTEA_ARRAY,
            )}::bytea[])`
      : [];
    const byId = new Map(rows.map((r) => [hex(r.delta_id), r]));
    const deltas: wire.StateDelta[] = [];
    for (const c of chosen) {
      const r = byId.get(hex(c.id));
      if (!r) continue;
      deltas.push({
        contextId,
        deltaId: r.delta_id,
        parentIds: r.parents,
        hlc: hlcToWire(decodeHlc(r.hlc)),
        author: r.author,
        governancePosition: { dagHeads: r.governance_heads },
        keyId: r.key_id,
        nonce: r.nonce,
        ciphertext: r.ciphertext,
        signature: r.signature,
      });
    }
    return { deltas, truncated: walkCapped || total > max };
  }

  // --- queries sync needs -------------------------------------------------------------------------

  /** A tree node and its non-empty children (path '' is the root). */
  async treeNode(contextId: Buffer, path: string): Promise<{ hash: Buffer; children: TreeNode[] } | undefined> {
    const [node] = await this.sql<{ hash: Buffer }[]>`
      select hash from state_tree_nodes where context_id = ${contextId} and path = ${path}`;
    if (!node) return undefined;
    const children = await this.sql<{ path: string; hash: Buffer }[]>`
      select path, hash from state_tree_nodes where context_id = ${contextId} and level = ${path.length + 1} and parent = ${path}
      order by nibble`;
    return { hash: node.hash, children: children.map((c) => ({ path: c.path, hash: c.hash })) };
  }

  /** Every node of one level of the tree. */
  async treeLevel(contextId: Buffer, level: number): Promise<TreeNode[]> {
    const rows = await this.sql<{ path: string; hash: Buffer }[]>`
      select path, hash from state_tree_nodes where context_id = ${contextId} and level = ${level} order by path`;
    return rows.map((r) => ({ path: r.path, hash: r.hash }));
  }

  /** The entries of a leaf bucket, tombstones included (sync carries them beside the hashes). */
  async bucketEntries(contextId: Buffer, bucket: string): Promise<EntryRow[]> {
    const rows = await this.sql<
      { key: Buffer; value: Buffer | null; op_hlc: Buffer; op_rank: number; author: Buffer | null }[]
    >`
      select key, value, op_hlc, op_rank, author from state_entries where context_id = ${contextId} and bucket = ${bucket}
      order by key_hash`;
    return rows.map((r) => ({
      key: r.key,
      value: r.value,
      hlc: decodeHlc(r.op_hlc),
      deleted: r.op_rank === 1,
      author: r.author,
    }));
  }
}

export { ZERO_ID };
