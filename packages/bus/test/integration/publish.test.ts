import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { Registry } from 'prom-client';
import { TEST_INFRA, uniqueNodeName, metricValue } from '@cnode/testing';
import {
  BusErrorCode,
  PublishOutcome,
  createBusMetrics,
  createCatalog,
  deleteStreams,
  ensureConsumer,
  ensureStream,
  publishToStream,
} from '../../src/index.js';

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
const created: string[] = [];

beforeAll(async () => {
  nc = await connect({ servers: TEST_INFRA.natsUrl });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await deleteStreams(jsm, created);
  await nc.close();
});

describe('publishToStream', () => {
  it('refuses a message when the mailbox is full, and counts it', async () => {
    const catalog = createCatalog(uniqueNodeName(), { stateDeltaMax: 3 });
    const stream = catalog.streams.stateDelta;
    created.push(stream.name);
    await ensureStream(jsm, stream);
    const registry = new Registry();
    const deps = { js, metrics: createBusMetrics(registry) };
    for (let n = 0; n < 3; n++) {
      await expect(publishToStream(deps, stream, catalog.subjects.stateDeltaFor('c'), Uint8Array.of(n))).resolves.toBe(
        PublishOutcome.Stored,
      );
    }
    await expect(
      publishToStream(deps, stream, catalog.subjects.stateDeltaFor('c'), Uint8Array.of(9)),
    ).rejects.toMatchObject({
      code: BusErrorCode.StreamFull,
    });
    expect(
      await metricValue(registry, 'bus_messages_published_total', { stream: 'STATE_DELTA', outcome: 'full' }),
    ).toBe(1);
    expect((await jsm.streams.info(stream.name)).state.messages).toBe(3);
  });

  it('stores a repeated Nats-Msg-Id once', async () => {
    const catalog = createCatalog(uniqueNodeName());
    const stream = catalog.streams.syncRequests;
    created.push(stream.name);
    await ensureStream(jsm, stream);
    const deps = { js, metrics: createBusMetrics(new Registry()) };
    const subject = catalog.subjects.syncRequestFor('ctx');
    expect(await publishToStream(deps, stream, subject, Uint8Array.of(1), { msgId: 'sync:ctx' })).toBe(
      PublishOutcome.Stored,
    );
    expect(await publishToStream(deps, stream, subject, Uint8Array.of(1), { msgId: 'sync:ctx' })).toBe(
      PublishOutcome.Duplicate,
    );
    expect((await jsm.streams.info(stream.name)).state.messages).toBe(1);
  });
});

describe('topology', () => {
  it('is idempotent and applies changed limits to existing streams and consumers', async () => {
    const node = uniqueNodeName();
    const first = createCatalog(node, { stateDeltaMax: 10, stateDeltaInFlight: 5 });
    created.push(first.streams.stateDelta.name);
    await ensureStream(jsm, first.streams.stateDelta);
    await ensureConsumer(jsm, first.consumers.stateDelta);
    await ensureStream(jsm, first.streams.stateDelta);
    await ensureConsumer(jsm, first.consumers.stateDelta);

    const second = createCatalog(node, { stateDeltaMax: 20, stateDeltaInFlight: 8 });
    await ensureStream(jsm, second.streams.stateDelta);
    await ensureConsumer(jsm, second.consumers.stateDelta);
    expect((await jsm.streams.info(second.streams.stateDelta.name)).config.max_msgs).toBe(20);
    expect((await jsm.consumers.info(second.streams.stateDelta.name, 'state-delta')).config.max_ack_pending).toBe(8);
  });
});
