/**
 * The network bridge against raw libp2p, in one run on one machine:
 *  1. gossip one-hop latency: publish command on node A → event consumed from node B's NET_EVENTS,
 *     next to gossipsub publish → 'message' between two plain libp2p nodes;
 *  2. stream throughput: 64 MiB through the stream relay (owner → network A → libp2p → network B →
 *     owner), next to a plain libp2p stream.
 * Prints numbers and ratios; asserts nothing.
 *
 *   npm run bench -- network/bridge [gossip-messages] [stream-MiB]
 */
import '@cnode/runtime/polyfills';
import { createHash, randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Registry } from 'prom-client';
import { bus } from '@cnode/proto';
import {
  NetworkClient,
  RelayedStream,
  SYNC_PROTOCOL,
  StreamConsumer,
  createBusMetrics,
  createCatalog,
} from '@cnode/bus';
import { percentile, rawGossipLatency } from '../lib/raw-gossip.js';
import {
  TEST_INFRA,
  cleanupNode,
  plainLibp2pNode,
  startInProcess,
  testEnv,
  testLogger,
  uniqueNodeName,
  waitFor,
} from '@cnode/testing';
import { loadConfig } from '@cnode/network/config';
import { createNetworkService } from '@cnode/network/service';

const gossipCount = Number(process.argv[2] ?? 500);
const streamMiB = Number(process.argv[3] ?? 64);
const PAYLOAD = 1024;
const FRAME = 256 * 1024;
const TOPIC = 'bench-topic';

const fmt = (ms: number): string => `${ms.toFixed(2)} ms`;

async function rawStream(bytes: number): Promise<number> {
  const [a, b] = [await plainLibp2pNode(), await plainLibp2pNode()];
  let received = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((r) => (done = r));
  await b.handle('/bench/raw/1', (stream) => {
    stream.addEventListener('message', (evt) => {
      received += evt.data.byteLength;
      if (received >= bytes) done();
    });
  });
  const stream = await a.dialProtocol(b.getMultiaddrs()[0]!, '/bench/raw/1');
  const chunk = randomBytes(64 * 1024);
  const t0 = performance.now();
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (!stream.send(chunk.subarray(0, Math.min(chunk.length, bytes - sent)))) await stream.onDrain();
  }
  await finished;
  const ms = performance.now() - t0;
  await a.stop();
  await b.stop();
  return ms;
}

async function bridge(): Promise<{ gossip: number[]; streamMs: number }> {
  const nc = await connect({ servers: TEST_INFRA.natsUrl });
  const js = jetstream(nc);
  const names = [uniqueNodeName('bench'), uniqueNodeName('bench')];
  const envA = testEnv(names[0]!);
  const svcA = await startInProcess(createNetworkService, loadConfig(envA));
  const addrA = svcA.handle.host.listenAddrs()[0]!;
  const envB = testEnv(names[1]!, { NETWORK_BOOTSTRAP: addrA });
  const svcB = await startInProcess(createNetworkService, loadConfig(envB));
  const [catA, catB] = [createCatalog(names[0]!), createCatalog(names[1]!)];
  const clientA = new NetworkClient({ nc: () => nc, catalog: catA, timeoutMs: 10_000 });
  const clientB = new NetworkClient({ nc: () => nc, catalog: catB, timeoutMs: 10_000 });
  try {
    await clientA.subscribe(TOPIC);
    await clientB.subscribe(TOPIC);
    await waitFor(async () => (await clientA.topicPeers(TOPIC)).subscribers.length > 0);
    await waitFor(async () => (await clientB.topicPeers(TOPIC)).subscribers.length > 0);

    // B's NET_EVENTS read the way node-manager reads them.
    let onEvent: (e: bus.NetworkEvent) => void = () => undefined;
    const reader = new StreamConsumer<bus.NetworkEvent>({
      spec: catB.consumers.netEvents,
      decode: (d) => bus.NetworkEvent.decode(d),
      handle: async (e) => onEvent(e),
      concurrency: 16,
      js: () => js,
      metrics: createBusMetrics(new Registry()),
      logger: testLogger(),
    });
    await reader.start();
    const gossip: number[] = [];
    for (let i = 0; i < gossipCount; i++) {
      const arrived = new Promise<void>((resolve) => {
        onEvent = (e) => {
          if (e.event?.$case === 'gossipMessage') resolve();
        };
      });
      const t0 = performance.now();
      await clientA.publish(TOPIC, randomBytes(PAYLOAD));
      await arrived;
      gossip.push(performance.now() - t0);
    }

    // Stream relay: A's owner writes, B's owner reads.
    const bytes = streamMiB * 1024 * 1024;
    let accept: (s: RelayedStream) => void = () => undefined;
    const accepted = new Promise<RelayedStream>((r) => (accept = r));
    onEvent = (e) => {
      if (e.event?.$case === 'streamOpened') {
        accept(RelayedStream.accept({ nc, catalog: catB, idleTimeoutMs: 30_000 }, e.event.streamOpened));
      }
    };
    const out = await RelayedStream.open(
      clientA,
      { nc, catalog: catA, idleTimeoutMs: 30_000 },
      svcB.handle.host.libp2p.peerId.toString(),
      SYNC_PROTOCOL,
    );
    const frame = randomBytes(FRAME);
    const t0 = performance.now();
    const writing = (async () => {
      for (let sent = 0; sent < bytes; sent += FRAME) await out.writeFrame(frame);
      await out.closeWrite();
    })();
    const inbound = await accepted;
    const hash = createHash('sha256');
    let got = 0;
    for await (const f of inbound) {
      got += f.length;
      hash.update(f);
    }
    await writing;
    const streamMs = performance.now() - t0;
    await inbound.closeWrite();
    if (got !== bytes) throw new Error(`relay delivered ${got} of ${bytes} bytes`);
    await reader.stop();
    return { gossip, streamMs };
  } finally {
    await svcB.stop();
    await svcA.stop();
    for (const name of names) await cleanupNode(name);
    await nc.close();
  }
}

const raw = (await rawGossipLatency(gossipCount, PAYLOAD)).sort((x, y) => x - y);
const rawStreamMs = await rawStream(streamMiB * 1024 * 1024);
const viaBridge = await bridge();
const br = viaBridge.gossip.sort((x, y) => x - y);
const mbps = (ms: number): number => (streamMiB * 1.048576) / (ms / 1000);

console.log(`network bridge benchmark (${gossipCount} gossip messages of ${PAYLOAD} B, ${streamMiB} MiB stream)`);
console.log(`  gossip one-hop   raw libp2p  p50 ${fmt(percentile(raw, 0.5))}  p99 ${fmt(percentile(raw, 0.99))}`);
console.log(`                   cnode bridge p50 ${fmt(percentile(br, 0.5))}  p99 ${fmt(percentile(br, 0.99))}`);
console.log(
  `                   bridge/raw   p50 ${(percentile(br, 0.5) / percentile(raw, 0.5)).toFixed(2)}x  p99 ${(percentile(br, 0.99) / percentile(raw, 0.99)).toFixed(2)}x`,
);
console.log(`  stream           raw libp2p   ${mbps(rawStreamMs).toFixed(1)} MB/s`);
console.log(`                   cnode relay  ${mbps(viaBridge.streamMs).toFixed(1)} MB/s`);
console.log(`                   relay/raw    ${(rawStreamMs / viaBridge.streamMs).toFixed(2)}x`);
