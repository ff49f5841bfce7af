import type postgres from 'postgres';
import { wire } from '@cnode/proto';
import { groupIdOf, verifyGroupOp, type VerifiedGroupOp } from '@cnode/primitives';
import { processWideCache } from '@cnode/runtime';
import { BYTEA_ARRAY, type Sql } from '../postgres.js';
import { seal, unseal } from '../sealed-box.js';
import { CutProjection, GroupOpKind, opSlot, type MemberStanding } from './projection.js';

const GROUP_KEY_AAD = 'cnode/group-key/v1';
/** Unapplied ops kept per group while their parents are missing; beyond it the oldest go. */
export const MAX_PENDING_GROUP_OPS = 1_000;
/** Most ops served in one GroupOpsResponse. */
export const MAX_GROUP_OPS_SERVED = 1_000;

/** What a context's newest registration names. */
export interface RegisteredApplication {
  applicationId: Buffer;
  /** Null: the version each node installed last. */
  version: string | null;
}

/**
 * Cut projections kept in memory. A cut names content-addressed ops, so its projection is the same
 * on every node and never changes: one pure cache for the whole process.
 */
export const PROJECTION_CACHE_ENTRIES = 256;
const projections = processWideCache<string, CutProjection>('group_projections', PROJECTION_CACHE_ENTRIES);

export enum GroupOpOutcome {
  Applied = 'applied',
  /** Stored; waits for parents this node has not applied. */
  Pending = 'pending',
  Duplicate = 'duplicate',
  /** Structurally valid and signed, but its signer may not issue it at its cut (or a second genesis). */
  Unauthorized = 'unauthorized',
  /** Another op of the same signer already used this nonce: a replay with altered content. */
  ReplayedNonce = 'replayed_nonce',
}

export interface AddGroupOpResult {
  outcome: GroupOpOutcome;
  /** Ops applied by this call in causal order: the op itself, then the pending ops it unblocked. */
  applied: VerifiedGroupOp[];
  /** Ops dropped as unauthorized by this call (the op itself or unblocked ones). */
  unauthorized: number;
}

export interface GroupMember {
  member: Buffer;
  role: wire.GroupRole;
}

/** An applied op as the ops log shows it. */
export interface GroupOpRecord {
  opId: Buffer;
  signed: wire.SignedGroupOpV1;
  generation: number;
}

type Tx = postgres.TransactionSql;
type Query = Sql | Tx;

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * Group governance in Postgres: the op DAG, the live membership it projects to, and the group keys
 * this node holds. Ops apply in causal order under a per-group transaction lock; an op whose parents
 * are missing waits, and applies (with everything it unblocks) once they arrive.
 *
 * Two views of membership:
 * - **at a cut** (`projection`): the fold of exactly the ops in the ancestry of some governance heads,
 *   each slot (a member's role, a context's registration, the current key) won by the op with the
 *   highest (generation, op id). It is the same on every node that knows the cut, so it decides: an
 *   op is authorised by its signer's role at the op's own parents, a delta by its author's
 *   membership at the heads it cites.
 * - **live** (`isMember`, `role`, `members`): the ops' effects in the order this node applied them.
 *   Concurrent ops can leave it different from the projection at our heads; callers use it as a
 *   cross-check and log the disagreement.
 */
export class GroupStore {
  constructor(
    private readonly sql: Sql,
    private readonly masterKey: Uint8Array,
  ) {}

  /** Verifies (signature, structure) and adds an op; throws PrimitiveError on a bad op. */
  addSigned(signed: wire.SignedGroupOpV1): Promise<AddGroupOpResult> {
    return this.add(verifyGroupOp(signed));
  }

  add(op: VerifiedGroupOp): Promise<AddGroupOpResult> {
    return this.sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(hashtextextended(${'group:' + hex(op.groupId)}, 0))`;
      const [sameNonce] = await tx<{ op_id: Buffer }[]>`
        select op_id from group_ops
        where group_id = ${op.groupId} and signer = ${op.signer} and nonce = ${op.nonce.toString()}::numeric`;
      if (sameNonce && !sameNonce.op_id.equals(op.opId)) {
        return { outcome: GroupOpOutcome.ReplayedNonce, applied: [], unauthorized: 0 };
      }
      const slot = opSlot(op.op);
      const inserted = await tx`
        insert into group_ops (group_id, op_id, parents, signer, op, slot, kind, subject, role, nonce)
        values (${op.groupId}, ${op.opId}, ${tx.array(op.parents, BYTEA_ARRAY)}::bytea[], ${op.signer},
                ${Buffer.from(wire.SignedGroupOpV1.encode(op.signed).finish())}, ${slot.slot}, ${slot.kind},
                ${slot.subject}, ${slot.role ?? null}, ${op.nonce.toString()}::numeric)
        on conflict do nothing returning 1`;
      if (inserted.length === 0) return { outcome: GroupOpOutcome.Duplicate, applied: [], unauthorized: 0 };

      const applied: VerifiedGroupOp[] = [];
      let unauthorized = 0;
      let selfUnauthorized = false;
      // Apply every waiting op whose parents are all applied, until nothing moves.
      for (;;) {
        const ready = await tx<{ op: Buffer }[]>`
          select o.op from group_ops o
          where o.group_id = ${op.groupId} and not o.applied and not exists (
            select 1 from unnest(o.parents) p
            where not exists (select 1 from group_ops a where a.group_id = o.group_id and a.op_id = p and a.applied))
          order by o.received_at, o.op_id`;
        if (ready.length === 0) break;
        for (const row of ready) {
          const next = verifyGroupOp(wire.SignedGroupOpV1.decode(row.op));
          if (await this.authorized(tx, next)) {
            await this.applyEffect(tx, next);
            await tx`
              update group_ops set applied = true, applied_seq = nextval('group_op_applied_seq'),
                generation = 1 + coalesce((
                  select max(p.generation) from group_ops p
                  where p.group_id = ${next.groupId} and p.op_id = any (${tx.array(next.parents, BYTEA_ARRAY)}::bytea[])), 0)
              where group_id = ${next.groupId} and op_id = ${next.opId}`;
            if (next.op.kind?.$case === 'registerContext') await this.followRegistration(tx, next);
            applied.push(next);
          } else {
            await tx`delete from group_ops where group_id = ${next.groupId} and op_id = ${next.opId}`;
            unauthorized++;
            if (next.opId.equals(op.opId)) selfUnauthorized = true;
          }
        }
      }
      await this.evictPending(tx, op.groupId);
      const outcome = selfUnauthorized
        ? GroupOpOutcome.Unauthorized
        : applied.some((a) => a.opId.equals(op.opId))
          ? GroupOpOutcome.Applied
          : GroupOpOutcome.Pending;
      return { outcome, applied, unauthorized };
    });
  }

  /**
   * Whether the op's signer may issue it, judged at the op's own cut (its parents): the same verdict
   * on every node, whatever else it applied meanwhile. A genesis adds its own signer as admin and must
   * match the group id; every other op needs an admin signer, and may not leave the group without one.
   */
  private async authorized(tx: Tx, op: VerifiedGroupOp): Promise<boolean> {
    if (op.parents.length === 0) {
      const kind = op.op.kind;
      const [existing] = await tx`select 1 from group_ops where group_id = ${op.groupId} and applied limit 1`;
      return (
        !existing &&
        groupIdOf(op.signer, op.nonce).equals(op.groupId) &&
        kind?.$case === 'addMember' &&
        Buffer.from(kind.addMember.member).equals(op.signer) &&
        kind.addMember.role === wire.GroupRole.GROUP_ROLE_ADMIN
      );
    }
    const cut = await this.projectionIn(tx, op.groupId, op.parents);
    return cut !== undefined && cut.permits(op);
  }

  private async applyEffect(tx: Tx, op: VerifiedGroupOp): Promise<void> {
    const kind = op.op.kind;
    switch (kind?.$case) {
      case 'addMember':
        await tx`
          insert into group_members (group_id, member, role, added_by_op)
          values (${op.groupId}, ${Buffer.from(kind.addMember.member)}, ${kind.addMember.role}, ${op.opId})
          on conflict (group_id, member) do update set role = excluded.role, added_by_op = excluded.added_by_op`;
        return;
      case 'removeMember':
        await tx`delete from group_members where group_id = ${op.groupId} and member = ${Buffer.from(kind.removeMember.member)}`;
        return;
      case 'setRole':
        await tx`
          update group_members set role = ${kind.setRole.role}
          where group_id = ${op.groupId} and member = ${Buffer.from(kind.setRole.member)}`;
        return;
      default:
        // Capabilities, contexts and keys have no live table: they are read from the projection.
        return;
    }
  }

  /**
   * A hosted context of the group runs what its newest registration names: an op that moves it to
   * another application or version takes effect here in the op's own transaction.
   */
  private async followRegistration(tx: Tx, op: VerifiedGroupOp): Promise<void> {
    const kind = op.op.kind;
    if (kind?.$case !== 'registerContext') return;
    const contextId = Buffer.from(kind.registerContext.contextId);
    const current = await this.registrationIn(tx, op.groupId, contextId);
    if (!current) return;
    await tx`
      update contexts set application_id = ${current.applicationId}, application_version = ${current.version}
      where id = ${contextId} and group_id = ${op.groupId}
        and (application_id is distinct from ${current.applicationId}
             or application_version is distinct from ${current.version})`;
  }

  private async evictPending(tx: Tx, groupId: Buffer): Promise<void> {
    await tx`
      delete from group_ops where group_id = ${groupId} and op_id in (
        select op_id from group_ops where group_id = ${groupId} and not applied
        order by received_at desc, op_id offset ${MAX_PENDING_GROUP_OPS})`;
  }

  // --- membership at a cut ----------------------------------------------------------------------------

  /**
   * The group as the ops in the ancestry of `heads` make it, or undefined when some head is not
   * applied here (the cut is not known yet: buffer and retry). Empty heads are the cut before any op.
   */
  projection(groupId: Buffer, heads: readonly Buffer[]): Promise<CutProjection | undefined> {
    return this.projectionIn(this.sql, groupId, heads);
  }

  /** The projection at our own governance heads (always known), or undefined for a group we have no ops of. */
  async currentProjection(groupId: Buffer): Promise<CutProjection | undefined> {
    const heads = await this.heads(groupId);
    return heads.length === 0 ? undefined : this.projection(groupId, heads);
  }

  /**
   * The author's standing at a cut: its role (a member), null (known cut, not a member), or
   * undefined (the cut is not known here).
   */
  async memberAtCut(groupId: Buffer, member: Buffer, heads: readonly Buffer[]): Promise<MemberStanding> {
    const cut = await this.projection(groupId, heads);
    return cut === undefined ? undefined : (cut.roleOf(member) ?? null);
  }

  private async projectionIn(q: Query, groupId: Buffer, heads: readonly Buffer[]): Promise<CutProjection | undefined> {
    const unique = [...new Map(heads.map((h) => [hex(h), Buffer.from(h)])).values()];
    const cacheKey = `${hex(groupId)}:${unique.map(hex).sort().join(',')}`;
    const cached = projections.get(cacheKey);
    if (cached) return cached;
    if (unique.length === 0) return this.remember(cacheKey, CutProjection.fold([]));
    const headArray = q.array(unique, BYTEA_ARRAY);
    const [known] = await q<{ n: number }[]>`
      select count(*)::int as n from group_ops
      where group_id = ${groupId} and applied and op_id = any (${headArray}::bytea[])`;
    if ((known?.n ?? 0) < unique.length) return undefined;
    const winners = await q<{ slot: Buffer; kind: number; subject: Buffer; role: number | null }[]>`
      with recursive ancestry(op_id) as (
        select unnest(${headArray}::bytea[])
        union
        select p.id from ancestry a
          join group_ops o on o.group_id = ${groupId} and o.op_id = a.op_id
          cross join lateral unnest(o.parents) as p(id)
      )
      select distinct on (o.slot) o.slot, o.kind, o.subject, o.role
      from ancestry a join group_ops o on o.group_id = ${groupId} and o.op_id = a.op_id
      where o.applied and o.slot is not null
      order by o.slot, o.generation desc, o.op_id desc`;
    return this.remember(cacheKey, CutProjection.fold(winners));
  }

  private remember(key: string, projection: CutProjection): CutProjection {
    projections.set(key, projection);
    return projection;
  }

  /**
   * Fills the projection columns (generation, slot, …) of ops stored before they existed. Runs at
   * start; a no-op once done.
   */
  async fillProjectionColumns(): Promise<number> {
    const rows = await this.sql<{ group_id: Buffer; op_id: Buffer; op: Buffer }[]>`
      select group_id, op_id, op from group_ops where kind is null order by applied_seq nulls last, received_at`;
    for (const row of rows) {
      const op = verifyGroupOp(wire.SignedGroupOpV1.decode(row.op));
      const slot = opSlot(op.op);
      await this.sql`
        update group_ops set slot = ${slot.slot}, kind = ${slot.kind}, subject = ${slot.subject},
          role = ${slot.role ?? null}, nonce = ${op.nonce.toString()}::numeric,
          generation = case when applied then 1 + coalesce((
            select max(p.generation) from group_ops p
            where p.group_id = ${row.group_id} and p.op_id = any (group_ops.parents)), 0) end
        where group_id = ${row.group_id} and op_id = ${row.op_id}`;
    }
    return rows.length;
  }

  // --- live view ---------------------------------------------------------------------------------------

  async isMember(groupId: Buffer, member: Buffer): Promise<boolean> {
    const [row] = await this.sql`select 1 from group_members where group_id = ${groupId} and member = ${member}`;
    return Boolean(row);
  }

  /**
   * The live verdict on one identity: a member now, removed by an applied op, or never a member.
   * Drop labels and divergence checks use it.
   */
  async liveStanding(groupId: Buffer, member: Buffer): Promise<'member' | 'removed' | 'never_member'> {
    if (await this.isMember(groupId, member)) return 'member';
    const [removed] = await this.sql`
      select 1 from group_ops
      where group_id = ${groupId} and applied and kind = ${GroupOpKind.RemoveMember} and subject = ${member} limit 1`;
    return removed ? 'removed' : 'never_member';
  }

  async role(groupId: Buffer, member: Buffer): Promise<wire.GroupRole | undefined> {
    const [row] = await this.sql<{ role: number }[]>`
      select role from group_members where group_id = ${groupId} and member = ${member}`;
    return row?.role;
  }

  async members(groupId: Buffer): Promise<GroupMember[]> {
    const rows = await this.sql<{ member: Buffer; role: number }[]>`
      select member, role from group_members where group_id = ${groupId} order by member`;
    return rows.map((r) => ({ member: r.member, role: r.role }));
  }

  /** Groups this node holds applied ops of. */
  async groupIds(): Promise<Buffer[]> {
    const rows = await this.sql<{ group_id: Buffer }[]>`
      select distinct group_id from group_ops where applied order by group_id`;
    return rows.map((r) => r.group_id);
  }

  /** The DAG frontier: applied ops no applied op names as a parent. */
  async heads(groupId: Buffer): Promise<Buffer[]> {
    const rows = await this.sql<{ op_id: Buffer }[]>`
      select o.op_id from group_ops o
      where o.group_id = ${groupId} and o.applied and not exists (
        select 1 from group_ops c where c.group_id = o.group_id and c.applied and o.op_id = any (c.parents))
      order by o.op_id`;
    return rows.map((r) => r.op_id);
  }

  /** Which of `ids` this node has applied. */
  async appliedAmong(groupId: Buffer, ids: readonly Buffer[]): Promise<Buffer[]> {
    if (ids.length === 0) return [];
    const rows = await this.sql<{ op_id: Buffer }[]>`
      select op_id from group_ops
      where group_id = ${groupId} and applied and op_id = any (${this.sql.array([...ids], BYTEA_ARRAY)}::bytea[])`;
    return rows.map((r) => r.op_id);
  }

  /**
   * Applied ops in the order they applied (parents first), at most `limit`. With `knownHeads`, the
   * ops in their ancestry are left out: a peer naming its heads gets only what it lacks.
   */
  async appliedOps(
    groupId: Buffer,
    limit = MAX_GROUP_OPS_SERVED,
    knownHeads: readonly Buffer[] = [],
  ): Promise<wire.SignedGroupOpV1[]> {
    const rows = await this.appliedOpRecords(groupId, limit, knownHeads);
    return rows.map((r) => r.signed);
  }

  async appliedOpRecords(
    groupId: Buffer,
    limit = MAX_GROUP_OPS_SERVED,
    knownHeads: readonly Buffer[] = [],
  ): Promise<GroupOpRecord[]> {
    const known = this.sql.array(
      [...knownHeads].map((h) => Buffer.from(h)),
      BYTEA_ARRAY,
    );
    const rows = await this.sql<{ op_id: Buffer; op: Buffer; generation: number }[]>`
      with recursive known(op_id) as (
        select k from unnest(${known}::bytea[]) k
        where exists (select 1 from group_ops o where o.group_id = ${groupId} and o.op_id = k and o.applied)
        union
        select p.id from known a
          join group_ops o on o.group_id = ${groupId} and o.op_id = a.op_id
          cross join lateral unnest(o.parents) as p(id)
      )
      select op_id, op, generation from group_ops
      where group_id = ${groupId} and applied and op_id not in (select op_id from known)
      order by applied_seq limit ${limit}`;
    return rows.map((r) => ({ opId: r.op_id, signed: wire.SignedGroupOpV1.decode(r.op), generation: r.generation }));
  }

  /**
   * The application (and version) a context runs: the newest applied RegisterContext naming it,
   * newest by generation then op id — the same answer on every node that applied the same ops.
   */
  async registeredApplication(groupId: Buffer, contextId: Buffer): Promise<RegisteredApplication | undefined> {
    return this.registrationIn(this.sql, groupId, contextId);
  }

  private async registrationIn(
    tx: Tx | Sql,
    groupId: Buffer,
    contextId: Buffer,
  ): Promise<RegisteredApplication | undefined> {
    const [row] = await tx<{ op: Buffer }[]>`
      select op from group_ops
      where group_id = ${groupId} and applied and kind = ${GroupOpKind.RegisterContext} and subject = ${contextId}
      order by generation desc, op_id desc limit 1`;
    const kind = row && wire.SignedGroupOpV1.decode(row.op).op?.kind;
    return kind?.$case === 'registerContext' && kind.registerContext.applicationId.length === 32
      ? {
          applicationId: Buffer.from(kind.registerContext.applicationId),
          version: kind.registerContext.applicationVersion || null,
        }
      : undefined;
  }

  async appliedCount(groupId: Buffer): Promise<number> {
    const [r] = await this.sql<{ n: number }[]>`
      select count(*)::int as n from group_ops where group_id = ${groupId} and applied`;
    return r?.n ?? 0;
  }

  async pendingCount(groupId: Buffer): Promise<number> {
    const [r] = await this.sql<{ n: string }[]>`
      select count(*) as n from group_ops where group_id = ${groupId} and not applied`;
    return Number(r?.n ?? 0);
  }

  // --- group keys -----------------------------------------------------------------------------------

  async putKey(groupId: Buffer, keyId: Buffer, key: Uint8Array): Promise<void> {
    await this.sql`
      insert into group_keys (group_id, key_id, sealed_key)
      values (${groupId}, ${keyId}, ${seal(this.masterKey, key, GROUP_KEY_AAD)})
      on conflict do nothing`;
  }

  /** Every key of the group this node holds, by key id (hex), oldest first. */
  async keys(groupId: Buffer): Promise<Map<string, Buffer>> {
    const rows = await this.sql<{ key_id: Buffer; sealed_key: Buffer }[]>`
      select key_id, sealed_key from group_keys where group_id = ${groupId} order by created_at, key_id`;
    return new Map(rows.map((r) => [hex(r.key_id), unseal(this.masterKey, r.sealed_key, GROUP_KEY_AAD)]));
  }

  /**
   * The key new deltas are sealed with: the one the newest RotateKey at our heads names, or (before
   * any rotation) the group's first key. Undefined when we do not hold it (a rotation whose envelope
   * was not for us yet): the caller gets it by key share, and never writes under an older key.
   */
  async currentKey(groupId: Buffer): Promise<Buffer | undefined> {
    const keyId = (await this.currentProjection(groupId))?.keyId;
    const keys = await this.keys(groupId);
    return keyId ? keys.get(hex(keyId)) : keys.values().next().value;
  }

  /** The id of the key new deltas must be sealed with, when a rotation named one. */
  async currentKeyId(groupId: Buffer): Promise<Buffer | undefined> {
    return (await this.currentProjection(groupId))?.keyId;
  }
}
