// A flooding gossip peer in a process of its own (so its loop does not slow the test's own
// clients): a plain js-libp2p node that dials the given addresses, subscribes to the topic, waits
// until every dialled peer subscribes too, then publishes the given messages round-robin, as fast
// as its gossipsub takes them (at most 64 in flight), for the given time. Reads its orders from
// the JSON file named by its argument ({ dial: [multiaddr], peers: [peer id], topic,
// messages: [base64], durationMs }); prints { ready: true } once meshed and { sent } at the end,
// one JSON object per line.
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { setImmediate } from 'node:timers';

// libp2p 3 calls Promise.withResolvers, which Node 20 lacks: defined before libp2p loads.
Promise.withResolvers ??= function withResolvers() {
  let resolve, reject;
  const promise = new Promise((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
};
const { createLibp2p } = await import('libp2p');
const { tcp } = await import('@libp2p/tcp');
const { noise } = await import('@chainsafe/libp2p-noise');
const { yamux } = await import('@chainsafe/libp2p-yamux');
const { identify } = await import('@libp2p/identify');
const { gossipsub } = await import('@libp2p/gossipsub');
const { multiaddr } = await import('@multiformats/multiaddr');

const orders = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const messages = orders.messages.map((m) => Buffer.from(m, 'base64'));

const node = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { identify: identify(), pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, floodPublish: true }) },
});
node.services.pubsub.subscribe(orders.topic);
for (const addr of orders.dial) await node.dial(multiaddr(addr));
const deadline = Date.now() + 30_000;
while (!orders.peers.every((p) => node.services.pubsub.getSubscribers(orders.topic).some((s) => s.toString() === p))) {
  if (Date.now() > deadline) throw new Error('the flood peer never saw every peer subscribe');
  await new Promise((resolve) => setTimeout(resolve, 50));
}
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);

let sent = 0;
const inFlight = new Set();
const end = Date.now() + orders.durationMs;
while (Date.now() < end) {
  const p = node.services.pubsub
    .publish(orders.topic, Uint8Array.from(messages[sent % messages.length]))
    .catch(() => undefined);
  sent++;
  inFlight.add(p);
  void p.finally(() => inFlight.delete(p));
  if (inFlight.size >= 64) await Promise.race(inFlight);
  // Publishing can resolve in microtasks alone: let sockets run, or nothing leaves.
  if (sent % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
}
await Promise.all(inFlight);
process.stdout.write(`${JSON.stringify({ sent })}\n`);
await node.stop();
