/**
 * Mailbox throughput: N messages published onto a JetStream work queue, then consumed and acked,
 * once with the raw client and once through cnode's publishToStream + StreamConsumer (bounded
 * concurrency, outcome mapping, metrics). Prints both and the ratio; asserts nothing about speed.
 *
 *   npm run bench -- bus/mailbox [messages] [payload-bytes]
 */
import '@cnode/runtime/polyfills';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, AckPolicy } from '@nats-io/jetstream';
import { Registry } from 'prom-client';
import {
  StreamConsumer,
  createBusMetrics,
  createCatalog,
  deleteStreams,
  ensureConsumer,
  ensureStream,
  publishToStream,
} from '@cnode/bus';
import { TEST_INFRA, testLogger, uniqueNodeName, waitFor } from '@cnode/testing';

const count = Number(process.argv[2] ?? 5000);
const size = Number(process.argv[3] ?? 1024);
/** Publishes in flight at once in both variants, so only the consumer paths differ. */
const WINDOW = 64;

const nc = await connect({ servers: TEST_INFRA.natsUrl });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);

async function publishAll(publish: (i: number) => Promise<unknown>): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < count; i += WINDOW) {
    const batch = [];
    for (let j = i; j < Math.min(count, i + WINDOW); j++) batch.push(publish(j));
    await Promise.all(batch);
  }
  return performance.now() - started;
}

async function raw(): Promise<{ publishMs: number; consumeMs: number }> {
  const catalog = createCatalog(uniqueNodeName('b'), { stateDeltaMax: count });
  const stream = catalog.streams.stateDelta;
  await ensureStream(jsm, stream);
  await jsm.consumers.add(stream.name, { durable_name: 'raw', ack_policy: AckPolicy.Explicit, max_ack_pending: 256 });
  const publishMs = await publishAll(() => js.publish(catalog.subjects.stateDeltaFor('c'), new Uint8Array(size)));
  const started = performance.now();
  const messages = await (await js.consumers.get(stream.name, 'raw')).consume({ max_messages: 256 });
  let seen = 0;
  for await (const m of messages) {
    m.ack();
    if (++seen === count) break;
  }
  const consumeMs = performance.now() - started;
  await messages.close();
  await deleteStreams(jsm, [stream.name]);
  return { publishMs, consumeMs };
}

async function viaCnode(): Promise<{ publishMs: number; consumeMs: number }> {
  const catalog = createCatalog(uniqueNodeName('b'), { stateDeltaMax: count, stateDeltaInFlight: 256 });
  const stream = catalog.streams.stateDelta;
  await ensureStream(jsm, stream);
  await ensureConsumer(jsm, catalog.consumers.stateDelta);
  const metrics = createBusMetrics(new Registry());
  const publishMs = await publishAll(() =>
    publishToStream({ js, metrics }, stream, catalog.subjects.stateDeltaFor('c'), new Uint8Array(size)),
  );
  let seen = 0;
  const consumer = new StreamConsumer<Uint8Array>({
    spec: catalog.consumers.stateDelta,
    decode: (data) => data,
    handle: async () => void seen++,
    concurrency: 256,
    js: () => js,
    metrics,
    logger: testLogger(),
  });
  const started = performance.now();
  await consumer.start();
  await waitFor(() => seen === count, { timeoutMs: 120_000, intervalMs: 5 });
  const consumeMs = performance.now() - started;
  await consumer.stop();
  await deleteStreams(jsm, [stream.name]);
  return { publishMs, consumeMs };
}

const rate = (ms: number): string => `${Math.round((count / ms) * 1000).toLocaleString('en-US')} msg/s`;
const rawResult = await raw();
const cnodeResult = await viaCnode();
console.log(`mailbox benchmark: ${count} messages of ${size} B, publish window ${WINDOW}`);
console.log(
  `  publish   raw ${rate(rawResult.publishMs).padStart(14)}   cnode ${rate(cnodeResult.publishMs).padStart(14)}   cnode/raw ${(rawResult.publishMs / cnodeResult.publishMs).toFixed(2)}`,
);
console.log(
  `  consume   raw ${rate(rawResult.consumeMs).padStart(14)}   cnode ${rate(cnodeResult.consumeMs).padStart(14)}   cnode/raw ${(rawResult.consumeMs / cnodeResult.consumeMs).toFixed(2)}`,
);
await nc.close();
