import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ProcessNode, TEST_INFRA } from '@cnode/testing';
import { ChaosCluster, ChaosFailure, runChaosHistory, type ChaosReport } from './chaos-history.js';
import { PrivateNats, PrivatePostgres } from './private-infra.js';

/**
 * The seeded chaos suite: `npm run chaos -- [--seed S] [--histories K] [--replay SEED]`. Nodes run
 * every service as a process on a NATS and a Postgres of the suite's own (it restarts them); Redis
 * is the machine's. CHAOS_HISTORIES histories (default 5) from CHAOS_SEED (default `ci`).
 */
const HISTORIES = Number(process.env.CHAOS_HISTORIES ?? 5);
const BASE_SEED = process.env.CHAOS_SEED ?? 'ci';
const KEEP_GOING = process.env.CHAOS_KEEP_GOING === '1';
/** Nodes in the cluster: a history uses 3–5 of them. */
const CLUSTER_NODES = 5;

let nats: PrivateNats;
let postgres: PrivatePostgres;
let cluster: ChaosCluster;

beforeAll(async () => {
  [nats, postgres] = await Promise.all([PrivateNats.start(), PrivatePostgres.start()]);
  // Everything the test helpers do (node environments, stores, cleanup) goes to the private ones.
  TEST_INFRA.natsUrl = nats.url;
  TEST_INFRA.databaseUrl = postgres.url;
  const nodes: ProcessNode[] = [];
  for (let i = 0; i < CLUSTER_NODES; i++) {
    nodes.push(
      await ProcessNode.start({
        prefix: 'chaos',
        env: {
          NETWORK_FAULT_INJECTION: 'true',
          SYNC_INTERVAL: '2s',
          SYNC_FREQUENCY: '3s',
          SYNC_CONVERGENCE_INTERVAL: '2s',
          DATABASE_POOL_MAX: '6',
          LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'info',
        },
      }),
    );
  }
  cluster = new ChaosCluster(nodes, nats, postgres);
}, 300_000);

afterAll(async () => {
  await cluster?.close();
  await Promise.all((cluster?.nodes ?? []).map((n) => n.stop({ keepData: true })));
  await Promise.all([nats?.stop(), postgres?.stop()]);
}, 120_000);

describe('chaos (every service a process; private NATS and Postgres)', () => {
  it(
    `converges after every history (${process.env.CHAOS_REPLAY ?? `${HISTORIES} from seed ${BASE_SEED}`})`,
    async () => {
      const seeds = process.env.CHAOS_REPLAY
        ? [process.env.CHAOS_REPLAY]
        : Array.from({ length: HISTORIES }, (_, k) => `${BASE_SEED}-${k}`);
      const reports: ChaosReport[] = [];
      const failures: string[] = [];
      const started = Date.now();
      for (const seed of seeds) {
        try {
          const report = await runChaosHistory(cluster, seed);
          reports.push(report);
          process.stdout.write(`${JSON.stringify(report)}\n`);
        } catch (err) {
          if (!(err instanceof ChaosFailure)) throw err;
          process.stderr.write(
            `${err.message}\nreplay: npm run chaos -- --replay ${seed}\n${JSON.stringify(err.report)}\n`,
          );
          failures.push(err.message);
          if (!KEEP_GOING) break;
        }
      }
      const totals: Record<string, number> = {};
      for (const r of reports) for (const [k, v] of Object.entries(r.faults)) totals[k] = (totals[k] ?? 0) + v;
      const summary = {
        histories: reports.length,
        failed: failures.length,
        minutes: Math.round((Date.now() - started) / 6_000) / 10,
        writesAcked: reports.reduce((t, r) => t + r.writes.acked, 0),
        writesRefused: reports.reduce((t, r) => t + r.writes.refused, 0),
        faults: totals,
        convergeSeconds: {
          max: Math.max(0, ...reports.map((r) => r.convergeMs)) / 1000,
          mean: reports.length ? reports.reduce((t, r) => t + r.convergeMs, 0) / reports.length / 1000 : 0,
        },
      };
      process.stdout.write(`${JSON.stringify(summary)}\n`);
      expect(failures).toEqual([]);
      expect(reports).toHaveLength(seeds.length);
    },
    Math.max(600_000, HISTORIES * 300_000),
  );
});
