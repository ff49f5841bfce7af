import type { Sql } from '../postgres.js';

const BYTEA_ARRAY = 1001;

export interface StoredGroupOp {
  groupId: Buffer;
  opId: Buffer;
  parents: Buffer[];
  signer: Buffer;
  /** The encoded SignedGroupOpV1. */
  op: Buffer;
  applied: boolean;
}

/** Signed governance ops: one DAG per group. */
export class GroupOpRepo {
  constructor(private readonly sql: Sql) {}

  /** Stores an op once; returns false when it was already known. */
  async insert(op: Omit<StoredGroupOp, 'applied'>): Promise<boolean> {
    const rows = await this.sql`
      insert into group_ops (group_id, op_id, parents, signer, op)
      values (${op.groupId}, ${op.opId}, ${this.sql.array(op.parents, BYTEA_ARRAY)}::bytea[], ${op.signer}, ${op.op})
      on conflict do nothing returning 1`;
    return rows.length > 0;
  }

  async markApplied(groupId: Buffer, opId: Buffer): Promise<void> {
    await this.sql`update group_ops set applied = true where group_id = ${groupId} and op_id = ${opId}`;
  }

  async get(groupId: Buffer, opId: Buffer): Promise<StoredGroupOp | undefined> {
    const [r] = await this.sql<{ parents: Buffer[]; signer: Buffer; op: Buffer; applied: boolean }[]>`
      select parents, signer, op, applied from group_ops where group_id = ${groupId} and op_id = ${opId}`;
    return r && { groupId, opId, parents: r.parents, signer: r.signer, op: r.op, applied: r.applied };
  }

  /** Every op of the group in arrival order. */
  async list(groupId: Buffer): Promise<StoredGroupOp[]> {
    const rows = await this.sql<{ op_id: Buffer; parents: Buffer[]; signer: Buffer; op: Buffer; applied: boolean }[]>`
      select op_id, parents, signer, op, applied from group_ops where group_id = ${groupId} order by received_at, op_id`;
    return rows.map((r) => ({
      groupId,
      opId: r.op_id,
      parents: r.parents,
      signer: r.signer,
      op: r.op,
      applied: r.applied,
    }));
  }

  /** The DAG frontier: applied ops that no applied op names as a parent. */
  async heads(groupId: Buffer): Promise<Buffer[]> {
    const rows = await this.sql<{ op_id: Buffer }[]>`
      select o.op_id from group_ops o
      where o.group_id = ${groupId} and o.applied and not exists (
        select 1 from group_ops c where c.group_id = o.group_id and c.applied and o.op_id = any (c.parents))
      order by o.op_id`;
    return rows.map((r) => r.op_id);
  }
}
