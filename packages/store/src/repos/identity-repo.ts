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
