/**
 * HashHeartbeat judgement against the real Postgres (the context and its tree),
 * Redis (streaks, debounce) and NATS (the SYNC_REQUESTS mailbox it queues syncs on).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import postgres from 'postgres';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { createBusMetrics, createCatalog, ensureStream, type Catalog } from '@cnode/bus';
import { toBase58, ZERO_ID } from '@cnode/primitives';
import { bus, type wire } from '@cnode/proto';
import { runMigrations, StateStore, StateSyncStore, type Sql } from '@cnode/store';
import { TEST_INFRA, cleanupNode, metricValue, testLogger, uniqueNodeName } from '@cnode/testing';
import { HeartbeatOutcome, handleHashHeartbeat, type HashHeartbeatDeps } from '../../src/handlers/hash-heartbeat.js';
import { createNodeManagerMetrics } from '../../src/metrics.js';

const node = uniqueNodeName('hb');
const catalog: Catalog = createCatalog(node);
let sql: Sql;
let redis: Redis;
let nc: NatsConnection;
let jsm: JetStreamManager;
let deps: HashHeartbeatDeps;
let registry: Registry;
let states: StateStore;
let contextId: Buffer;
const ourHeads = [randomBytes(32), randomBytes(32)];
const ourRoot = randomBytes(32);

beforeAll(async () => {
  sql = postgres(TEST_INFRA.databaseUrl, {
    max: 2,
    onnotice: () => undefined,
    connection: { search_path: `"${catalog.postgres.schema}",public` },
  });
  await runMigrations(sql, { schema: catalog.postgres.schema, logger: testLogger() });
  redis = new Redis(TEST_INFRA.redisUrl, { keyPrefix: catalog.redis.prefix });
  nc = await connect({ servers: TEST_INFRA.natsUrl });
  jsm = await jetstreamManager(nc);
  await ensureStream(jsm, catalog.streams.syncRequests);
  states = new StateStore(sql);
  registry = new Registry();
  const js = jetstream(nc);
  deps = {
    states,
    stateSync: new StateSyncStore(sql),
    redis: () => redis,
    js: () => js,
    busMetrics: createBusMetrics(registry),
    catalog,
    metrics: createNodeManagerMetrics(registry),
    logger: testLogger(),
  };
});

afterAll(async () => {
  redis?.disconnect();
  await nc?.close();
  await sql?.end();
  await cleanupNode(node);
});

beforeEach(async () => {
  // A fresh context per test: our heads and a cached root (the tree itself is empty: live root zero).
  contextId = randomBytes(32);
  await states.createContext(contextId, { groupId: randomBytes(32) });
  await sql`update contexts set root_hash = ${ourRoot}, dag_heads = ${sql.array(ourHeads, 1001)}::bytea[] where id = ${contextId}`;
});

const gossip = (peer = 'peer-a'): bus.GossipMessage => ({
  topic: toBase58(contextId),
  sourcePeer: peer,
  messageId: randomBytes(8).toString('hex'),
  data: Buffer.alloc(0),
});
const heartbeat = (rootHash: Buffer, dagHeads: Buffer[]): wire.HashHeartbeat => ({ contextId, rootHash, dagHeads });

/** Judges a heartbeat; returns the outcome counted and the sync requests it queued for our context. */
async function judge(hb: wire.HashHeartbeat, peer?: string): Promise<{ outcome: string; queued: number }> {
  const before = await counts();
  const requestsBefore = await queuedFor(contextId);
  await handleHashHeartbeat(deps, hb, gossip(peer));
  const after = await counts();
  const outcome = Object.keys(after).find((k) => after[k]! > (before[k] ?? 0)) ?? 'none';
  return { outcome, queued: (await queuedFor(contextId)) - requestsBefore };
}

async function counts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const outcome of Object.values(HeartbeatOutcome)) {
    out[outcome] = await metricValue(registry, 'node_manager_hash_heartbeats_total', { outcome });
  }
  return out;
}

async function queuedFor(ctx: Buffer): Promise<number> {
  const info = await jsm.streams.info(catalog.streams.syncRequests.name, {
    subjects_filter: catalog.subjects.syncRequestFor(toBase58(ctx)),
  });
  return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
}

describe('HashHeartbeat', () => {
  it('does nothing when the roots and the histories are equal', async () => {
    expect(await judge(heartbeat(ourRoot, ourHeads))).toEqual({ outcome: 'in_sync', queued: 0 });
  });

  it('asks for a sync when the roots are equal but the peer has a head we lack (a delta that changed no root)', async () => {
    expect(await judge(heartbeat(ourRoot, [randomBytes(32)]))).toEqual({ outcome: 'heads_lacking', queued: 1 });
  });

  it('recomputes a lagging cached root before declaring divergence', async () => {
    // Our cached root is stale: the live tree is empty, which is what the peer reports.
    expect(await judge(heartbeat(Buffer.from(ZERO_ID), ourHeads))).toEqual({ outcome: 'recovered', queued: 0 });
    expect((await states.context(contextId))!.rootHash.equals(ZERO_ID)).toBe(true);
  });

  it('escalates a root divergence with identical heads only at its second identical observation', async () => {
    const theirs = randomBytes(32);
    const divergences = () => metricValue(registry, 'sync_root_hash_divergence_detected_total');
    const before = await divergences();
    expect(await judge(heartbeat(theirs, ourHeads))).toEqual({ outcome: 'divergent_transient', queued: 0 });
    expect(await judge(heartbeat(theirs, ourHeads))).toEqual({ outcome: 'divergent_persistent', queued: 1 });
    // Past the threshold it stays persistent, but the sync was asked for once.
    expect(await judge(heartbeat(theirs, ourHeads))).toEqual({ outcome: 'divergent_persistent', queued: 0 });
    expect(await divergences()).toBe(before + 3);
    // Another root starts a new streak; so does another peer.
    expect((await judge(heartbeat(randomBytes(32), ourHeads))).outcome).toBe('divergent_transient');
    expect((await judge(heartbeat(theirs, ourHeads), 'peer-b')).outcome).toBe('divergent_transient');
  });

  it('asks for a sync when the peer has heads we lack, at most once per 25 s per context', async () => {
    const request = await judge(heartbeat(randomBytes(32), [randomBytes(32)]));
    expect(request).toEqual({ outcome: 'heads_lacking', queued: 1 });
    expect(await judge(heartbeat(randomBytes(32), [randomBytes(32)]), 'peer-b')).toEqual({
      outcome: 'debounced',
      queued: 0,
    });
    const [message] = await Promise.all([
      jsm.streams.getMessage(catalog.streams.syncRequests.name, {
        last_by_subj: catalog.subjects.syncRequestFor(toBase58(contextId)),
      }),
    ]);
    const queued = bus.SyncRequest.decode(message!.data);
    expect(queued.reason).toBe(bus.SyncReason.SYNC_REASON_HEARTBEAT);
    expect(queued.peer).toBe('peer-a');
  });

  it('leaves a peer that is behind us alone', async () => {
    // Their only head is one we applied (a snapshot checkpoint here).
    const old = randomBytes(32);
    await sql`insert into dag_checkpoints (context_id, delta_id) values (${contextId}, ${old})`;
    expect(await judge(heartbeat(randomBytes(32), [old]))).toEqual({ outcome: 'peer_behind', queued: 0 });
  });

  it('ignores contexts we do not host and malformed heartbeats', async () => {
    const unknown = { contextId: randomBytes(32), rootHash: randomBytes(32), dagHeads: [] };
    await handleHashHeartbeat(deps, unknown, gossip());
    expect(await metricValue(registry, 'node_manager_hash_heartbeats_total', { outcome: 'unknown_context' })).toBe(1);
    await handleHashHeartbeat(deps, { contextId, rootHash: Buffer.alloc(3), dagHeads: [] }, gossip());
    expect(await metricValue(registry, 'node_manager_hash_heartbeats_total', { outcome: 'malformed' })).toBe(1);
  });
});
