import type { Sql } from '@cnode/store';

export interface StoredIdentity {
  peerId: string;
  keyType: string;
  sealedPrivateKey: Buffer;
}

/** The node_identity row: the one libp2p key of this node. */
export class IdentityRepo {
  constructor(private readonly sql: Sql) {}

  async get(): Promise<StoredIdentity | undefined> {
    const rows = await this.sql<{ peer_id: string; key_type: string; sealed_private_key: Buffer }[]>`
      select peer_id, key_type, sealed_private_key from node_identity where id = 1`;
    const row = rows[0];
    return row && { peerId: row.peer_id, keyType: row.key_type, sealedPrivateKey: row.sealed_private_key };
  }

  /** Stores the identity unless one exists; returns whichever is stored (first writer wins). */
  async insertIfAbsent(identity: StoredIdentity): Promise<StoredIdentity> {
    await this.sql`
      insert into node_identity (id, peer_id, key_type, sealed_private_key)
      values (1, ${identity.peerId}, ${identity.keyType}, ${identity.sealedPrivateKey})
      on conflict (id) do nothing`;
    const stored = await this.get();
    if (!stored) throw new Error('node_identity row vanished after insert');
    return stored;
  }
}
