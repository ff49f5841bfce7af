import type { Identity } from '@cnode/primitives';
import type { Sql } from '../postgres.js';
import { seal, unseal } from '../sealed-box.js';

const IDENTITY_AAD = 'cnode/context-identity/v1';

/** Context identities: ours with the private key sealed by the master key, members' public keys. */
export class IdentityRepo {
  constructor(
    private readonly sql: Sql,
    private readonly masterKey: Uint8Array,
  ) {}

  /** Keeps a member identity this node created (before or without any context). */
  async create(identity: Identity): Promise<void> {
    await this.sql`
      insert into identities (public_key, sealed_private_key)
      values (${identity.publicKey}, ${seal(this.masterKey, identity.privateKey, IDENTITY_AAD)})
      on conflict do nothing`;
  }

  /** One of this node's identities by public key, private key opened. */
  async find(publicKey: Buffer): Promise<Identity | undefined> {
    const [row] = await this.sql<{ sealed_private_key: Buffer }[]>`
      select sealed_private_key from identities where public_key = ${publicKey}`;
    return row && { publicKey, privateKey: unseal(this.masterKey, row.sealed_private_key, IDENTITY_AAD) };
  }

  /** Whether the key is one of this node's identities in the context (its own gossip echo). */
  async isOwned(contextId: Buffer, publicKey: Buffer): Promise<boolean> {
    const [row] = await this.sql`
      select 1 from context_identities
      where context_id = ${contextId} and public_key = ${publicKey} and sealed_private_key is not null`;
    return Boolean(row);
  }

  async addOwned(contextId: Buffer, identity: Identity): Promise<void> {
    const sealed = seal(this.masterKey, identity.privateKey, IDENTITY_AAD);
    await this.sql`
      insert into context_identities (context_id, public_key, sealed_private_key)
      values (${contextId}, ${identity.publicKey}, ${sealed})
      on conflict (context_id, public_key) do update set sealed_private_key = excluded.sealed_private_key`;
  }

  async addMember(contextId: Buffer, publicKey: Buffer): Promise<void> {
    await this.sql`
      insert into context_identities (context_id, public_key) values (${contextId}, ${publicKey})
      on conflict do nothing`;
  }

  /**
   * One of our identities that is a live member of the group (admins first), to speak for it on
   * group-scoped streams and to sign its ops. Undefined once all of ours were removed.
   */
  async ownedInGroup(groupId: Buffer, opts: { admin?: boolean } = {}): Promise<Identity | undefined> {
    const [row] = await this.sql<{ public_key: Buffer; sealed_private_key: Buffer }[]>`
      select i.public_key, i.sealed_private_key from identities i
      join group_members m on m.member = i.public_key and m.group_id = ${groupId}
      where ${opts.admin ?? false} = false or m.role = 2
      order by (m.role = 2) desc, i.created_at, i.public_key limit 1`;
    return (
      row && { publicKey: row.public_key, privateKey: unseal(this.masterKey, row.sealed_private_key, IDENTITY_AAD) }
    );
  }

  /** Our identities in the context, private keys opened. */
  async owned(contextId: Buffer): Promise<Identity[]> {
    const rows = await this.sql<{ public_key: Buffer; sealed_private_key: Buffer }[]>`
      select public_key, sealed_private_key from context_identities
      where context_id = ${contextId} and sealed_private_key is not null order by created_at, public_key`;
    return rows.map((r) => ({
      publicKey: r.public_key,
      privateKey: unseal(this.masterKey, r.sealed_private_key, IDENTITY_AAD),
    }));
  }

  async members(contextId: Buffer): Promise<Buffer[]> {
    const rows = await this.sql<{ public_key: Buffer }[]>`
      select public_key from context_identities where context_id = ${contextId} order by public_key`;
    return rows.map((r) => r.public_key);
  }

  async remove(contextId: Buffer, publicKey: Buffer): Promise<boolean> {
    const rows = await this.sql`
      delete from context_identities where context_id = ${contextId} and public_key = ${publicKey} returning 1`;
    return rows.length > 0;
  }
}
