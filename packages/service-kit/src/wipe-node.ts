import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import postgres from 'postgres';
import { Redis } from 'ioredis';
import { createCatalog } from '@cnode/bus';

/** Where a node's data lives. */
export interface NodeStores {
  natsUrl: string;
  databaseUrl: string;
  redisUrl: string;
}

/**
 * Deletes everything a node keeps in the shared infrastructure: its JetStream streams, its Postgres
 * schema and its Redis keys. What is gone is gone: the node starts afresh, with a new identity.
 */
export async function wipeNodeData(stores: NodeStores, node: string): Promise<void> {
  const catalog = createCatalog(node);
  const nc = await connect({ servers: stores.natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    for (const stream of Object.values(catalog.streams)) {
      await jsm.streams.delete(stream.name).catch(() => false);
    }
  } finally {
    await nc.close();
  }
  const sql = postgres(stores.databaseUrl, { max: 1, onnotice: () => undefined });
  try {
    await sql`drop schema if exists ${sql(catalog.postgres.schema)} cascade`;
  } finally {
    await sql.end();
  }
  const redis = new Redis(stores.redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${catalog.redis.prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
