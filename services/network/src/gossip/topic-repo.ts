import type { Sql } from '@cnode/store';

/** The network_topics table: the subscription set that survives restarts. */
export class TopicRepo {
  constructor(private readonly sql: Sql) {}

  async all(): Promise<string[]> {
    const rows = await this.sql<{ topic: string }[]>`select topic from network_topics order by topic`;
    return rows.map((r) => r.topic);
  }

  /** True when the topic was not stored yet. */
  async add(topic: string): Promise<boolean> {
    const rows = await this
      .sql`insert into network_topics (topic) values (${topic}) on conflict do nothing returning topic`;
    return rows.length > 0;
  }

  /** True when the topic was stored. */
  async remove(topic: string): Promise<boolean> {
    const rows = await this.sql`delete from network_topics where topic = ${topic} returning topic`;
    return rows.length > 0;
  }
}
