import type postgres from 'postgres';
import { wire } from '@cnode/proto';
import { groupIdOf, verifyGroupOp, type VerifiedGroupOp } from '@cnode/primitives';
import type { Sql } from '../postgres.js';
import { seal, unseal } from '../sealed-box.js';

const BYTEA_ARRAY = 1001;
const GROUP_KEY_AAD = 'cnode/group-key/v1';
/** Unapplied ops kept per group while their parents are missing; beyond it the oldest go. */
export const MAX_PENDING_GROUP_OPS = 1_000;
/** Most ops served in one GroupOpsResponse. */
export const MAX_GROUP_OPS_SERVED = 1_000;

export enum GroupOpOutcome {
  Applied = 'applied',
  /** Stored; waits for parents this node has not applied. */
  Pending = 'pending',
  Duplicate = 'duplicate',
  /** Structurally valid and signed, but its signer may not issue it (or a second genesis). */
  Unauthorized = 'unauthorized',
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

type Tx = postgres.TransactionSql;

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * Group governance in Postgres: the op DAG, the live membership it projects to, and the group keys
 * this node holds. Ops apply in causal order under a per-group transaction lock; an op whose parents
 * are missing waits, and applies (with everything it unblocks) once they arrive.
 *
 * Authorisation (membership at a cut and the full governance rules come later): a genesis op adds
 * its own signer as admin and must match the group id; every other op is signed by a live admin.
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
      const inserted = await tx`
        insert into group_ops (group_id, op_id, parents, signer, op)
        values (${op.groupId}, ${op.opId}, ${tx.array(op.parents, BYTEA_ARRAY)}::bytea[], ${op.signer},
                ${Buffer.from(wire.SignedGroupOpV1.encode(op.signed).finish())})
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
              update group_ops set applied = true, applied_seq = nextval('group_op_applied_seq')
              where group_id = ${next.groupId} and op_id = ${next.opId}`;
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
    const [row] = await tx<{ role: number }[]>`
      select role from group_members where group_id = ${op.groupId} and member = ${op.signer}`;
    return row?.role === wire.GroupRole.GROUP_ROLE_ADMIN;
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
        // Capabilities, context registration and key rotation take effect with the governance issue.
        return;
    }
  }

  private async evictPending(tx: Tx, groupId: Buffer): Promise<void> {
    await tx`
      delete from group_ops where group_id = ${groupId} and op_id in (
        select op_id from group_ops where group_id = ${groupId} and not applied
        order by received_at desc, op_id offset ${MAX_PENDING_GROUP_OPS})`;
  }

  async isMember(groupId: Buffer, member: Buffer): Promise<boolean> {
    const [row] = await this.sql`select 1 from group_members where group_id = ${groupId} and member = ${member}`;
    return Boolean(row);
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

  /** Applied ops in the order they applied (parents first), at most `limit`. */
  async appliedOps(groupId: Buffer, limit = MAX_GROUP_OPS_SERVED): Promise<wire.SignedGroupOpV1[]> {
    const rows = await this.sql<{ op: Buffer }[]>`
      select op from group_ops where group_id = ${groupId} and applied order by applied_seq limit ${limit}`;
    return rows.map((r) => wire.SignedGroupOpV1.decode(r.op));
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

  /** Every key of the group this node holds, by key id (hex). */
  async keys(groupId: Buffer): Promise<Map<string, Buffer>> {
    const rows = await this.sql<{ key_id: Buffer; sealed_key: Buffer }[]>`
      select key_id, sealed_key from group_keys where group_id = ${groupId} order by created_at`;
    return new Map(rows.map((r) => [hex(r.key_id), unseal(this.masterKey, r.sealed_key, GROUP_KEY_AAD)]));
  }

  /** The newest key of the group (the one new deltas are sealed with). */
  async currentKey(groupId: Buffer): Promise<Buffer | undefined> {
    const [row] = await this.sql<{ sealed_key: Buffer }[]>`
      select sealed_key from group_keys where group_id = ${groupId} order by created_at desc limit 1`;
    return row && unseal(this.masterKey, row.sealed_key, GROUP_KEY_AAD);
  }
}
