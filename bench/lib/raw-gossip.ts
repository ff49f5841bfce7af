import { randomBytes } from 'node:crypto';
import { plainLibp2pNode, waitFor } from '@cnode/testing';

const TOPIC = 'bench-raw-topic';

/** The value at quantile `p` of an ascending list. */
export const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

/**
 * The baseline of every latency benchmark: one-hop gossipsub latency (publish → 'message') between
 * two plain js-libp2p nodes on loopback, `count` messages of `payload` bytes, one at a time.
 */
export async function rawGossipLatency(count: number, payload: number): Promise<number[]> {
  const [a, b] = [await plainLibp2pNode(), await plainLibp2pNode()];
  for (const n of [a, b]) n.services.pubsub.subscribe(TOPIC);
  await a.dial(b.getMultiaddrs()[0]!);
  await waitFor(
    () => a.services.pubsub.getSubscribers(TOPIC).length > 0 && b.services.pubsub.getSubscribers(TOPIC).length > 0,
  );
  let resolveNext: () => void = () => undefined;
  b.services.pubsub.addEventListener('message', () => resolveNext());
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const arrived = new Promise<void>((r) => (resolveNext = r));
    const t0 = performance.now();
    await a.services.pubsub.publish(TOPIC, randomBytes(payload));
    await arrived;
    samples.push(performance.now() - t0);
  }
  await a.stop();
  await b.stop();
  return samples;
}
