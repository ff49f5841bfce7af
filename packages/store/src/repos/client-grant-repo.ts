import type { Sql } from '../postgres.js';

/** A grant of application client tokens: one context, one identity of ours, a lifetime. */
export interface ClientGrant {
  id: Buffer;
  contextId: Buffer;
  identity: Buffer;
  readOnly: boolean;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | undefined;
}

interface ClientGrantRow {
  id: Buffer;
  context_id: Buffer;
  identity: Buffer;
  read_only: boolean;
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
}

const fromRow = (r: ClientGrantRow): ClientGrant => ({
  id: r.id,
  contextId: r.context_id,
  identity: r.identity,
  readOnly: r.read_only,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at ?? undefined,
});

/** Most grants one listing returns (newest first). */
export const CLIENT_GRANTS_LIST_MAX = 1000;

/**
 * Grants of client tokens (`client_token_grants`). The tokens themselves are never stored: they are
 * signed, and name their grant, whose row says whether it still holds. Expired grants are deleted
 * by `removeExpired`; a context's grants go with the context.
 */
export class ClientGrantRepo {
  constructor(private readonly sql: Sql) {}

  async create(grant: Omit<ClientGrant, 'createdAt' | 'revokedAt'>): Promise<ClientGrant> {
    const [row] = await this.sql<ClientGrantRow[]>`
      insert into client_token_grants (id, context_id, identity, read_only, expires_at)
      values (${grant.id}, ${grant.contextId}, ${grant.identity}, ${grant.readOnly}, ${grant.expiresAt})
      returning *`;
    return fromRow(row!);
  }

  async get(id: Buffer): Promise<ClientGrant | undefined> {
    const [row] = await this.sql<ClientGrantRow[]>`select * from client_token_grants where id = ${id}`;
    return row ? fromRow(row) : undefined;
  }

  /** Marks the grant revoked; false when it is unknown or was revoked already. */
  async revoke(id: Buffer): Promise<boolean> {
    const rows = await this.sql`
      update client_token_grants set revoked_at = now() where id = ${id} and revoked_at is null returning id`;
    return rows.length > 0;
  }

  /** Grants not yet expired, newest first (at most CLIENT_GRANTS_LIST_MAX), of one context or all. */
  async list(contextId?: Buffer): Promise<ClientGrant[]> {
    const rows = await this.sql<ClientGrantRow[]>`
      select * from client_token_grants
      where expires_at > now() ${contextId ? this.sql`and context_id = ${contextId}` : this.sql``}
      order by created_at desc limit ${CLIENT_GRANTS_LIST_MAX}`;
    return rows.map(fromRow);
  }

  /** Deletes grants that expired more than `graceMs` ago; returns how many. */
  async removeExpired(graceMs: number): Promise<number> {
    const rows = await this.sql`
      delete from client_token_grants where expires_at < now() - ${graceMs} * interval '1 millisecond' returning id`;
    return rows.length;
  }
}
