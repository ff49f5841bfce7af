import { describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { BoundedQueue, DropPolicy, QueueDropReason, createQueueMetrics } from '../../src/bounded-queue.js';

function drain<T>(queue: BoundedQueue<T>): T[] {
  const out: T[] = [];
  for (let item = queue.shift(); item !== undefined; item = queue.shift()) out.push(item);
  return out;
}

async function dropped(registry: Registry, queue: string, reason: QueueDropReason): Promise<number> {
  const data = await registry.getSingleMetric('queue_dropped_total')!.get();
  return data.values.find((v) => v.labels.queue === queue && v.labels.reason === reason)?.value ?? 0;
}

describe('BoundedQueue', () => {
  const cases = [
    { policy: DropPolicy.DropNewest, reason: QueueDropReason.Full, kept: [1, 2, 3] },
    { policy: DropPolicy.DropOldest, reason: QueueDropReason.EvictedOldest, kept: [5, 6, 7] },
  ];

  for (const { policy, reason, kept } of cases) {
    it(`${policy}: overflow drops are counted by reason and kept items keep their order`, async () => {
      const registry = new Registry();
      const queue = new BoundedQueue<number>({
        name: 'q',
        maxLength: 3,
        dropPolicy: policy,
        metrics: createQueueMetrics(registry),
      });
      const drops = [1, 2, 3, 4, 5, 6, 7].map((n) => queue.push(n));
      expect(drops).toEqual([0, 0, 0, 1, 1, 1, 1]);
      expect(queue.length).toBe(3);
      expect(queue.dropped(reason)).toBe(4);
      expect(await dropped(registry, 'q', reason)).toBe(4);
      expect(drain(queue)).toEqual(kept);
    });
  }

  it('keeps FIFO order across the ring buffer wrapping around', () => {
    const queue = new BoundedQueue<number>({ name: 'ring', maxLength: 4, dropPolicy: DropPolicy.DropNewest });
    const out: number[] = [];
    for (let n = 0; n < 100; n++) {
      expect(queue.push(n)).toBe(0);
      if (queue.length === 4) out.push(queue.shift()!, queue.shift()!, queue.shift()!);
    }
    out.push(...drain(queue));
    expect(out).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('take() waits for the next push and hands items over in order', async () => {
    const queue = new BoundedQueue<string>({ name: 'take', maxLength: 2, dropPolicy: DropPolicy.DropNewest });
    const first = queue.take();
    const second = queue.take();
    queue.push('a');
    queue.push('b');
    await expect(first).resolves.toBe('a');
    await expect(second).resolves.toBe('b');
    expect(queue.length).toBe(0);
  });

  it('close() drops what is queued and every later push, counted as closed, and rejects waiting takers', async () => {
    const registry = new Registry();
    const queue = new BoundedQueue<number>({
      name: 'closing',
      maxLength: 5,
      dropPolicy: DropPolicy.DropNewest,
      metrics: createQueueMetrics(registry),
    });
    queue.push(1);
    queue.push(2);
    queue.close();
    expect(queue.push(3)).toBe(1);
    expect(queue.dropped(QueueDropReason.Closed)).toBe(3);
    expect(await dropped(registry, 'closing', QueueDropReason.Closed)).toBe(3);
    await expect(queue.take()).rejects.toThrow(/closed/);
  });

  it('an aborted take() leaves no waiter behind', async () => {
    const queue = new BoundedQueue<number>({ name: 'abort', maxLength: 2, dropPolicy: DropPolicy.DropNewest });
    const controller = new AbortController();
    const pending = queue.take(controller.signal);
    controller.abort();
    await expect(pending).rejects.toThrow(/aborted/);
    queue.push(7);
    expect(queue.length).toBe(1);
  });

  it('reports its length through the gauge at scrape time', async () => {
    const registry = new Registry();
    const queue = new BoundedQueue<number>({
      name: 'gauge',
      maxLength: 10,
      dropPolicy: DropPolicy.DropNewest,
      metrics: createQueueMetrics(registry),
    });
    queue.push(1);
    queue.push(2);
    expect(await registry.metrics()).toMatch(/queue_length\{queue="gauge"\} 2/);
  });

  it('refuses a non-positive bound', () => {
    expect(() => new BoundedQueue({ name: 'bad', maxLength: 0, dropPolicy: DropPolicy.DropNewest })).toThrow(
      RangeError,
    );
  });
});
