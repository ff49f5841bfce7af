import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { wipeNodeData } from '@cnode/service-kit';

/** Where the tests find NATS, Postgres and Redis: the same variables the services read. */
export const TEST_INFRA = {
  natsUrl: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
  databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
};

/** A node name no other test uses: every subject, stream, schema and key of the test is under it. */
export function uniqueNodeName(prefix = 't'): string {
  return `${prefix}${randomBytes(5).toString('hex')}`;
}

/**
 * Environment for a service under test: its own node namespace, free ports, a fresh master key and
 * home, quiet logs, fast status reports. `overrides` win.
 */
export function testEnv(node: string, overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    NODE_NAME: node,
    NODE_HOME: mkdtempSync(join(tmpdir(), `cnode-${node}-`)),
    NODE_MASTER_KEY: randomBytes(32).toString('hex'),
    NATS_URL: TEST_INFRA.natsUrl,
    // JetStream reserves a stream's max bytes on disk: keep test nodes small.
    NATS_STREAM_MAX_BYTES: '64MiB',
    DATABASE_URL: TEST_INFRA.databaseUrl,
    REDIS_URL: TEST_INFRA.redisUrl,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    ADMIN_GRPC_LISTEN: '127.0.0.1:0',
    APP_API_LISTEN: '127.0.0.1:0',
    NETWORK_LISTEN: '/ip4/127.0.0.1/tcp/0',
    SERVICE_STATUS_INTERVAL: '200ms',
    ...overrides,
  };
}

/** Removes everything a node created: its streams, Postgres schema and Redis keys. */
export async function cleanupNode(node: string): Promise<void> {
  await wipeNodeData(TEST_INFRA, node);
}
