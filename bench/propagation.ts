/**
 * Delta propagation between two nodes, every service in its own process, real libp2p on loopback:
 * writers on A call Execute(set) at fixed offered rates, then in a closed loop (32 writers on one
 * context, and 32 spread over 8 contexts); B's event streams tell when each delta was applied there.
 * For each phase: the rate A achieved, the rate B applied, p50/p99 propagation (Execute returned on A
 * → applied on B), whether B kept up, and the CPU spent per replicated delta by every process of both
 * nodes, the infrastructure (nats-server, Postgres, Redis) and this load generator (from /proc). The
 * raw gossipsub one-hop latency is measured in the same run, and latencies are reported beside it.
 * Prints numbers; asserts nothing.
 *
 *   npm run bench -- propagation [--quick] [--json] [--seconds N] [--rates 50,500,…] [--batched-rates 1000,…]
 *
 * Besides one Execute per delta, the same writes go as ExecuteBatch calls (client-side batching, as
 * importers and load generators do): at offered rates (`--batched-rates`, the writes due in each
 * 10 ms tick in one call) and in a closed loop (8 writers × 64 calls); every delta still carries one
 * action and is signed, gossiped and applied on its own.
 *
 * `--json` prints the results as one JSON object on the last line of stdout. Writing starts only once
 * B reports every context initialized (a snapshot covers the deltas written before, and B would
 * never announce them), and every wait is bounded: a run always ends, saying so when B fell behind.
 */
import '@cnode/runtime/polyfills';
import type { admin } from '@cnode/proto';
import { ProcessNode, cpuSnapshot, cpuSpent, machineBusySeconds, waitFor } from '@cnode/testing';
import { percentile, rawGossipLatency } from './lib/raw-gossip.js';

const argv = process.argv.slice(2);
const flag = (name: string): boolean => argv.includes(name);
const option = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const quick = flag('--quick');
const json = flag('--json');
const seconds = Number(option('--seconds') ?? (quick ? 2 : 5));
const rates = (option('--rates') ?? (quick ? '50,500,2000' : '50,200,500,1000,2000,5000')).split(',').map(Number);
/** Offered rates whose writes are sent as ExecuteBatch calls, one per tick (client-side batching). */
const batchedRates = (option('--batched-rates') ?? (quick ? '500,2000' : '500,1000,2000,5000'))
  .split(',')
  .filter(Boolean)
  .map(Number);
/** After a phase's last write, how long B may take to apply the rest before the phase counts as fallen behind. */
const DRAIN_LIMIT_MS = quick ? 10_000 : 20_000;
/** Before the next phase, B must be idle; beyond this the run stops (B never caught up). */
const SETTLE_LIMIT_MS = 60_000;
const MAX_IN_FLIGHT = 256;
/**
 * A phase starts once both nodes and the infrastructure are near idle, so that work the setup or the
 * previous phase left running (sync sessions after the joins, outbox drains, an autovacuum) is not
 * measured with it: below QUIET_CORES busy cores over QUIET_WINDOW_MS (idle, they use ~0.2), waiting
 * at most QUIET_LIMIT_MS (the phase then starts anyway, and its `startedQuiet` says so).
 */
const QUIET_CORES = 0.3;
const QUIET_WINDOW_MS = 1000;
const QUIET_LIMIT_MS = 20_000;
const CLOSED_LOOP_WRITERS = 32;
/** Client-side batching: writes due within one tick go as one ExecuteBatch. */
const BATCH_TICK_MS = 10;
/** Closed loop with ExecuteBatch: writers, and calls per batch. */
const BATCH_WRITERS = 8;
const BATCH_CALLS = 64;
const CONTEXTS = 8;

const now = (): number => performance.now();
const log = (line: string): void => void process.stderr.write(`${line}\n`);
const round = (n: number, digits = 2): number => Number(n.toFixed(digits));

interface PhaseResult {
  label: string;
  offered: number | null;
  contexts: number;
  writes: number;
  failedWrites: number;
  achievedA: number;
  appliedB: number;
  applied: number;
  p50Ms: number;
  p99Ms: number;
  drainMs: number;
  backlogGrowth: number;
  keptUp: boolean;
  /** Whether the nodes and the infrastructure were near idle when the phase started. */
  startedQuiet: boolean;
  cpuMsPerDelta: number;
  /** The same without this load generator's own CPU (its gRPC client): both nodes and the infrastructure only. */
  nodeCpuMsPerDelta: number;
  /** Gossip messages A sent per delta it wrote (a group commit's deltas share one). */
  gossipMessagesPerDelta: number;
  cpuByGroup: Record<string, number>;
  machineBusyCores: number;
}

log('measuring the raw gossipsub one-hop latency (two plain js-libp2p nodes)…');
const raw = (await rawGossipLatency(quick ? 200 : 500, 300)).sort((x, y) => x - y);
const rawHopP50Ms = percentile(raw, 0.5);
const rawHopP99Ms = percentile(raw, 0.99);

const [a, b] = await Promise.all([ProcessNode.start({ prefix: 'pa' }), ProcessNode.start({ prefix: 'pb' })]);
const results: PhaseResult[] = [];
let stoppedEarly: string | undefined;
try {
  log(`creating ${CONTEXTS} contexts on A, joined by B…`);
  const contexts: string[] = [];
  for (let i = 0; i < CONTEXTS; i++) {
    const { contextId } = await a.api.createContext();
    const { publicKey } = await b.api.createIdentity();
    await b.api.joinContext((await a.api.inviteMember(contextId, publicKey)).invitationText);
    contexts.push(contextId);
  }
  for (const contextId of contexts) {
    await Promise.all([a.waitForPeers(contextId, 1), b.waitForPeers(contextId, 1)]);
    // Only once B holds the state does it announce every delta it applies.
    await b.waitForState(contextId, 120_000);
  }

  const appliedAt = new Map<string, number>();
  const streams = contexts.map((contextId) => {
    const events = b.api.subscribeEvents(contextId);
    events.on('data', (e: admin.SubscribeEventsResponse) => {
      if (e.event?.event?.$case === 'stateMutation') appliedAt.set(e.event.event.stateMutation.deltaId, now());
    });
    events.on('error', () => undefined);
    return events;
  });
  // CPU by service over both nodes (A's and B's processes of one service share a group).
  const nodePids = new Map<number, string>();
  for (const node of [a, b]) {
    for (const [service, proc] of node.procs) if (proc.child.pid) nodePids.set(proc.child.pid, service);
  }

  let seq = 0;
  let failedWrites = 0;
  const write = async (contextId: string, returnedAt: Map<string, number>): Promise<void> => {
    const i = seq++;
    try {
      const res = await a.api.execute(contextId, 'set', { key: `k${i % 1000}`, value: `v${i}` });
      returnedAt.set(res.deltaId, now());
    } catch {
      failedWrites++;
    }
  };

  /** `count` sets in one ExecuteBatch; each delta's return time is the batch's. */
  const writeBatch = async (contextId: string, count: number, returnedAt: Map<string, number>): Promise<void> => {
    const first = seq;
    seq += count;
    try {
      const results = await a.api.executeBatch(
        contextId,
        Array.from({ length: count }, (_, j) => ({
          method: 'set',
          args: { key: `k${(first + j) % 1000}`, value: `v${first + j}` },
        })),
      );
      const at = now();
      for (const r of results) {
        if (r.ok) returnedAt.set(r.deltaId, at);
        else failedWrites++;
      }
    } catch {
      failedWrites += count;
    }
  };

  /** Waits until B applied every delta of the phase or `limitMs` passed; the time of the last apply. */
  const drain = async (returnedAt: Map<string, number>, limitMs: number): Promise<number> => {
    const ids = [...returnedAt.keys()];
    await waitFor(() => ids.every((id) => appliedAt.has(id)), { timeoutMs: limitMs, intervalMs: 20 }).catch(
      () => undefined,
    );
    return ids.filter((id) => appliedAt.has(id)).length;
  };

  /** Waits until the nodes and the infrastructure are near idle (see QUIET_CORES); false if they never were. */
  const settle = async (): Promise<boolean> => {
    const deadline = now() + QUIET_LIMIT_MS;
    for (;;) {
      const before = cpuSnapshot(nodePids);
      const startedAt = now();
      await new Promise((r) => setTimeout(r, QUIET_WINDOW_MS));
      const spent = Object.values(cpuSpent(before, cpuSnapshot(nodePids))).reduce((sum, v) => sum + v, 0);
      if (spent / ((now() - startedAt) / 1000) < QUIET_CORES) return true;
      if (now() > deadline) return false;
    }
  };

  const runPhase = async (
    label: string,
    offered: number | null,
    phaseContexts: string[],
    writeLoad: (returnedAt: Map<string, number>) => Promise<void>,
  ): Promise<PhaseResult> => {
    const startedQuiet = await settle();
    if (!startedQuiet) log(`  ${label}: the nodes were still busy after ${QUIET_LIMIT_MS / 1000} s; starting anyway`);
    const returnedAt = new Map<string, number>();
    failedWrites = 0;
    const gossipMessages = () => a.metric('node-manager', 'node_manager_gossip_delta_messages_total');
    const gossipBefore = await gossipMessages();
    const cpuBefore = cpuSnapshot(nodePids);
    const benchBefore = process.cpuUsage();
    const busyBefore = machineBusySeconds();
    const startedAt = now();
    await writeLoad(returnedAt);
    const writeEnd = now();
    const applied = await drain(returnedAt, DRAIN_LIMIT_MS);
    const times = [...returnedAt.keys()].map((id) => appliedAt.get(id)).filter((t): t is number => t !== undefined);
    const lastApplied = times.length ? Math.max(...times) : writeEnd;
    const spent = cpuSpent(cpuBefore, cpuSnapshot(nodePids));
    const bench = process.cpuUsage(benchBefore);
    spent.bench = (bench.user + bench.system) / 1e6;
    const busyCores = (machineBusySeconds() - busyBefore) / ((now() - startedAt) / 1000);
    const gossiped = (await gossipMessages()) - gossipBefore;
    const cpuTotal = Object.values(spent).reduce((s, v) => s + v, 0);

    const ordered = [...returnedAt]
      .filter(([id]) => appliedAt.has(id))
      .sort((x, y) => x[1] - y[1])
      .map(([id, t]) => Math.max(0, appliedAt.get(id)! - t));
    const sorted = [...ordered].sort((x, y) => x - y);
    const third = Math.max(1, Math.floor(ordered.length / 3));
    const p50Of = (xs: number[]): number =>
      xs.length
        ? percentile(
            [...xs].sort((x, y) => x - y),
            0.5,
          )
        : 0;
    const backlogGrowth = p50Of(ordered.slice(-third)) / Math.max(0.1, p50Of(ordered.slice(0, third)));
    const writes = returnedAt.size;
    const achievedA = writes / ((writeEnd - startedAt) / 1000);
    const drainMs = Math.max(0, lastApplied - writeEnd);
    const keptUp =
      applied === writes &&
      drainMs < 1000 &&
      backlogGrowth < 2 &&
      failedWrites === 0 &&
      (offered === null || achievedA >= 0.9 * offered);
    const result: PhaseResult = {
      label,
      offered,
      contexts: phaseContexts.length,
      writes,
      failedWrites,
      achievedA: round(achievedA, 1),
      appliedB: round(applied / Math.max(0.001, (lastApplied - startedAt) / 1000), 1),
      applied,
      p50Ms: round(sorted.length ? percentile(sorted, 0.5) : 0),
      p99Ms: round(sorted.length ? percentile(sorted, 0.99) : 0),
      drainMs: round(drainMs, 0),
      backlogGrowth: round(backlogGrowth),
      keptUp,
      startedQuiet,
      cpuMsPerDelta: round((cpuTotal * 1000) / Math.max(1, applied), 3),
      nodeCpuMsPerDelta: round(((cpuTotal - spent.bench) * 1000) / Math.max(1, applied), 3),
      gossipMessagesPerDelta: round(gossiped / Math.max(1, returnedAt.size), 3),
      cpuByGroup: Object.fromEntries(
        Object.entries(spent).map(([k, v]) => [k, round((v * 1000) / Math.max(1, applied), 3)]),
      ),
      machineBusyCores: round(busyCores),
    };
    log(
      `  ${label}: wrote ${writes} at ${result.achievedA}/s, B applied ${applied} at ${result.appliedB}/s, ` +
        `p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, ${keptUp ? 'kept up' : 'fell behind'}`,
    );
    // The next phase starts with B idle, or not at all.
    if (applied < writes && (await drain(returnedAt, SETTLE_LIMIT_MS)) < writes) {
      stoppedEarly = `B never caught up after ${label}: ${appliedAt.size} deltas applied, ${writes - applied} of this phase missing after ${(DRAIN_LIMIT_MS + SETTLE_LIMIT_MS) / 1000} s`;
    }
    return result;
  };

  const openLoop = (contextId: string, rate: number) => async (returnedAt: Map<string, number>) => {
    const startedAt = now();
    const total = Math.round(rate * seconds);
    const pending = new Set<Promise<void>>();
    for (let i = 0; i < total; i++) {
      const due = startedAt + (i * 1000) / rate;
      if (due > now()) await new Promise((r) => setTimeout(r, due - now()));
      if (pending.size >= MAX_IN_FLIGHT) await Promise.race(pending);
      const p = write(contextId, returnedAt).finally(() => pending.delete(p));
      pending.add(p);
    }
    await Promise.all(pending);
  };
  const openLoopBatched = (contextId: string, rate: number) => async (returnedAt: Map<string, number>) => {
    const startedAt = now();
    const total = Math.round(rate * seconds);
    const pending = new Set<Promise<void>>();
    for (let sent = 0; sent < total;) {
      await new Promise((r) => setTimeout(r, BATCH_TICK_MS));
      const due = Math.min(total, Math.floor(((now() - startedAt) * rate) / 1000));
      for (let n = due - sent; n > 0;) {
        const count = Math.min(n, 1024);
        if (pending.size >= MAX_IN_FLIGHT) await Promise.race(pending);
        const p = writeBatch(contextId, count, returnedAt).finally(() => pending.delete(p));
        pending.add(p);
        n -= count;
        sent += count;
      }
    }
    await Promise.all(pending);
  };
  const closedLoopBatched = (contextId: string) => async (returnedAt: Map<string, number>) => {
    const deadline = now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: BATCH_WRITERS }, async () => {
        while (now() < deadline) await writeBatch(contextId, BATCH_CALLS, returnedAt);
      }),
    );
  };
  const closedLoop = (phaseContexts: string[]) => async (returnedAt: Map<string, number>) => {
    const deadline = now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: CLOSED_LOOP_WRITERS }, async (_, w) => {
        const contextId = phaseContexts[w % phaseContexts.length]!;
        while (now() < deadline) await write(contextId, returnedAt);
      }),
    );
  };

  const main = contexts[0]!;
  log('warming up (connections, JIT, the first database pages)…');
  await runPhase('warm-up', null, [main], async (returnedAt) => {
    for (let i = 0; i < 50; i++) await write(main, returnedAt);
  });
  for (const rate of rates) {
    if (stoppedEarly) break;
    results.push(await runPhase(`${rate}/s`, rate, [main], openLoop(main, rate)));
  }
  if (!stoppedEarly) results.push(await runPhase('closed, 1 ctx', null, [main], closedLoop([main])));
  if (!stoppedEarly) results.push(await runPhase(`closed, ${CONTEXTS} ctx`, null, contexts, closedLoop(contexts)));
  for (const rate of batchedRates) {
    if (stoppedEarly) break;
    results.push(await runPhase(`${rate}/s batch`, rate, [main], openLoopBatched(main, rate)));
  }
  if (!stoppedEarly) {
    results.push(await runPhase('closed, batch', null, [main], closedLoopBatched(main)));
  }
  for (const s of streams) s.cancel();
} finally {
  await Promise.all([a.stop(), b.stop()]);
}

const batched = (r: PhaseResult): boolean => r.label.endsWith('batch');
const ratePhases = results.filter((r) => r.offered !== null && !batched(r));
const batchedPhases = results.filter((r) => r.offered !== null && batched(r));
const closed1 = results.find((r) => r.label === 'closed, 1 ctx');
const closed8 = results.find((r) => r.label === `closed, ${CONTEXTS} ctx`);
const closedBatch = results.find((r) => r.label === 'closed, batch');
/** Rates B kept up with (offered rates, and closed loops): the lower of what A wrote and B applied. */
const sustainedOf = (phases: (PhaseResult | undefined)[]): number[] =>
  phases.filter((r): r is PhaseResult => r?.keptUp === true).map((r) => Math.min(r.achievedA, r.appliedB));
const sustainedPerCall = sustainedOf([...ratePhases, closed1, closed8]);
const sustained = [...sustainedPerCall, ...sustainedOf([...batchedPhases, closedBatch])];
/** An offered-rate phase as the JSON summary lists it. */
const rateRow = (r: PhaseResult) => ({
  offered: r.offered!,
  achievedA: r.achievedA,
  appliedB: r.appliedB,
  p50Ms: r.p50Ms,
  p99Ms: r.p99Ms,
  keptUp: r.keptUp,
  cpuMsPerDelta: r.cpuMsPerDelta,
});
const summary = {
  benchmark: 'propagation',
  quick,
  secondsPerPhase: seconds,
  rawHopP50Ms: round(rawHopP50Ms, 3),
  rawHopP99Ms: round(rawHopP99Ms, 3),
  // Every delta carries one action; client-batched phases send many of them per ExecuteBatch call.
  maxSustainedPerSec: round(sustained.length ? Math.max(...sustained) : 0, 1),
  maxSustainedPerCallPerSec: round(sustainedPerCall.length ? Math.max(...sustainedPerCall) : 0, 1),
  closedLoopPerSec: closed1 ? Math.min(closed1.achievedA, closed1.appliedB) : 0,
  closedLoop8CtxPerSec: closed8 ? Math.min(closed8.achievedA, closed8.appliedB) : 0,
  closedLoopBatchPerSec: closedBatch ? Math.min(closedBatch.achievedA, closedBatch.appliedB) : 0,
  cpuMsPerDelta: closed1?.cpuMsPerDelta ?? 0,
  cpuMsPerDeltaBatched: closedBatch?.cpuMsPerDelta ?? 0,
  nodeCpuMsPerDelta: closed1?.nodeCpuMsPerDelta ?? 0,
  nodeCpuMsPerDeltaBatched: closedBatch?.nodeCpuMsPerDelta ?? 0,
  rates: ratePhases.map((r) => ({ ...rateRow(r), p50OverRawHop: round(r.p50Ms / rawHopP50Ms, 1) })),
  batchedRates: batchedPhases.map(rateRow),
  phases: results,
  ...(stoppedEarly ? { stoppedEarly } : {}),
};

const pad = (s: string | number, n: number): string => String(s).padStart(n);
console.log(`delta propagation A → B (Execute returned on A → applied on B), ${seconds} s per phase`);
console.log(
  `raw gossipsub one-hop (plain js-libp2p): p50 ${rawHopP50Ms.toFixed(2)} ms, p99 ${rawHopP99Ms.toFixed(2)} ms`,
);
console.log(
  `${'phase'.padEnd(14)}${pad('A/s', 8)}${pad('B/s', 8)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('p50/raw', 9)}` +
    `${pad('drain ms', 10)}${pad('cpu ms/Δ', 10)}${pad('msg/Δ', 7)}${pad('cores', 7)}  B`,
);
for (const r of results) {
  console.log(
    `${r.label.padEnd(14)}${pad(r.achievedA.toFixed(0), 8)}${pad(r.appliedB.toFixed(0), 8)}${pad(r.p50Ms.toFixed(1), 9)}` +
      `${pad(r.p99Ms.toFixed(1), 9)}${pad(`${(r.p50Ms / rawHopP50Ms).toFixed(1)}×`, 9)}${pad(r.drainMs, 10)}` +
      `${pad(r.cpuMsPerDelta.toFixed(2), 10)}${pad(r.gossipMessagesPerDelta.toFixed(2), 7)}` +
      `${pad(r.machineBusyCores.toFixed(2), 7)}  ${r.keptUp ? 'kept up' : 'FELL BEHIND'}` +
      (r.startedQuiet ? '' : ' (started busy)'),
  );
}
console.log(
  `max sustained ${summary.maxSustainedPerSec}/s (${summary.maxSustainedPerCallPerSec}/s with one Execute per delta); ` +
    `closed loop ${summary.closedLoopPerSec}/s (1 ctx), ${summary.closedLoop8CtxPerSec}/s (${CONTEXTS} ctx), ` +
    `${summary.closedLoopBatchPerSec}/s (ExecuteBatch ×${BATCH_CALLS}); CPU per replicated delta ` +
    `${summary.cpuMsPerDelta} ms (closed loop, 1 ctx), ${summary.cpuMsPerDeltaBatched} ms (ExecuteBatch); ` +
    `without the load generator ${summary.nodeCpuMsPerDelta} ms and ${summary.nodeCpuMsPerDeltaBatched} ms`,
);
if (closed1) {
  console.log(
    `CPU per delta by process group (closed loop, 1 ctx): ` +
      Object.entries(closed1.cpuByGroup)
        .map(([k, v]) => `${k} ${v} ms`)
        .join(', '),
  );
}
if (stoppedEarly) console.log(`STOPPED EARLY: ${stoppedEarly}`);
if (json) console.log(JSON.stringify(summary));
process.exitCode = stoppedEarly ? 1 : 0;
