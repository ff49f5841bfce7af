import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { NatsComponent, createBusMetrics, createCatalog, deleteStreams, ensureStream, type Catalog } from '@cnode/bus';
import { bus, wire } from '@cnode/proto';
import { createQueueMetrics } from '@cnode/runtime';
import { toBase58 } from '@cnode/primitives';
import { TEST_INFRA, metricValue, testLogger, uniqueNodeName, waitFor } from '@cnode/testing';
import { StateDeltaForwarder } from '../../src/gossip/state-delta-forwarder.js';
import { createNetworkMetrics } from '../../src/metrics.js';

let nats: NatsComponent;
let catalog: Catalog;
let registry: Registry;
let forwarder: StateDeltaForwarder;

beforeAll(async () => {
  nats = new NatsComponent({ url: TEST_INFRA.natsUrl, clientName: 'forwarder-test', logger: testLogger() });
  await nats.start();
  catalog = createCatalog(uniqueNodeName());
  await ensureStream(nats.jsm, catalog.streams.stateDelta);
  registry = new Registry();
  forwarder = new StateDeltaForwarder({
    catalog,
    nats,
    busMetrics: createBusMetrics(registry),
    queueMetrics: createQueueMetrics(registry),
    metrics: createNetworkMetrics(registry),
    logger: testLogger(),
  });
  await forwarder.start();
});

afterAll(async () => {
  await forwarder.stop();
  await deleteStreams(nats.jsm, [catalog.streams.stateDelta.name]);
  await nats.stop();
});

const delta = (contextId: Buffer, bytes = 64): wire.StateDelta =>
  wire.StateDelta.fromPartial({
    contextId,
    deltaId: randomBytes(32),
    parentIds: [randomBytes(32)],
    ciphertext: randomBytes(bytes),
    signature: randomBytes(64),
  });

/** The STATE_DELTA messages of a context, decoded, once `count` are stored. */
async function mailbox(contextId: Buffer, count: number): Promise<bus.StateDeltaReceived[]> {
  const subject = catalog.subjects.stateDeltaFor(toBase58(contextId));
  const stored = async () =>
    (await nats.jsm.streams.info(catalog.streams.stateDelta.name, { subjects_filter: subject })).state.subjects?.[
      subject
    ] ?? 0;
  await waitFor(async () => (await stored()) >= count || undefined, { message: `${count} messages on ${subject}` });
  // STATE_DELTA is a work queue (no second consumer may read it): read its messages by sequence.
  const { state } = await nats.jsm.streams.info(catalog.streams.stateDelta.name);
  const messages: bus.StateDeltaReceived[] = [];
  for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
    const m = await nats.jsm.streams.getMessage(catalog.streams.stateDelta.name, { seq }).catch(() => null);
    if (m?.subject === subject) messages.push(bus.StateDeltaReceived.decode(m.data));
  }
  return messages;
}

const forwarded = (outcome: string) => metricValue(registry, 'network_state_deltas_forwarded_total', { outcome });

describe('StateDeltaForwarder (real NATS)', () => {
  it('puts a gossip batch in one mailbox message per context, in order, and drops malformed deltas', async () => {
    const [x, y] = [randomBytes(32), randomBytes(32)];
    const batch = [delta(x), delta(y), delta(x), { ...delta(x), deltaId: Buffer.alloc(5) }, delta(x)];
    forwarder.forward(batch, 'peer-1', 'msg-1');
    const [xs] = await mailbox(x, 1);
    expect(xs!.delta).toBeUndefined();
    expect(xs!.batch.map((d) => toBase58(d.deltaId))).toEqual(
      [batch[0], batch[2], batch[4]].map((d) => toBase58(d!.deltaId)),
    );
    expect(xs!.sourcePeer).toBe('peer-1');
    const [ys] = await mailbox(y, 1);
    expect(ys!.delta && toBase58(ys!.delta.deltaId)).toBe(toBase58(batch[1]!.deltaId));
    expect(await forwarded('published')).toBe(4);
    expect(await forwarded('malformed')).toBe(1);

    // The same batch again is the same message: the broker stores it once.
    forwarder.forward([batch[0]!, batch[2]!, batch[4]!], 'peer-2', 'msg-2');
    await waitFor(async () => (await forwarded('published')) === 7 || undefined, {
      message: 'the repeat to be published',
    });
    expect(await mailbox(x, 1)).toHaveLength(1);
  });

  it('sends a batch too large for one bus message delta by delta', async () => {
    const z = randomBytes(32);
    const third = Math.ceil(nats.maxPayload / 3);
    const big = [delta(z, third), delta(z, third), delta(z, third)];
    forwarder.forward(big, 'peer-3', 'msg-3');
    const messages = await mailbox(z, 3);
    expect(messages.map((m) => m.delta && toBase58(m.delta.deltaId))).toEqual(big.map((d) => toBase58(d.deltaId)));
  });
});
