import type postgres from 'postgres';
import { admin, wire } from '@cnode/proto';
import {
  ZERO_ID,
  computeDeltaId,
  actionsFromWire,
  actionsToWire,
  computeRootHash,
  decodeHlc,
  encodeHlc,
  hlcToWire,
  isZeroId,
  reduceActions,
  type Action,
  type Hlc,
  type VerifiedDelta,
  toBase58,
} from '@cnode/primitives';
import { CodedError } from '@cnode/runtime';
import { privateWriteStatements, type PrivateWrite } from '../repos/private-entry-repo.js';
import { BOOL_ARRAY, BYTEA_ARRAY, INT4_ARRAY, INT8_ARRAY, TEXT_ARRAY, type Sql } from '../postgres.js';
import { PipelinedTx } from '../pipelined-tx.js';
import { TreeWorkspace, type TreeRows } from './tree-workspace.js';
import { fastApplyRefusal, FastApplyOutcome, type HotTree, type HotTrees } from './hot-trees.js';

/** MAX_PENDING_DELTAS upstream: beyond it the oldest pending delta of the context is evicted. */
export const MAX_PENDING_DELTAS = 10_000;
/** MAX_DELTA_QUERY_LIMIT upstream: most missing-parent ids returned at once. */
export const MAX_MISSING_PARENTS = 3_000;

export enum StateErrorCode {
  ContextUnknown = 'STORE_CONTEXT_UNKNOWN',
  ContextExists = 'STORE_CONTEXT_EXISTS',
  /** A write named a handler job that is not there any more (another runner finished it). */
  HandlerJobGone = 'STORE_HANDLER_JOB_GONE',
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

/**
 * Seals a locally produced delta once its parents and the post-apply root hash are known; `index` is
 * its place in the batch.
 */
export type SealLocalDelta = (
  draft: { deltaId: Buffer; parents: Buffer[]; rootHash: Buffer },
  index: number,
) => VerifiedDelta;

/** One local write of a group commit: its author and what it does. */
export interface LocalWrite {
  author: Buffer;
  actions: Action[];
  events: wire.ExecutionEvent[];
  /** The call's writes to its private storage (node-local): committed with the delta. */
  privateWrites?: PrivateWrite[];
  /**
   * The handler job (`HandlerJobRepo`) this write is the effect of: deleted in the write's
   * transaction, and the batch fails (STORE_HANDLER_JOB_GONE) when it is not there any more.
   */
  handlerJob?: string;
}

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

/**
 * Rows of `deltas_known` by hex id: applied or not. An id can come twice (stored and covered by a
 * checkpoint); it is applied when either row says so.
 */
function appliedById(rows: readonly { delta_id: Buffer; applied: boolean }[]): Map<string, boolean> {
  const known = new Map<string, boolean>();
  for (const r of rows) known.set(hex(r.delta_id), r.applied || known.get(hex(r.delta_id)) === true);
  return known;
}

export interface AddDeltasResult {
  /** What became of each input delta, in input order. */
  outcomes: DeltaOutcome[];
  /** Deltas applied by this call, in order: inputs (causally ordered), then what they unblocked. */
  applied: Buffer[];
  /** Parents pending deltas wait on that this node has never seen (fetch them). */
  missingParents: Buffer[];
  /**
   * Deltas of the input stored as pending although every parent was applied already, applied now
   * (also in `applied`; their outcome is Applied). No correct run leaves such a delta behind — its
   * last parent's commit applies it — so callers count and log each one.
   */
  revived: Buffer[];
  evicted: number;
  rootHash: Buffer;
  heads: Buffer[];
}

/**
 * Node events a transaction just committed to the outbox, in order. `first` when no event of their
 * context was waiting in the outbox before them: publishing them at once keeps the context's order.
 */
export interface CommittedEvents {
  contextId: Buffer;
  events: { seq: string; payload: Buffer }[];
  first: boolean;
}

/** What `recordApplied` wrote: the node events, and the context row's version after the transaction. */
type Recorded = CommittedEvents & { contextVersion: string };

/** Where committed node events go at once (the outbox of the process): told after every commit. */
export interface CommittedEventsSink {
  publishCommitted(events: CommittedEvents): void;
  /**
   * Outbox rows of the context this process is publishing right now (published or on their way,
   * not yet deleted): they come before a new commit's events without making them wait.
   */
  publishingFor(contextId: Buffer): readonly string[];
}

export interface ContextState {
  rootHash: Buffer;
  heads: Buffer[];
  applicationId: Buffer | null;
  /** The application version the context runs (its group's newest RegisterContext); null: the one installed last. */
  applicationVersion: string | null;
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

interface ContextVersionRow {
  version: string;
  root_hash: Buffer;
  dag_heads: Buffer[];
}

interface ContextDbRow {
  id: Buffer;
  root_hash: Buffer;
  dag_heads: Buffer[];
  application_id: Buffer | null;
  application_version: string | null;
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
    applicationVersion: row.application_version,
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

/** Distinct non-zero ids, in first-seen order. */
/** Node events as outbox payloads, stamped now. */
function eventPayloads(contextId: Buffer, events: admin.NodeEvent['event'][]): Buffer[] {
  const emittedAtMs = BigInt(Date.now());
  return events.map((event) =>
    Buffer.from(admin.NodeEvent.encode({ contextId: toBase58(contextId), emittedAtMs, event }).finish()),
  );
}

function uniqueIds(ids: readonly Buffer[]): Buffer[] {
  const seen = new Map<string, Buffer>();
  for (const id of ids) if (!isZeroId(id) && !seen.has(hex(id))) seen.set(hex(id), id);
  return [...seen.values()];
}

/** HLC then id: the order deltas apply in once their parents allow (a delta's HLC follows its parents'). */
function compareCausal(a: DagDelta, b: DagDelta): number {
  return Buffer.compare(encodeHlc(a.hlc), encodeHlc(b.hlc)) || Buffer.compare(a.deltaId, b.deltaId);
}

/**
 * The batch in the order it applies on `heads` alone (causal: HLC, then id), with each input's
 * outcome (Applied; Duplicate for a repeat within the batch); undefined unless every delta's parents
 * are among the heads, deltas earlier in the batch, or the zero id.
 */
function planOnHeads(
  heads: readonly Buffer[],
  deltas: readonly DagDelta[],
): { order: DagDelta[]; outcomes: DeltaOutcome[] } | undefined {
  const applied = new Set(heads.map(hex));
  const outcomes = new Array<DeltaOutcome>(deltas.length).fill(DeltaOutcome.Duplicate);
  const seen = new Set<string>();
  const unique: { delta: DagDelta; index: number }[] = [];
  deltas.forEach((delta, index) => {
    const id = hex(delta.deltaId);
    if (seen.has(id)) return;
    seen.add(id);
    unique.push({ delta, index });
  });
  unique.sort((x, y) => compareCausal(x.delta, y.delta));
  for (const { delta, index } of unique) {
    // A head is applied already: the batch repeats it (the reading path labels that).
    if (applied.has(hex(delta.deltaId))) return undefined;
    if (!delta.parents.every((p) => isZeroId(p) || applied.has(hex(p)))) return undefined;
    applied.add(hex(delta.deltaId));
    outcomes[index] = DeltaOutcome.Applied;
  }
  return { order: unique.map((u) => u.delta), outcomes };
}

/** The node event of an applied delta, written in the delta's transaction (the outbox). */
function mutationEvent(d: DagDelta, rootHash: Buffer, heads: Buffer[], local: boolean): admin.NodeEvent['event'] {
  return {
    $case: 'stateMutation',
    stateMutation: {
      deltaId: toBase58(d.deltaId),
      rootHash: toBase58(rootHash),
      heads: heads.map(toBase58),
      author: toBase58(d.author),
      local,
      events: (d.events ?? []).map((e) => ({
        kind: e.kind,
        data: e.data,
        ...(e.handler === undefined ? {} : { handler: e.handler }),
      })),
    },
  };
}

/** A handler one applied delta named: its event's place and data. */
interface NamedHandler {
  deltaId: Buffer;
  author: Buffer;
  eventIndex: number;
  handler: string;
  data: Buffer;
}

function handlerJobsOf(deltas: readonly DagDelta[]): NamedHandler[] {
  return deltas.flatMap((d) =>
    (d.events ?? []).flatMap((e, eventIndex) =>
      e.handler
        ? [{ deltaId: d.deltaId, author: d.author, eventIndex, handler: e.handler, data: Buffer.from(e.data) }]
        : [],
    ),
  );
}

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
    private readonly eventSink?: CommittedEventsSink,
    /** Contexts whose whole state this process holds, applied to without reading first. */
    private readonly hotTrees?: HotTrees,
  ) {}

  async createContext(
    id: Buffer,
    opts: { applicationId?: Buffer; applicationVersion?: string; groupId?: Buffer; initialized?: boolean } = {},
  ): Promise<void> {
    const rows = await this.sql`
      insert into contexts (id, application_id, application_version, group_id, initialized)
      values (${id}, ${opts.applicationId ?? null}, ${opts.applicationVersion || null}, ${opts.groupId ?? null},
              ${opts.initialized ?? true})
      on conflict (id) do nothing returning id`;
    if (rows.length === 0) throw new CodedError(StateErrorCode.ContextExists, `context ${hex(id)} exists`);
  }

  async context(id: Buffer): Promise<ContextState | undefined> {
    const [row] = await this.sql<ContextDbRow[]>`
      select id, root_hash, dag_heads, application_id, application_version, group_id, initialized
      from contexts where id = ${id}`;
    return row && contextRowOf(row);
  }

  async listContexts(): Promise<ContextRow[]> {
    const rows = await this.sql<ContextDbRow[]>`
      select id, root_hash, dag_heads, application_id, application_version, group_id, initialized
      from contexts order by created_at, id`;
    return rows.map(contextRowOf);
  }

  /** Deletes a context and everything stored under it (state, tree, deltas, identities, buffers). */
  async deleteContext(id: Buffer): Promise<boolean> {
    const rows = await this.sql`delete from contexts where id = ${id} returning 1`;
    return rows.length > 0;
  }

  /**
   * A pipelined transaction whose body may write node events (`committed(events)`): once the
   * transaction has committed, and only then, they go to the event sink to be published.
   */
  private async committing<R>(
    body: (tx: PipelinedTx, committed: (events: Promise<CommittedEvents>) => void) => Promise<R>,
  ): Promise<R> {
    let events: Promise<CommittedEvents> | undefined;
    const result = await PipelinedTx.run(this.sql, (tx) =>
      body(tx, (e) => {
        events = e;
      }),
    );
    if (events) this.eventSink?.publishCommitted(await events);
    return result;
  }

  /**
   * Commits deltas produced on this node, one per write, as one batch (group commit): they chain in
   * order (the first one's parents are the current heads, each next one's the previous delta), each
   * gets the root hash after it, and `seal` builds each signed envelope. The batch is planned and
   * sealed before the context row is locked; if another writer changed the context meanwhile it is
   * planned again under the lock. Deltas, state, tree, heads, root and one node event per delta
   * commit together.
   */
  async commitLocalBatch(
    contextId: Buffer,
    writes: readonly LocalWrite[],
    seal: SealLocalDelta,
  ): Promise<LocalDeltaResult[]> {
    // A write that is a handler job's effect must see the job deleted before it commits: it reads.
    const held = writes.every((w) => w.handlerJob === undefined) ? this.hotTrees?.take(contextId) : undefined;
    if (held) {
      const results = await this.commitLocalOnHeldState(held, writes, seal);
      if (results) return results;
    }
    return this.commitLocalReading(contextId, writes, seal);
  }

  /**
   * `commitLocalBatch` on a state held in memory, in one round trip: the batch is planned and
   * sealed on the held heads and tree first (no lock is held while it signs), then the guard, the
   * writes and COMMIT go together. Undefined when the guard refused (the caller reads, plans and
   * seals again; the deltas sealed here were never committed, so never sent).
   */
  private commitLocalOnHeldState(
    held: HotTree,
    writes: readonly LocalWrite[],
    seal: SealLocalDelta,
  ): Promise<LocalDeltaResult[] | undefined> {
    return this.onHeldState(held, async (tx, guard, committed) => {
      let parents = held.heads;
      const sealed = writes.map((write, index) => {
        const deltaId = computeDeltaId(parents, write.actions);
        const rootHash = held.tree.apply(reduceActions(write.actions), write.author);
        const delta = { ...seal({ deltaId, parents, rootHash }, index), actions: write.actions, events: write.events };
        parents = [deltaId];
        return { delta, rootHash, heads: [deltaId] };
      });
      const guarded = guard();
      const recorded = this.recordApplied(
        tx,
        held.contextId,
        sealed.map((r) => mutationEvent(r.delta, r.rootHash, r.heads, true)),
        held.tree.rootHash,
        parents,
      );
      await tx.commit([
        guarded,
        ...this.localWrites(
          tx,
          held.contextId,
          held.tree,
          writes,
          sealed.map((r) => r.delta),
        ),
        recorded,
      ]);
      committed(recorded);
      return { result: sealed, version: (await recorded).contextVersion, heads: parents };
    });
  }

  /**
   * Runs `body` on a held state in one round trip: `guard()` sends the guard, which the body must
   * call before its first write (the row lock is taken before any write) and commit with its
   * writes. Undefined when the guard or a write's constraint refused (the held state is dropped,
   * the caller reads); other failures are thrown.
   */
  private async onHeldState<R>(
    held: HotTree,
    body: (
      tx: PipelinedTx,
      guard: () => Promise<unknown>,
      committed: (events: Promise<CommittedEvents>) => void,
    ) => Promise<{ result: R; version: string; heads: Buffer[] }>,
  ): Promise<R | undefined> {
    const trees = this.hotTrees!;
    try {
      const { result, version, heads } = await this.committing((tx, committed) =>
        body(tx, () => tx.send(tx.sql`select context_apply_guard(${held.contextId}, ${held.version})`), committed),
      );
      trees.committed(held, version, heads);
      return result;
    } catch (err) {
      const refusal = fastApplyRefusal(err);
      trees.failed(held, refusal ?? FastApplyOutcome.Failed);
      if (refusal) return undefined;
      throw err;
    }
  }

  /** The writes of a local group commit besides its events: entries and tree, private storage, delta rows. */
  private localWrites(
    tx: PipelinedTx,
    contextId: Buffer,
    tree: TreeWorkspace,
    writes: readonly LocalWrite[],
    deltas: readonly DagDelta[],
  ): Promise<unknown>[] {
    return [
      ...tree.persist(tx),
      ...privateWriteStatements(
        tx.sql,
        contextId,
        writes.flatMap((w) => w.privateWrites ?? []),
      ).map((q) => tx.send(q)),
      tx.send(
        this.insertDeltas(
          tx.sql,
          contextId,
          deltas.map((d) => ({ delta: d, applied: true })),
        ),
      ),
    ];
  }

  /** `commitLocalBatch` reading the context's row and the touched tree first. */
  private commitLocalReading(
    contextId: Buffer,
    writes: readonly LocalWrite[],
    seal: SealLocalDelta,
  ): Promise<LocalDeltaResult[]> {
    return this.committing(async (tx, committed) => {
      const sql = tx.sql;
      const read = async (lock: boolean) => {
        const [row] = await tx.send(
          lock
            ? sql<ContextVersionRow[]>`
                select xmin::text as version, root_hash, dag_heads from contexts where id = ${contextId} for update`
            : sql<ContextVersionRow[]>`
                select xmin::text as version, root_hash, dag_heads from contexts where id = ${contextId}`,
        );
        if (!row) throw new CodedError(StateErrorCode.ContextUnknown, `context ${hex(contextId)} is not hosted here`);
        return row;
      };
      const actions = writes.flatMap((w) => reduceActions(w.actions));
      const plan = (ctx: ContextVersionRow, rows: TreeRows) => {
        const tree = TreeWorkspace.from(contextId, ctx.root_hash, rows);
        let parents = ctx.dag_heads;
        const sealed: { delta: DagDelta; result: LocalDeltaResult }[] = [];
        writes.forEach((write, index) => {
          const deltaId = computeDeltaId(parents, write.actions);
          const rootHash = tree.apply(reduceActions(write.actions), write.author);
          const delta = {
            ...seal({ deltaId, parents, rootHash }, index),
            actions: write.actions,
            events: write.events,
          };
          sealed.push({ delta, result: { delta, rootHash, heads: [deltaId] } });
          parents = [deltaId];
        });
        return { tree, sealed };
      };
      // Read and plan (sealing signs) before the lock; the lock read goes with the tree's writes.
      const beforeRead = read(false);
      const beforeTree = TreeWorkspace.fetch(tx, contextId, actions);
      const before = await beforeRead;
      let planned = plan(before, await beforeTree);
      const jobs = writes.flatMap((w) => (w.handlerJob === undefined ? [] : [w.handlerJob]));
      // Taken with the row lock: a runner that lost a job to another one finds it gone and commits nothing.
      const jobsTaken = jobs.length
        ? tx.send(sql<{ seq: string }[]>`
            delete from app_handler_jobs where seq = any (${sql.array(jobs, INT8_ARRAY)}::bigint[]) returning seq::text as seq`)
        : Promise.resolve([]);
      const locked = await read(true);
      if ((await jobsTaken).length !== jobs.length) {
        throw new CodedError(StateErrorCode.HandlerJobGone, 'a handler job of this write was run elsewhere');
      }
      // Every writer of a context's state updates its row: an unchanged row version means nothing
      // the plan read has changed, and the deltas sealed before the lock stand.
      if (locked.version !== before.version) planned = plan(locked, await TreeWorkspace.fetch(tx, contextId, actions));
      const deltas = planned.sealed.map((s) => s.delta);
      const recorded = this.recordApplied(
        tx,
        contextId,
        planned.sealed.map((s) => mutationEvent(s.delta, s.result.rootHash, s.result.heads, true)),
        planned.tree.rootHash,
        [deltas.at(-1)!.deltaId],
      );
      await tx.commit([...this.localWrites(tx, contextId, planned.tree, writes, deltas), recorded]);
      committed(recorded);
      this.hotTrees?.follow(contextId, locked.version, deltas, {
        version: (await recorded).contextVersion,
        rootHash: planned.tree.rootHash,
        heads: [deltas.at(-1)!.deltaId],
      });
      return planned.sealed.map((s) => s.result);
    });
  }

  /** One local delta: `commitLocalBatch` of one write. */
  async commitLocal(
    contextId: Buffer,
    author: Buffer,
    actions: Action[],
    events: wire.ExecutionEvent[],
    seal: SealLocalDelta,
  ): Promise<LocalDeltaResult> {
    const [result] = await this.commitLocalBatch(contextId, [{ author, actions, events }], seal);
    return result!;
  }

  /**
   * Adds deltas of one context to its DAG in one transaction. Each is a duplicate (stored already,
   * or earlier in the batch), applied, or pending until its parents arrive. Deltas apply in causal
   * order — parents first (in the batch or stored), then by HLC and id — whatever order they came
   * in, so a batch that arrived shuffled leaves nothing pending that it completes itself. Pending
   * deltas they unblock are applied too (the cascade). The state, tree, heads and root are written
   * once; every applied delta gets its node event, with the heads after it and the root after the
   * batch.
   */
  async addDeltas(contextId: Buffer, deltas: readonly DagDelta[]): Promise<AddDeltasResult> {
    for (const d of deltas) {
      if (!d.contextId.equals(contextId)) throw new Error('addDeltas: a delta of another context');
    }
    const held = deltas.length > 0 ? this.hotTrees?.take(contextId) : undefined;
    if (held) {
      const result = await this.addOnHeldState(held, deltas);
      if (result) return result;
    }
    return this.addDeltasReading(contextId, deltas);
  }

  /**
   * `addDeltas` on a state held in memory, in one round trip (guard, writes, COMMIT), when every
   * delta of the batch applies on the held heads: in causal order, each one's parents are heads or
   * deltas earlier in the batch. Undefined when the batch does not fit, or the guard refused (the
   * held state changed, deltas wait, or one was stored already): the caller reads instead.
   */
  private addOnHeldState(held: HotTree, deltas: readonly DagDelta[]): Promise<AddDeltasResult | undefined> {
    const plan = planOnHeads(held.heads, deltas);
    if (!plan) {
      this.hotTrees!.release(held);
      return Promise.resolve(undefined);
    }
    const contextId = held.contextId;
    return this.onHeldState(held, async (tx, guard, committed) => {
      const heads = new Map(held.heads.map((h) => [hex(h), h]));
      const guarded = guard();
      const inserted = tx.send(
        this.insertDeltas(
          tx.sql,
          contextId,
          plan.order.map((delta) => ({ delta, applied: true })),
        ),
      );
      const { writes, recorded } = this.sendApplied(tx, contextId, held.tree, heads, plan.order);
      await tx.commit([guarded, inserted, ...writes, recorded]);
      committed(recorded);
      const result: AddDeltasResult = {
        outcomes: plan.outcomes,
        applied: plan.order.map((d) => d.deltaId),
        missingParents: [],
        revived: [],
        evicted: 0,
        rootHash: held.tree.rootHash,
        heads: [...heads.values()],
      };
      return { result, version: (await recorded).contextVersion, heads: result.heads };
    });
  }

  /**
   * Applies received deltas in order to `tree` and `heads` (both updated in place) and sends what
   * they write besides their delta rows: entries and tree nodes, handler jobs, and one node event
   * each (the heads after it, the root after them all) with the new root and heads.
   */
  private sendApplied(
    tx: PipelinedTx,
    contextId: Buffer,
    tree: TreeWorkspace,
    heads: Map<string, Buffer>,
    deltas: readonly DagDelta[],
  ): { writes: Promise<unknown>[]; recorded: Promise<Recorded> } {
    const headsAfter: Buffer[][] = [];
    for (const d of deltas) {
      tree.apply(reduceActions(d.actions), d.author);
      for (const p of d.parents) heads.delete(hex(p));
      heads.set(hex(d.deltaId), d.deltaId);
      headsAfter.push([...heads.values()]);
    }
    const writes = tree.persist(tx);
    const jobs = handlerJobsOf(deltas);
    if (jobs.length > 0) writes.push(tx.send(this.insertHandlerJobs(tx.sql, contextId, jobs)));
    const recorded = this.recordApplied(
      tx,
      contextId,
      deltas.map((d, i) => mutationEvent(d, tree.rootHash, headsAfter[i]!, false)),
      tree.rootHash,
      [...heads.values()],
    );
    return { writes, recorded };
  }

  /** `addDeltas` reading what it needs under the row lock: known ids, waits, the touched tree. */
  private addDeltasReading(contextId: Buffer, deltas: readonly DagDelta[]): Promise<AddDeltasResult> {
    return this.committing(async (tx, committed) => {
      const sql = tx.sql;
      // One round trip: the lock, which ids are known, and the tree under every delta's actions.
      const lookup = uniqueIds([...deltas.map((d) => d.deltaId), ...deltas.flatMap((d) => d.parents)]);
      const ctxRead = tx.send(sql<{ version: string; root_hash: Buffer; dag_heads: Buffer[] }[]>`
        select xmin::text as version, root_hash, dag_heads from contexts where id = ${contextId} for update`);
      // Its own statement: one that waited for the row lock reads the row's latest version, but
      // everything else as of its start — before the commit it waited for.
      const waitsRead = tx.send(sql<{ waiting: boolean }[]>`
        select exists (select 1 from delta_waits where context_id = ${contextId}) as waiting`);
      const knownRead = lookup.length
        ? tx.send(sql<{ delta_id: Buffer; applied: boolean }[]>`
            select delta_id, applied from deltas_known(${contextId}, ${sql.array(lookup, BYTEA_ARRAY)}::bytea[])`)
        : Promise.resolve([]);
      const treeRead = TreeWorkspace.fetch(
        tx,
        contextId,
        deltas.flatMap((d) => reduceActions(d.actions)),
      );
      const [ctx] = await ctxRead;
      if (!ctx) throw new CodedError(StateErrorCode.ContextUnknown, `context ${hex(contextId)} is not hosted here`);
      const heads = new Map(ctx.dag_heads.map((h) => [hex(h), h]));
      /** Known ids: true once applied (here, or earlier in this batch), false while pending. */
      const known = appliedById(await knownRead);

      const outcomes: DeltaOutcome[] = new Array<DeltaOutcome>(deltas.length).fill(DeltaOutcome.Duplicate);
      let waiting: { delta: DagDelta; index: number }[] = [];
      const inBatch = new Set<string>();
      const applied = (id: Buffer): boolean => isZeroId(id) || known.get(hex(id)) === true;
      // A delta stored as pending whose parents were all applied before this batch: its wait was
      // missed (no correct run leaves one), so nothing would ever apply it. It applies now, first.
      const revived: DagDelta[] = [];
      deltas.forEach((delta, index) => {
        const id = hex(delta.deltaId);
        if (inBatch.has(id)) return;
        if (known.get(id) === false && delta.parents.every(applied)) {
          inBatch.add(id);
          revived.push(delta);
          outcomes[index] = DeltaOutcome.Applied;
          return;
        }
        if (known.has(id)) return;
        inBatch.add(id);
        waiting.push({ delta, index });
      });
      revived.sort(compareCausal);
      for (const d of revived) known.set(hex(d.deltaId), true);
      waiting.sort((x, y) => compareCausal(x.delta, y.delta));
      const fresh: DagDelta[] = [];
      for (let progressed = true; progressed && waiting.length > 0;) {
        progressed = false;
        const still: typeof waiting = [];
        for (const w of waiting) {
          if (w.delta.parents.every(applied)) {
            fresh.push(w.delta);
            known.set(hex(w.delta.deltaId), true);
            outcomes[w.index] = DeltaOutcome.Applied;
            progressed = true;
          } else {
            still.push(w);
          }
        }
        waiting = still;
      }
      const pending = waiting.map((w) => w.delta);
      for (const w of waiting) outcomes[w.index] = DeltaOutcome.Pending;
      const writes: Promise<unknown>[] = [];
      if (fresh.length + pending.length > 0) {
        writes.push(
          tx.send(
            this.insertDeltas(sql, contextId, [
              ...fresh.map((delta) => ({ delta, applied: true })),
              ...pending.map((delta) => ({ delta, applied: false })),
            ]),
          ),
        );
      }
      let evicted = 0;
      const missing = new Map<string, Buffer>();
      if (pending.length > 0) {
        const waits = pending.flatMap((d) => d.parents.filter((p) => !applied(p)).map((p) => ({ p, d: d.deltaId })));
        writes.push(
          tx.send(sql`
            insert into delta_waits (context_id, parent_id, delta_id)
            select ${contextId}, p, d from unnest(
              ${sql.array(
                waits.map((w) => w.p),
                BYTEA_ARRAY,
              )}::bytea[],
              ${sql.array(
                waits.map((w) => w.d),
                BYTEA_ARRAY,
              )}::bytea[]) as t(p, d)
            on conflict do nothing`),
        );
        for (const w of waits) if (!known.has(hex(w.p)) && !inBatch.has(hex(w.p))) missing.set(hex(w.p), w.p);
        evicted = await this.evictPending(sql, contextId);
      }

      // The cascade, generation by generation: stored deltas whose last missing parent just applied.
      // Only deltas stored before this batch can be waiting for one of it (a batch's own pending
      // deltas wait for parents it does not have), so without earlier waits there is none.
      const cascaded: DagDelta[] = [];
      const [{ waiting: earlierWaits } = { waiting: true }] = await waitsRead;
      if (revived.length > 0) {
        writes.push(
          tx.send(sql`
            delete from delta_waits where context_id = ${contextId}
              and delta_id = any (${sql.array(
                revived.map((d) => d.deltaId),
                BYTEA_ARRAY,
              )}::bytea[])`),
        );
      }
      const unblocking = [...revived, ...fresh].map((d) => d.deltaId);
      for (let frontier = earlierWaits ? unblocking : []; frontier.length > 0;) {
        const unblocked = await tx.send(sql<{ delta_id: Buffer }[]>`
          delete from delta_waits w
          where w.context_id = ${contextId} and w.parent_id = any (${sql.array(frontier, BYTEA_ARRAY)}::bytea[])
          returning w.delta_id`);
        const candidates = uniqueIds(unblocked.map((u) => u.delta_id));
        if (candidates.length === 0) break;
        const ready = (await this.loadDeltas(sql, contextId, candidates, true)).sort(compareCausal);
        cascaded.push(...ready);
        frontier = ready.map((d) => d.deltaId);
      }
      const marked = [...revived, ...cascaded];
      if (marked.length > 0) {
        writes.push(
          tx.send(sql`
            select deltas_mark_applied(${contextId}, ${sql.array(
              marked.map((d) => d.deltaId),
              BYTEA_ARRAY,
            )}::bytea[])`),
        );
      }

      const appliedDeltas = [...revived, ...fresh, ...cascaded];
      let rootHash = ctx.root_hash;
      let recorded: Promise<Recorded> | undefined;
      if (appliedDeltas.length > 0) {
        const treeRows = await treeRead;
        const tree = TreeWorkspace.from(contextId, ctx.root_hash, treeRows);
        if (cascaded.length > 0)
          await tree.extend(
            tx,
            cascaded.flatMap((d) => reduceActions(d.actions)),
          );
        const sent = this.sendApplied(tx, contextId, tree, heads, appliedDeltas);
        writes.push(...sent.writes);
        recorded = sent.recorded;
        rootHash = tree.rootHash;
      }
      await tx.commit(recorded ? [...writes, recorded] : writes);
      if (recorded) committed(recorded);
      this.hotTrees?.follow(
        contextId,
        ctx.version,
        appliedDeltas,
        recorded && { version: (await recorded).contextVersion, rootHash, heads: [...heads.values()] },
      );
      return {
        outcomes,
        applied: appliedDeltas.map((d) => d.deltaId),
        missingParents: [...missing.values()],
        revived: revived.map((d) => d.deltaId),
        evicted,
        rootHash,
        heads: [...heads.values()],
      };
    });
  }

  /**
   * Adds one delta to its context's DAG (`addDeltas` of one). Applicable (every parent applied, or
   * the zero id) → applied with everything it unblocks; otherwise kept pending until its parents arrive.
   */
  async addDelta(delta: DagDelta): Promise<AddDeltaResult> {
    const r = await this.addDeltas(delta.contextId, [delta]);
    return {
      outcome: r.outcomes[0]!,
      applied: r.applied,
      missingParents: r.missingParents,
      evicted: r.evicted,
      rootHash: r.rootHash,
      heads: r.heads,
    };
  }

  /** Queues a node event (published to NODE_EVENTS by the outbox publisher). */
  queueNodeEvent(contextId: Buffer, event: admin.NodeEvent['event']): Promise<void> {
    return this.insertEvents(this.sql, contextId, [event]);
  }

  /** Node events, in order, in one statement (the outbox sequence follows the list). */
  private async insertEvents(tx: Sql, contextId: Buffer, events: admin.NodeEvent['event'][]): Promise<void> {
    if (events.length === 0) return;
    await tx`
      insert into node_event_outbox (context_id, payload)
      select ${contextId}, p from unnest(${tx.array(eventPayloads(contextId, events), BYTEA_ARRAY)}::bytea[])
        with ordinality as t(p, n) order by n`;
  }

  /**
   * Sends the node events of applied deltas and the context's new root and heads, in one statement.
   * Whether an event of the context waits in the outbox (other than those this process is
   * publishing) is read in the same statement, whose snapshot does not see the rows it inserts; the
   * context row is locked, so no event of its deltas can be added before them.
   */
  private recordApplied(
    tx: PipelinedTx,
    contextId: Buffer,
    events: admin.NodeEvent['event'][],
    rootHash: Buffer,
    heads: Buffer[],
  ): Promise<Recorded> {
    const sql = tx.sql;
    const payloads = eventPayloads(contextId, events);
    const publishing = this.eventSink?.publishingFor(contextId) ?? [];
    const recorded = tx
      .send(
        sql<{ seq: string; version: string; first: boolean }[]>`
        with events as (
          insert into node_event_outbox (context_id, payload)
          select ${contextId}, p from unnest(${sql.array(payloads, BYTEA_ARRAY)}::bytea[])
            with ordinality as t(p, n) order by n
          returning seq),
        context as (
          update contexts set root_hash = ${rootHash}, dag_heads = ${sql.array(heads, BYTEA_ARRAY)}::bytea[], updated_at = now()
          where id = ${contextId} returning xmin::text as version)
        select seq::text as seq, (select version from context) as version,
               not exists (select 1 from node_event_outbox o where o.context_id = ${contextId}
                             and o.seq <> all (${sql.array(publishing as string[], INT8_ARRAY)}::bigint[])) as first
        from events order by events.seq`,
      )
      .then((rows) => ({
        contextId,
        events: rows.map((r, i) => ({ seq: r.seq, payload: payloads[i]! })),
        first: rows[0]?.first ?? true,
        contextVersion: rows[0]?.version ?? '',
      }));
    // Awaited by the commit; should the transaction fail before it, no unhandled rejection.
    recorded.catch(() => undefined);
    return recorded;
  }

  /**
   * The handlers applied deltas named, to run here (`HandlerJobRepo`): none for a delta one of our
   * identities in the context wrote (handlers run on receivers, never on the author).
   */
  private insertHandlerJobs(
    tx: Sql,
    contextId: Buffer,
    jobs: readonly NamedHandler[],
  ): postgres.PendingQuery<postgres.Row[]> {
    return tx`
      insert into app_handler_jobs (context_id, delta_id, event_index, handler, data)
      select ${contextId}, id, ix, handler, data
      from unnest(
        ${tx.array(
          jobs.map((j) => j.deltaId),
          BYTEA_ARRAY,
        )}::bytea[],
        ${tx.array(
          jobs.map((j) => j.author),
          BYTEA_ARRAY,
        )}::bytea[],
        ${tx.array(
          jobs.map((j) => j.eventIndex),
          INT4_ARRAY,
        )}::int4[],
        ${tx.array(
          jobs.map((j) => j.handler),
          TEXT_ARRAY,
        )}::text[],
        ${tx.array(
          jobs.map((j) => j.data),
          BYTEA_ARRAY,
        )}::bytea[]
      ) as t(id, author, ix, handler, data)
      where not exists (select 1 from context_identities i where i.context_id = ${contextId} and i.public_key = t.author
                          and i.sealed_private_key is not null)
      on conflict do nothing`;
  }

  /**
   * New delta rows, in one statement. A lone row (most applies at low load) is a plain VALUES row:
   * unpacking id lists per row from arrays costs the server more than the insert itself.
   */
  private insertDeltas(
    tx: Sql,
    contextId: Buffer,
    rows: readonly { delta: DagDelta; applied: boolean }[],
  ): postgres.PendingQuery<postgres.Row[]> {
    if (rows.length === 1) {
      const { delta: d, applied } = rows[0]!;
      return tx`
        insert into deltas (context_id, delta_id, parents, hlc, author, governance_heads, key_id, nonce, ciphertext,
                            signature, actions, applied, applied_at)
        values (${contextId}, ${d.deltaId}, ${tx.array(d.parents, BYTEA_ARRAY)}::bytea[], ${encodeHlc(d.hlc)},
                ${d.author}, ${tx.array(d.governanceHeads, BYTEA_ARRAY)}::bytea[], ${d.keyId}, ${d.nonce},
                ${d.ciphertext}, ${d.signature}, ${encodeContent(d)}, ${applied},
                case when ${applied}::boolean then now() end)`;
    }
    const col = (f: (d: DagDelta) => Buffer) =>
      tx.array(
        rows.map((r) => f(r.delta)),
        BYTEA_ARRAY,
      );
    return tx`
      insert into deltas (context_id, delta_id, parents, hlc, author, governance_heads, key_id, nonce, ciphertext,
                          signature, actions, applied, applied_at)
      select ${contextId}, id, split_ids(parents), hlc, author, split_ids(heads), key_id, nonce, ct, sig, actions,
             applied, case when applied then now() end
      from unnest(
        ${col((d) => d.deltaId)}::bytea[], ${col((d) => Buffer.concat(d.parents))}::bytea[],
        ${col((d) => encodeHlc(d.hlc))}::bytea[], ${col((d) => d.author)}::bytea[],
        ${col((d) => Buffer.concat(d.governanceHeads))}::bytea[], ${col((d) => d.keyId)}::bytea[],
        ${col((d) => d.nonce)}::bytea[], ${col((d) => d.ciphertext)}::bytea[], ${col((d) => d.signature)}::bytea[],
        ${col(encodeContent)}::bytea[], ${tx.array(
          rows.map((r) => r.applied),
          BOOL_ARRAY,
        )}::bool[]
      ) as t(id, parents, hlc, author, heads, key_id, nonce, ct, sig, actions, applied)`;
  }

  /**
   * Stored deltas by id. With `readyOnly`, only pending ones that wait on nothing any more (the
   * cascade's next generation).
   */
  private async loadDeltas(tx: Sql, contextId: Buffer, ids: readonly Buffer[], readyOnly = false): Promise<DagDelta[]> {
    const rows = await tx<(DeltaEnvelopeRow & { delta_id: Buffer; actions: Buffer })[]>`
      select d.delta_id, d.parents, d.hlc, d.author, d.governance_heads, d.key_id, d.nonce, d.ciphertext, d.signature, d.actions
      from deltas_by_id(${contextId}, ${tx.array(uniqueIds(ids), BYTEA_ARRAY)}::bytea[]) d
      where true
        ${
          readyOnly
            ? tx`and not d.applied and not exists (
                select 1 from delta_waits w where w.context_id = d.context_id and w.delta_id = d.delta_id)`
            : tx``
        }`;
    return rows.map((r) => ({
      contextId,
      deltaId: r.delta_id,
      parents: r.parents,
      hlc: decodeHlc(r.hlc),
      author: r.author,
      governanceHeads: r.governance_heads,
      keyId: r.key_id,
      nonce: r.nonce,
      ciphertext: r.ciphertext,
      signature: r.signature,
      ...decodeContent(r.actions),
    }));
  }

  /** Keeps at most maxPending pending deltas in the context, evicting the oldest. */
  private async evictPending(tx: Sql, contextId: Buffer): Promise<number> {
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
  async delta(contextId: Buffer, deltaId: Buffer): Promise<DagDelta | undefined> {
    const [d] = await this.loadDeltas(this.sql, contextId, [deltaId]);
    return d;
  }

  /** Whether the delta is stored, applied or pending. */
  async hasDelta(contextId: Buffer, deltaId: Buffer): Promise<boolean> {
    const [r] = await this.sql`
      select 1 from deltas where context_id = ${contextId} and delta_id = ${deltaId}
      union all
      select 1 from dag_checkpoints where context_id = ${contextId} and delta_id = ${deltaId}`;
    return Boolean(r);
  }

  /** Which of the ids are stored (applied or pending) or covered by a checkpoint, as hex. */
  async knownDeltas(contextId: Buffer, deltaIds: readonly Buffer[]): Promise<Set<string>> {
    return new Set((await this.knownDeltaStates(contextId, deltaIds)).keys());
  }

  /** The given deltas known here (hex id), each with whether it is applied (false: pending). */
  async knownDeltaStates(contextId: Buffer, deltaIds: readonly Buffer[]): Promise<Map<string, boolean>> {
    if (deltaIds.length === 0) return new Map();
    return appliedById(
      await this.sql<{ delta_id: Buffer; applied: boolean }[]>`
        select delta_id, applied from deltas_known(${contextId}, ${this.sql.array(uniqueIds(deltaIds), BYTEA_ARRAY)}::bytea[])`,
    );
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

  /**
   * Ids this node holds the effects of without their rows, at most `max`: the DAG heads snapshots
   * brought first, then pruned or snapshot-covered history, newest first.
   */
  async checkpoints(contextId: Buffer, max: number): Promise<Buffer[]> {
    const rows = await this.sql<{ delta_id: Buffer }[]>`
      select delta_id from dag_checkpoints where context_id = ${contextId}
      order by pruned, created_at desc, delta_id limit ${max}`;
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

  /** The newest HLC among the context's current heads (undefined at genesis): what a local write must follow. */
  async headsHlc(contextId: Buffer): Promise<Hlc | undefined> {
    const [row] = await this.sql<{ hlc: Buffer | null }[]>`select context_heads_hlc(${contextId}) as hlc`;
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
      -- The gap's oldest HLC: an ancestor of a known id below it cannot be in the gap (a delta's HLC
      -- follows its parents'), so the walk below stops there and costs O(gap), not O(history).
      floor as materialized (select hlc from gap order by hlc limit 1),
      -- What the peer holds for sure: the known ids we have, and their ancestors. A walk that got
      -- around a known head (concurrent branches) does not hand those back.
      have (delta_id) as (
        select delta_id from deltas
        where context_id = ${contextId} and applied
          and delta_id = any (${this.sql.array([...known], BYTEA_ARRAY)}::bytea[])
          and hlc >= (select hlc from floor)
        union
        select d.delta_id from have
        join deltas k on k.context_id = ${contextId} and k.delta_id = have.delta_id
        cross join lateral unnest(k.parents) as p (id)
        join deltas d on d.context_id = ${contextId} and d.delta_id = p.id and d.applied
          and d.hlc >= (select hlc from floor)
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
          select delta_id, parents, hlc, author, governance_heads, key_id, nonce, ciphertext, signature
          from deltas_by_id(${contextId}, ${this.sql.array(uniqueIds(chosen.map((c) => c.id)), BYTEA_ARRAY)}::bytea[])`
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
