/**
 * Delta propagation between two nodes, every service in its own process, real libp2p on loopback:
 * a writer on A calls Execute(set) at fixed rates and then as fast as it can; B's event stream tells
 * when each delta was applied there. Reports the latency from Execute returning on A to the delta
 * applied on B (p50, p99), whether B kept up (no growing backlog), and the raw gossipsub one-hop
 * latency measured in the same run, with the ratio. Prints numbers; asserts nothing.
 *
 *   npm run bench -- propagation [seconds-per-rate] [rate,rate,…]
 */
import '@cnode/runtime/polyfills';
import type { admin } from '@cnode/proto';
import { ProcessNode, waitFor } from '@cnode/testing';
import { percentile, rawGossipLatency } from './lib/raw-gossip.js';

const seconds = Number(process.argv[2] ?? 5);
const rates = (process.argv[3] ?? '50,100,200,500,1000').split(',').map(Number);
const MAX_IN_FLIGHT = 256;
const MAX_RATE_CONCURRENCY = 32;

const now = (): number => performance.now();
const fmt = (ms: number): string => `${ms.toFixed(1)} ms`.padStart(9);

interface Phase {
  label: string;
  writes: number;
  writeRate: number;
  latencies: number[];
  /** p50 latency of the last third over the first third: ~1 when B keeps up, growing when not. */
  backlogGrowth: number;
  drainMs: number;
}

const [a, b] = await Promise.all([ProcessNode.start({ prefix: 'pa' }), ProcessNode.start({ prefix: 'pb' })]);
try {
  const { contextId } = await a.api.createContext();
  const { publicKey } = await b.api.createIdentity();
  await b.api.joinContext((await a.api.inviteMember(contextId, publicKey)).invitationText);
  await Promise.all([a.waitForPeers(contextId, 1), b.waitForPeers(contextId, 1)]);

  const appliedAt = new Map<string, number>();
  const events = b.api.subscribeEvents(contextId);
  events.on('data', (e: admin.SubscribeEventsResponse) => {
    if (e.event?.event?.$case === 'stateMutation') appliedAt.set(e.event.event.stateMutation.deltaId, now());
  });
  events.on('error', () => undefined);

  let seq = 0;
  const write = async (returnedAt: Map<string, number>): Promise<void> => {
    const i = seq++;
    const res = await a.api.execute(contextId, 'set', { key: `k${i % 1000}`, value: `v${i}` });
    returnedAt.set(res.deltaId, now());
  };

  const finish = async (label: string, returnedAt: Map<string, number>, startedAt: number): Promise<Phase> => {
    const writeEnd = now();
    await waitFor(() => [...returnedAt.keys()].every((id) => appliedAt.has(id)), {
      timeoutMs: 120_000,
      intervalMs: 20,
      message: `B to apply every delta of ${label}`,
    });
    const drainMs = Math.max(0, Math.max(...[...returnedAt.keys()].map((id) => appliedAt.get(id)!)) - writeEnd);
    const ordered = [...returnedAt].sort((x, y) => x[1] - y[1]).map(([id, t]) => appliedAt.get(id)! - t);
    const third = Math.max(1, Math.floor(ordered.length / 3));
    const p50 = (xs: number[]): number =>
      percentile(
        [...xs].sort((x, y) => x - y),
        0.5,
      );
    return {
      label,
      writes: returnedAt.size,
      writeRate: returnedAt.size / ((writeEnd - startedAt) / 1000),
      latencies: [...ordered].sort((x, y) => x - y),
      backlogGrowth: p50(ordered.slice(-third)) / Math.max(0.1, p50(ordered.slice(0, third))),
      drainMs,
    };
  };

  const phases: Phase[] = [];
  // Warm-up: connections, JIT, the first database pages.
  const warm = new Map<string, number>();
  for (let i = 0; i < 50; i++) await write(warm);
  await finish('warm-up', warm, now());

  for (const rate of rates) {
    const returnedAt = new Map<string, number>();
    const startedAt = now();
    const total = Math.round(rate * seconds);
    const pending = new Set<Promise<void>>();
    for (let i = 0; i < total; i++) {
      const due = startedAt + (i * 1000) / rate;
      if (due > now()) await new Promise((r) => setTimeout(r, due - now()));
      if (pending.size >= MAX_IN_FLIGHT) await Promise.race(pending);
      const p = write(returnedAt).finally(() => pending.delete(p));
      pending.add(p);
    }
    await Promise.all(pending);
    phases.push(await finish(`${rate}/s`, returnedAt, startedAt));
  }

  {
    const returnedAt = new Map<string, number>();
    const startedAt = now();
    const deadline = startedAt + seconds * 1000;
    await Promise.all(
      Array.from({ length: MAX_RATE_CONCURRENCY }, async () => {
        while (now() < deadline) await write(returnedAt);
      }),
    );
    phases.push(await finish('max', returnedAt, startedAt));
  }
  events.cancel();

  const raw = (await rawGossipLatency(500, 300)).sort((x, y) => x - y);
  const rawP50 = percentile(raw, 0.5);
  console.log(`delta propagation A → B (Execute returned on A → applied on B), ${seconds} s per rate`);
  console.log(`  raw gossipsub one-hop (plain js-libp2p)  p50 ${fmt(rawP50)}  p99 ${fmt(percentile(raw, 0.99))}`);
  for (const p of phases) {
    const keptUp = p.backlogGrowth < 2 && p.drainMs < 1000;
    console.log(
      `  ${p.label.padEnd(7)} wrote ${String(p.writes).padStart(5)} at ${p.writeRate.toFixed(0).padStart(5)}/s` +
        `  p50 ${fmt(percentile(p.latencies, 0.5))}  p99 ${fmt(percentile(p.latencies, 0.99))}` +
        `  p50/raw ${(percentile(p.latencies, 0.5) / rawP50).toFixed(1).padStart(6)}×` +
        `  backlog ×${p.backlogGrowth.toFixed(1)} drain ${p.drainMs.toFixed(0)} ms ${keptUp ? 'kept up' : 'FELL BEHIND'}`,
    );
  }
  const sustained = phases.filter((p) => p.label !== 'max' && p.backlogGrowth < 2 && p.drainMs < 1000);
  console.log(
    `  max sustained rate without a growing backlog: ${sustained.length ? sustained.at(-1)!.label : 'below the lowest rate'}` +
      ` (closed-loop maximum: ${phases.at(-1)!.writeRate.toFixed(0)}/s written)`,
  );
} finally {
  await Promise.all([a.stop(), b.stop()]);
}
