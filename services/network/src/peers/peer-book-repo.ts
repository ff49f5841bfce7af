import type { Sql } from '@cnode/store';

export interface KnownPeer {
  peer: string;
  addrs: string[];
}

/** The network_peers table: peers we were connected to, newest first, bounded to `max` rows. */
export class PeerBookRepo {
  constructor(
    private readonly sql: Sql,
    private readonly max: number,
  ) {}

  /** Records a peer's listen addresses as seen now, and forgets the oldest peers beyond the bound. */
  async remember(peer: string, addrs: readonly string[]): Promise<void> {
    await this.sql`
      insert into network_peers (peer_id, addrs, last_seen_at)
      values (${peer}, ${this.sql.array([...addrs])}::text[], now())
      on conflict (peer_id) do update set addrs = excluded.addrs, last_seen_at = excluded.last_seen_at`;
    await this.sql`
      delete from network_peers where peer_id in (
        select peer_id from network_peers order by last_seen_at desc offset ${this.max})`;
  }

  /** The most recently seen peers, at most `limit`. */
  async recent(limit: number): Promise<KnownPeer[]> {
    const rows = await this.sql<{ peer_id: string; addrs: string[] }[]>`
      select peer_id, addrs from network_peers order by last_seen_at desc limit ${limit}`;
    return rows.map((r) => ({ peer: r.peer_id, addrs: r.addrs }));
  }

  async count(): Promise<number> {
    const [row] = await this.sql<{ n: string }[]>`select count(*) as n from network_peers`;
    return Number(row?.n ?? 0);
  }
}
