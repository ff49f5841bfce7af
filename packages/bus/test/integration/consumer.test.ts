import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { Registry } from 'prom-client';
import { ProcessingAction, ProcessingError } from '@cnode/runtime';
import { TEST_INFRA, testLogger, uniqueNodeName, waitFor, metricValue } from '@cnode/testing';
import {
  ConsumeOutcome,
  StreamConsumer,
  createBusMetrics,
  createCatalog,
  deleteStreams,
  ensureConsumer,
  ensureStream,
  type Catalog,
  type ConsumerSpec,
} from '../../src/index.js';

const encode = (text: string): Uint8Array => new TextEncoder().encode(text);
const decodeText = (data: Uint8Array): string => {
  const text = new TextDecoder('utf-8', { fatal: true }).decode(data);
  if (text.startsWith('poison')) throw new Error('undecodable');
  return text;
};

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;

beforeAll(async () => {
  nc = await connect({ servers: TEST_INFRA.natsUrl });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await nc.close();
});

describe('StreamConsumer against a real JetStream', () => {
  let catalog: Catalog;
  let spec: ConsumerSpec;
  let registry: Registry;
  let consumer: StreamConsumer<string> | undefined;

  beforeEach(async () => {
    catalog = createCatalog(uniqueNodeName(), { stateDeltaMax: 100, stateDeltaInFlight: 4 });
    // Short ack wait and few deliveries keep the retry tests fast.
    spec = { ...catalog.consumers.stateDelta, maxDeliver: 3, ackWaitMs: 2_000 };
    await ensureStream(jsm, catalog.streams.stateDelta);
    await ensureConsumer(jsm, spec);
    registry = new Registry();
  });

  afterEach(async () => {
    await consumer?.stop();
    consumer = undefined;
    await deleteStreams(jsm, [catalog.streams.stateDelta.name]);
  });

  function start(handle: (text: string, delivery: number) => Promise<void>, concurrency = 4): StreamConsumer<string> {
    consumer = new StreamConsumer<string>({
      spec,
      decode: decodeText,
      handle: (text, ctx) => handle(text, ctx.deliveryCount),
      concurrency,
      retryBaseMs: 50,
      js: () => js,
      metrics: createBusMetrics(registry),
      logger: testLogger(),
    });
    return consumer;
  }

  const outcome = (o: ConsumeOutcome, code = ''): Promise<number> =>
    metricValue(registry, 'bus_messages_consumed_total', { consumer: spec.durable, outcome: o, code });
  const pending = async (): Promise<number> => (await jsm.streams.info(catalog.streams.stateDelta.name)).state.messages;

  it('acks after the handler resolves, so the mailbox empties', async () => {
    const seen: string[] = [];
    await start(async (text) => void seen.push(text)).start();
    for (const n of [1, 2, 3]) await js.publish(catalog.subjects.stateDeltaFor('ctx'), encode(`m${n}`));
    await waitFor(async () => (await outcome(ConsumeOutcome.Acked)) === 3, { message: 'three acks' });
    expect(seen.sort()).toEqual(['m1', 'm2', 'm3']);
    await waitFor(async () => (await pending()) === 0, { message: 'work queue emptied by acks' });
  });

  it('redelivers a message whose handler throws a retryable error, then acks it', async () => {
    const deliveries: number[] = [];
    await start(async (_text, delivery) => {
      deliveries.push(delivery);
      if (delivery === 1)
        throw new ProcessingError(ProcessingAction.Retry, 'TEST_TRANSIENT', 'try later', { retryDelayMs: 20 });
    }).start();
    await js.publish(catalog.subjects.stateDeltaFor('ctx'), encode('flaky'));
    await waitFor(async () => (await outcome(ConsumeOutcome.Acked)) === 1, { message: 'ack after redelivery' });
    expect(deliveries).toEqual([1, 2]);
    expect(await outcome(ConsumeOutcome.Retried, 'TEST_TRANSIENT')).toBe(1);
  });

  it('retries unexpected errors with backoff, and terminates after max deliveries', async () => {
    const deliveries: number[] = [];
    await start(async (_text, delivery) => {
      deliveries.push(delivery);
      throw new Error('boom');
    }).start();
    await js.publish(catalog.subjects.stateDeltaFor('ctx'), encode('doomed'));
    await waitFor(async () => (await outcome(ConsumeOutcome.Exhausted, 'UNEXPECTED')) === 1, {
      message: 'exhaustion',
    });
    expect(deliveries).toEqual([1, 2, 3]);
    expect(await outcome(ConsumeOutcome.Retried, 'UNEXPECTED')).toBe(2);
    await waitFor(async () => (await pending()) === 0, { message: 'terminated message removed' });
  });

  it('terminates and counts a poison message without calling the handler', async () => {
    let calls = 0;
    await start(async () => void calls++).start();
    await js.publish(catalog.subjects.stateDeltaFor('ctx'), encode('poison!'));
    await js.publish(catalog.subjects.stateDeltaFor('ctx'), encode('fine'));
    await waitFor(async () => (await outcome(ConsumeOutcome.Poison, 'UNDECODABLE')) === 1, { message: 'poison' });
    await waitFor(async () => (await outcome(ConsumeOutcome.Acked)) === 1, { message: 'the good one' });
    expect(calls).toBe(1);
    await waitFor(async () => (await pending()) === 0, { message: 'poison not redelivered' });
  });

  it('terminates a rejected message and acks a dropped one, counting each by code', async () => {
    await start(async (text) => {
      if (text === 'bad') throw new ProcessingError(ProcessingAction.Reject, 'TEST_FORGED');
      if (text === 'stale') throw new ProcessingError(ProcessingAction.Drop, 'TEST_STALE');
    }).start();
    await js.publish(catalog.subjects.stateDeltaFor('ctx'), encode('bad'));
    await js.publish(catalog.subjects.stateDeltaFor('ctx'), encode('stale'));
    await waitFor(async () => (await outcome(ConsumeOutcome.Rejected, 'TEST_FORGED')) === 1, { message: 'reject' });
    await waitFor(async () => (await outcome(ConsumeOutcome.Dropped, 'TEST_STALE')) === 1, { message: 'drop' });
    await waitFor(async () => (await pending()) === 0, { message: 'neither redelivered' });
  });

  it('never runs more handlers at once than its concurrency', async () => {
    let running = 0;
    let peak = 0;
    await start(async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 30));
      running--;
    }, 2).start();
    for (let n = 0; n < 12; n++) await js.publish(catalog.subjects.stateDeltaFor('ctx'), encode(`m${n}`));
    await waitFor(async () => (await outcome(ConsumeOutcome.Acked)) === 12, { message: 'all handled' });
    expect(peak).toBe(2);
  });

  it('stop() waits for in-flight handlers to finish and ack', async () => {
    let finished = false;
    let started = false;
    const c = start(async () => {
      started = true;
      await new Promise((r) => setTimeout(r, 500));
      finished = true;
    });
    await c.start();
    await js.publish(catalog.subjects.stateDeltaFor('ctx'), encode('slow'));
    await waitFor(() => started, { message: 'handler started' });
    await c.stop();
    expect(finished).toBe(true);
    expect(await outcome(ConsumeOutcome.Acked)).toBe(1);
    expect(c.isConsuming).toBe(false);
  });
});
