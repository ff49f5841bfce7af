import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { createBusMetrics, createCatalog, deleteStreams, ensureStream, type Catalog } from '@cnode/bus';
import { HlcClock, generateIdentity, toBase58 } from '@cnode/primitives';
import { admin } from '@cnode/proto';
import { StateStore } from '@cnode/store';
import { TEST_INFRA, freshSchema, metricValue, standInSeal, testLogger, uniqueNodeName, waitFor } from '@cnode/testing';
import { NodeEventOutbox } from '../../src/index.js';

let db: Awaited<ReturnType<typeof freshSchema>>;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let redis: Redis;
let catalog: Catalog;
let registry: Registry;
let outbox: NodeEventOutbox;
let store: StateStore;

beforeAll(async () => {
  db = await freshSchema();
  nc = await connect({ servers: TEST_INFRA.natsUrl });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  catalog = createCatalog(uniqueNodeName());
  await ensureStream(jsm, catalog.streams.nodeEvents);
  redis = new Redis(TEST_INFRA.redisUrl, { keyPrefix: catalog.redis.prefix });
  registry = new Registry();
  outbox = new NodeEventOutbox({
    sql: () => db.sql,
    js: () => js,
    redis: () => redis,
    catalog,
    busMetrics: createBusMetrics(registry),
    registry,
    logger: testLogger(),
    // No sweep during the test: whatever is published, the direct way or the drain did it.
    intervalMs: 3_600_000,
  });
  store = new StateStore(db.sql, undefined, outbox);
});

afterAll(async () => {
  await outbox.stop();
  await deleteStreams(jsm, [catalog.streams.nodeEvents.name]);
  await nc.close();
  redis.disconnect();
  await db.drop();
});

const me = generateIdentity();
const clock = new HlcClock(randomBytes(16));
const write = (contextId: Buffer, key: string) =>
  store.commitLocal(
    contextId,
    me.publicKey,
    [{ kind: 'set', key: Buffer.from(key), value: Buffer.from('v'), at: clock.now() }],
    [],
    standInSeal(contextId, me.publicKey, clock),
  );

/** The node events of a context on NODE_EVENTS, in stream order, once `count` are there. */
async function published(contextId: Buffer, count: number): Promise<admin.NodeEvent[]> {
  const subject = catalog.subjects.nodeEventFor(toBase58(contextId));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const info = await jsm.streams.info(catalog.streams.nodeEvents.name, { subjects_filter: subject });
    const stored = info.state.subjects?.[subject] ?? 0;
    if (stored >= count || Date.now() > deadline) break;
    await sleep(20);
  }
  const consumer = await js.consumers.get(catalog.streams.nodeEvents.name, { filter_subjects: subject });
  const events: admin.NodeEvent[] = [];
  const batch = await consumer.fetch({ max_messages: count + 10, expires: 1_000 });
  for await (const m of batch) {
    events.push(admin.NodeEvent.decode(m.data));
    if (m.info.pending === 0) break;
  }
  return events;
}

async function outboxRows(): Promise<number> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const [{ n } = { n: 0 }] = await db.sql<{ n: number }[]>`select count(*)::int as n from node_event_outbox`;
    if (n === 0 || Date.now() > deadline) return n;
    await sleep(20);
  }
}

describe('NodeEventOutbox (real Postgres, NATS, Redis)', () => {
  it('publishes a commit’s events at once, in commit order, and deletes them', async () => {
    const contextId = randomBytes(32);
    await store.createContext(contextId);
    const deltas = [];
    for (const key of ['a', 'b', 'c']) deltas.push(await write(contextId, key));
    const events = await published(contextId, 3);
    expect(events.map((e) => e.event?.$case === 'stateMutation' && e.event.stateMutation.deltaId)).toEqual(
      deltas.map((d) => toBase58(d.delta.deltaId)),
    );
    expect(await outboxRows()).toBe(0);
    expect(await metricValue(registry, 'node_events_outbox_total', { outcome: 'published', via: 'direct' })).toBe(3);
  });

  it('leaves a commit to the drain when an earlier event of its context waits, and keeps their order', async () => {
    const contextId = randomBytes(32);
    await store.createContext(contextId);
    // An event queued without being published (its process died before the drain ran).
    await store.queueNodeEvent(contextId, { $case: 'contextLeft', contextLeft: {} });
    const direct = await metricValue(registry, 'node_events_outbox_total', { outcome: 'published', via: 'direct' });
    const later = await write(contextId, 'd');
    const events = await published(contextId, 2);
    expect(events.map((e) => e.event?.$case)).toEqual(['contextLeft', 'stateMutation']);
    expect(events[1]!.event?.$case === 'stateMutation' && events[1]!.event.stateMutation.deltaId).toBe(
      toBase58(later.delta.deltaId),
    );
    expect(await outboxRows()).toBe(0);
    expect(await metricValue(registry, 'node_events_outbox_total', { outcome: 'published', via: 'direct' })).toBe(
      direct,
    );
    expect(await metricValue(registry, 'node_events_outbox_total', { outcome: 'published', via: 'drain' })).toBe(2);
  });

  it('vacuums the outbox after deleting as many rows as it is told to', async () => {
    const vacuumRegistry = new Registry();
    const vacuuming = new NodeEventOutbox({
      sql: () => db.sql,
      js: () => js,
      redis: () => redis,
      catalog,
      busMetrics: createBusMetrics(vacuumRegistry),
      registry: vacuumRegistry,
      logger: testLogger(),
      intervalMs: 3_600_000,
      vacuumAfterDeletes: 4,
    });
    const writer = new StateStore(db.sql, undefined, vacuuming);
    const contextId = randomBytes(32);
    await writer.createContext(contextId);
    for (const key of ['a', 'b', 'c', 'd', 'e']) {
      await writer.commitLocal(
        contextId,
        me.publicKey,
        [{ kind: 'set', key: Buffer.from(key), value: Buffer.from('v'), at: clock.now() }],
        [],
        standInSeal(contextId, me.publicKey, clock),
      );
    }
    await published(contextId, 5);
    // Each row is deleted once its publish was acknowledged.
    await waitFor(async () => (await outboxRows()) === 0, { message: 'the outbox to be emptied' });
    await vacuuming.stop();
    // Five deletes (the context's creation queued no event): one VACUUM after the fourth.
    expect(await metricValue(vacuumRegistry, 'node_events_outbox_vacuums_total', { outcome: 'done' })).toBe(1);
    const [table] = await db.sql<{ vacuums: string }[]>`
      select vacuum_count as vacuums from pg_stat_user_tables
      where schemaname = current_schema() and relname = 'node_event_outbox'`;
    expect(Number(table!.vacuums)).toBeGreaterThanOrEqual(1);
  });
});
