/**
 * The gc service between real processes: GC deletes old tombstones on every node without moving a
 * root hash; one of two gc replicas runs each cycle, and when it is killed mid-run the other takes
 * over and finishes; a run over 100 000 tombstones never makes a live write fail or wait it out.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AdminApi } from '@cnode/cli';
import { ZERO_ID, encodeHlc, fromBase58 } from '@cnode/primitives';
import { ProcessNode, builtEntry, spawnNode, waitFor } from '@cnode/testing';

const RETENTION = { GC_TOMBSTONE_RETENTION: '2s', GC_INTERVAL: '1h', GC_MAX_DELETIONS_PER_RUN: '100000' };
const SEEDED = 100_000;

let a: ProcessNode;
let b: ProcessNode;
let d: ProcessNode;
let contextId: string;

beforeAll(async () => {
  [a, b, d] = await Promise.all([
    ProcessNode.start({ prefix: 'ga', env: RETENTION }),
    ProcessNode.start({ prefix: 'gb', env: RETENTION }),
    // Short cycles and a short lease, so takeover happens within a test.
    ProcessNode.start({
      prefix: 'gd',
      env: {
        GC_INTERVAL: '4s',
        GC_TOMBSTONE_RETENTION: '1s',
        GC_LEADER_TTL: '3s',
        GC_BATCH_SIZE: '100',
        GC_MAX_DELETIONS_PER_RUN: '100000',
      },
    }),
  ]);
  contextId = (await a.api.createContext()).contextId;
  const { publicKey } = await b.api.createIdentity();
  await b.api.joinContext((await a.api.inviteMember(contextId, publicKey)).invitationText);
  await Promise.all([a, b].map((n) => n.waitForPeers(contextId, 1)));
  await b.waitForState(contextId);
}, 120_000);

afterAll(async () => {
  await Promise.all([a, b, d].filter(Boolean).map((n) => n.stop()));
}, 60_000);

const tombstones = (node: ProcessNode, context: string): Promise<number> =>
  node.withStore(async (s) => {
    const [r] = await s.sql<{ n: number }[]>`
      select count(*)::int as n from state_entries where context_id = ${Buffer.from(fromBase58(context))} and op_rank = 1`;
    return r!.n;
  });

/** 100 000 tombstones deleted long ago, in one statement (so a run sees all of them or none). */
async function seedTombstones(node: ProcessNode, context: string, prefix: string): Promise<void> {
  const hlc = encodeHlc({ wallTimeMs: 1_000_000n, counter: 0, nodeId: Buffer.alloc(16) });
  await node.withStore(
    (s) => s.sql`
      insert into state_entries (context_id, key, key_hash, bucket, value, value_hash, op_hlc, op_rank, author, deleted_at_ms)
      select ${Buffer.from(fromBase58(context))}, k, sha256(k), encode(substring(sha256(k) from 1 for 2), 'hex'),
             null, ${ZERO_ID}, ${hlc}, 1, null, 1000000
      from (select convert_to(${prefix} || i, 'UTF8') as k from generate_series(1, ${SEEDED}) i) s`,
  );
}

const rootOf = async (node: ProcessNode, context: string) => (await node.api.getContext(context)).rootHash;

describe('gc', () => {
  it('deletes tombstones past the retention on every node, with the CLI, and no root hash moves', async () => {
    for (let i = 0; i < 20; i++) await a.api.execute(contextId, 'set', { key: `k${i}`, value: `${i}` });
    for (let i = 0; i < 10; i++) await a.api.execute(contextId, 'remove', { key: `k${i}` });
    await waitFor(async () => (await rootOf(b, contextId)) === (await rootOf(a, contextId)), {
      message: 'B to converge with A',
    });
    await waitFor(async () => (await tombstones(b, contextId)) === 10, { message: "B to hold A's tombstones" });
    const roots = [await rootOf(a, contextId), await rootOf(b, contextId)];
    await new Promise((r) => setTimeout(r, 2_500)); // past the 2 s retention

    const cli = async (...args: string[]) => {
      const run = spawnNode(
        builtEntry('packages/cli/bin/cnode.js'),
        [...args, '--home', a.env.NODE_HOME!, '--token', a.env.ADMIN_TOKEN!, '--timeout', '60000'],
        a.env,
      );
      return { code: await run.exited, out: run.lines.join('\n') };
    };
    const run = await cli('gc', 'run', '--task', 'tombstones');
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^tombstones +ok +admin .* contexts=1 scanned=10 deleted=10 failed=0/m);
    const [onB] = await b.api.runGc(['tombstones']);
    expect(onB).toMatchObject({ task: 'tombstones', outcome: 'ok', deleted: 10n });

    for (const node of [a, b]) expect(await tombstones(node, contextId)).toBe(0);
    expect([await rootOf(a, contextId), await rootOf(b, contextId)]).toEqual(roots);
    expect(Object.keys(await b.entries(contextId)).sort()).toEqual(
      Array.from({ length: 10 }, (_, i) => `k${i + 10}`).sort(),
    );
    expect(await a.metric('gc', 'gc_items_deleted_total', { kind: 'tombstone' })).toBe(10);
    const status = await cli('gc', 'status', '--limit', '3');
    expect(status.out).toMatch(/^leader +\S+/m);
    expect(status.out).toMatch(/^tombstones +ok +admin/m);
    // Asking for a task that does not exist is refused before anything runs.
    expect((await cli('gc', 'run', '--task', 'everything')).out).toMatch(/INVALID_ARGUMENT: .*unknown everything/);
  }, 120_000);

  it('runs over 100 000 tombstones while writes go on: no write fails or waits for the run', async () => {
    const own = (await a.api.createContext()).contextId;
    for (let i = 0; i < 50; i++) await a.api.execute(own, 'set', { key: `live${i}`, value: 'v' });
    await seedTombstones(a, own, 'dead-');
    const root = await rootOf(a, own);
    const slowApi = new AdminApi({ address: a.adminAddress, token: a.env.ADMIN_TOKEN! }, 600_000);
    let done = false;
    const running = slowApi.runGc(['tombstones']).finally(() => (done = true));
    const latencies: { at: number; ms: number }[] = [];
    for (let i = 0; !done; i++) {
      const started = Date.now();
      await a.api.execute(own, 'set', { key: `during${i % 50}`, value: `${i}` });
      latencies.push({ at: started, ms: Date.now() - started });
    }
    const [report] = await running;
    slowApi.close();
    expect(report).toMatchObject({ outcome: 'ok', deleted: BigInt(SEEDED), failed: 0n });
    const [from, to] = [Number(report!.startedAtMs), Number(report!.finishedAtMs)];
    const during = latencies.filter((l) => l.at >= from && l.at + l.ms <= to);
    // Writes kept committing all through the run, each in a fraction of it.
    expect(during.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...latencies.map((l) => l.ms))).toBeLessThan((to - from) / 2);
    expect(await tombstones(a, own)).toBe(0);
    expect(Object.keys(await a.entries(own)).filter((k) => k.startsWith('live'))).toHaveLength(50);
    expect(await rootOf(a, own)).not.toBe(root); // the writes moved it; GC alone did not:
    expect(await a.withStore((s) => s.states.recomputeRootHash(Buffer.from(fromBase58(own))))).toEqual(
      Buffer.from(fromBase58(await rootOf(a, own))),
    );
  }, 300_000);

  it('two gc replicas: one runs each cycle; kill -9 of the leader mid-run, the other takes over and finishes', async () => {
    const own = (await d.api.createContext()).contextId;
    for (let i = 0; i < 20; i++) await d.api.execute(own, 'set', { key: `live${i}`, value: 'v' });
    const second = await d.addReplica('gc');
    const rootBefore = await rootOf(d, own);
    // A few cycles with both replicas up: every run is the first replica's, one at a time.
    await waitFor(
      async () => (await d.metric(second, 'gc_runs_skipped_total', { task: 'tombstones', reason: 'not_leader' })) >= 2,
      {
        timeoutMs: 30_000,
        message: 'the standby to skip two cycles',
      },
    );
    const runs = await d.withStore(
      (s) =>
        s.sql<{ replica: string; started_at: Date; finished_at: Date | null }[]>`
        select replica, started_at, finished_at from gc_runs where task = 'tombstones' order by id`,
    );
    expect(runs.length).toBeGreaterThanOrEqual(2);
    expect(new Set(runs.map((r) => r.replica)).size).toBe(1);
    for (let i = 1; i < runs.length; i++) expect(runs[i]!.started_at >= runs[i - 1]!.finished_at!).toBe(true);
    expect(await d.metric(second, 'gc_runs_total', { task: 'tombstones', outcome: 'ok' })).toBe(0);

    await seedTombstones(d, own, 'gone-');
    await waitFor(
      async () =>
        (await d.metric('gc', 'gc_runs_active', { task: 'tombstones' })) === 1 &&
        (await d.metric('gc', 'gc_items_deleted_total', { kind: 'tombstone' })) > 0,
      { timeoutMs: 30_000, intervalMs: 20, message: 'the leader to be mid-run' },
    );
    await d.kill('gc', 'SIGKILL');
    const left = await tombstones(d, own);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(SEEDED);

    const finishedBySecond = () =>
      d.withStore(async (s) => {
        const rows = await s.sql`
          select 1 from gc_runs where task = 'tombstones' and outcome = 'ok' and deleted > 0
            and replica <> ${runs[0]!.replica}`;
        return rows.length > 0;
      });
    await waitFor(finishedBySecond, { timeoutMs: 90_000, message: 'the other replica to take over and finish' });
    expect(await tombstones(d, own)).toBe(0);
    expect(await d.metric(second, 'gc_leader')).toBe(1);
    expect(await d.metric(second, 'gc_items_deleted_total', { kind: 'tombstone' })).toBe(left);
    const last = await d.withStore(
      (s) =>
        s.sql<{ replica: string; outcome: string }[]>`
        select replica, outcome from gc_runs where task = 'tombstones' order by id`,
    );
    // The killed run never finished (its row says so); a run of the new leader did.
    expect(last.filter((r) => r.outcome === 'running')).toHaveLength(1);
    expect(last.at(-1)!.replica).not.toBe(runs[0]!.replica);
    expect(Object.keys(await d.entries(own))).toHaveLength(20);
    expect(await rootOf(d, own)).toBe(rootBefore);
  }, 240_000);
});
