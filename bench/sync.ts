/**
 * Catch-up cost between two nodes, every service in its own process, real libp2p on loopback.
 *
 * Missed history first: B joins a context, stops (every service, data kept), A writes `--missed`
 * deltas (default 5000, one action each, 32 concurrent writers), B starts again and catches up by
 * delta catch-up; the row gives deltas/s from B's services being up to equal roots.
 *
 * Then the state comparisons: for each state size, A fills a fresh context (values with entropy, as application state has); B joins
 * it, which takes a snapshot: the reference row. Then entries vanish from B's store while its
 * history stays (only a state comparison can repair that), and B syncs with A: for each number of
 * differing entries, the protocol chosen, the time until both roots are equal, and the bytes moved,
 * next to the snapshot's bytes. Prints numbers; asserts nothing.
 *
 *   npm run bench -- sync [--missed N] [--sizes a,b] [--differing x,y,all] [--json]
 *   (defaults: 5000; 10000,100000; 10,1000,all. `--missed 0` or `--sizes none` skips a part.)
 *
 * `--json` prints the results as one JSON object on the last line of stdout.
 */
import '@cnode/runtime/polyfills';
import { randomBytes } from 'node:crypto';
import { ProcessNode, waitFor } from '@cnode/testing';

const argv = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const json = argv.includes('--json');
const missed = Number(option('--missed') ?? 5000);
const sizesArg = option('--sizes') ?? '10000,100000';
const sizes = sizesArg === 'none' ? [] : sizesArg.split(',').map(Number);
const differing = (option('--differing') ?? '10,1000,all').split(',');
const FILL_BATCH = 1000;
const CATCHUP_WRITERS = 32;

interface Row {
  size: number;
  differing: string;
  protocol: string;
  ms: number;
  bytes: number;
  snapshotBytes: number;
}

const now = (): number => performance.now();

async function syncBytes(node: ProcessNode): Promise<number> {
  return node.metric('sync', 'sync_bytes_total');
}

/** Bytes are counted when a session ends: wait until none runs. */
async function sessionsEnded(node: ProcessNode): Promise<void> {
  await waitFor(async () => (await node.metric('sync', 'sync_sessions_active')) === 0, {
    timeoutMs: 120_000,
    message: `${node.name}'s sync sessions to end`,
  });
}

async function sameRoot(a: ProcessNode, b: ProcessNode, contextId: string): Promise<boolean> {
  const [ra, rb] = await Promise.all([a.api.getContext(contextId), b.api.getContext(contextId)]);
  return ra.rootHash === rb.rootHash;
}

interface CatchupRow {
  missed: number;
  protocol: string;
  ms: number;
  deltasPerSec: number;
}

/** B misses `count` deltas while it is down, then catches up: time from B's services up to equal roots. */
async function missedHistory(a: ProcessNode, b: ProcessNode, count: number): Promise<CatchupRow> {
  const { contextId } = await a.api.createContext();
  const { publicKey } = await b.api.createIdentity();
  await b.api.joinContext((await a.api.inviteMember(contextId, publicKey)).invitationText);
  await a.api.execute(contextId, 'set', { key: 'before', value: 'B was here' });
  await waitFor(async () => (await b.api.getContext(contextId)).initialized && (await sameRoot(a, b, contextId)), {
    timeoutMs: 120_000,
    message: 'B to hold the context before it stops',
  });
  await b.stopServices();
  const written = now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CATCHUP_WRITERS }, async () => {
      while (next < count) {
        const i = next++;
        await a.api.execute(contextId, 'set', { key: `missed/${i}`, value: randomBytes(24).toString('base64url') });
      }
    }),
  );
  process.stderr.write(`A wrote ${count} deltas in ${((now() - written) / 1000).toFixed(1)} s while B was down\n`);
  await b.startServices();
  const started = now();
  await b.api.triggerSync(contextId, (await a.api.info()).peerId).catch(() => undefined);
  await waitFor(() => sameRoot(a, b, contextId), {
    timeoutMs: 600_000,
    intervalMs: 50,
    message: `B to catch up ${count} missed deltas`,
  });
  const ms = now() - started;
  await sessionsEnded(b);
  return {
    missed: count,
    protocol: (await b.api.syncStatus(contextId)).lastProtocol,
    ms,
    deltasPerSec: count / (ms / 1000),
  };
}

const [a, b] = await Promise.all([ProcessNode.start({ prefix: 'sa' }), ProcessNode.start({ prefix: 'sb' })]);
const rows: Row[] = [];
let catchup: CatchupRow | undefined;
try {
  if (missed > 0) catchup = await missedHistory(a, b, missed);
  const peerA = (await a.api.info()).peerId;
  for (const size of sizes) {
    const { contextId } = await a.api.createContext();
    const filled = now();
    for (let i = 0; i < size; i += FILL_BATCH) {
      const entries = Array.from({ length: Math.min(FILL_BATCH, size - i) }, (_, j) => ({
        key: `k/${i + j}`,
        value: randomBytes(24).toString('base64url'),
      }));
      await a.api.execute(contextId, 'set_many', { entries });
    }
    process.stderr.write(`filled ${size} entries in ${((now() - filled) / 1000).toFixed(1)} s\n`);

    // The reference: B joins and gets the whole state by snapshot.
    const bytesBefore = await syncBytes(b);
    const joined = now();
    const { publicKey } = await b.api.createIdentity();
    await b.api.joinContext((await a.api.inviteMember(contextId, publicKey)).invitationText);
    await waitFor(async () => (await b.api.getContext(contextId)).initialized && (await sameRoot(a, b, contextId)), {
      timeoutMs: 600_000,
      intervalMs: 50,
      message: 'B to take the snapshot',
    });
    const snapshotMs = now() - joined;
    await sessionsEnded(b);
    const snapshotBytes = (await syncBytes(b)) - bytesBefore;
    rows.push({
      size,
      differing: 'snapshot',
      protocol: 'snapshot',
      ms: snapshotMs,
      bytes: snapshotBytes,
      snapshotBytes,
    });

    for (const d of differing) {
      const lost = await b.loseEntries(contextId, d === 'all' ? undefined : Number(d));
      const before = await syncBytes(b);
      const started = now();
      await b.api.triggerSync(contextId, peerA);
      await waitFor(() => sameRoot(a, b, contextId), { timeoutMs: 600_000, intervalMs: 50, message: 'B to repair' });
      const ms = now() - started;
      await sessionsEnded(b);
      const status = await b.api.syncStatus(contextId);
      rows.push({
        size,
        differing: `${d} (${lost})`,
        protocol: status.lastProtocol,
        ms,
        bytes: (await syncBytes(b)) - before,
        snapshotBytes,
      });
    }
  }
} finally {
  await Promise.all([a.stop(), b.stop()]);
}

const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;
if (catchup) {
  console.log('\nmissed history: B was down while A wrote, then catches up\n');
  console.log(`${'missed'.padStart(8)}  ${'protocol'.padEnd(28)} ${'time'.padStart(9)} ${'deltas/s'.padStart(10)}`);
  console.log(
    `${String(catchup.missed).padStart(8)}  ${catchup.protocol.padEnd(28)} ${`${(catchup.ms / 1000).toFixed(2)} s`.padStart(9)} ${catchup.deltasPerSec.toFixed(0).padStart(10)}`,
  );
}
if (rows.length > 0) {
  console.log('\nsync catch-up: B repairs its state from A (bytes both ways, as B counts them)\n');
  console.log(
    `${'entries'.padStart(8)}  ${'differing'.padEnd(14)} ${'protocol'.padEnd(28)} ${'time'.padStart(9)} ${'bytes'.padStart(12)}  vs snapshot`,
  );
  for (const r of rows) {
    console.log(
      `${String(r.size).padStart(8)}  ${r.differing.padEnd(14)} ${r.protocol.padEnd(28)} ${`${(r.ms / 1000).toFixed(2)} s`.padStart(9)} ${kib(r.bytes).padStart(12)}  ${(r.bytes / r.snapshotBytes).toFixed(4)}`,
    );
  }
}
if (json) {
  const round = (n: number): number => Number(n.toFixed(2));
  console.log(
    JSON.stringify({
      catchupDeltasPerSec: catchup ? round(catchup.deltasPerSec) : null,
      catchup: catchup ? { ...catchup, ms: round(catchup.ms), deltasPerSec: round(catchup.deltasPerSec) } : null,
      repairs: rows.map((r) => ({ ...r, ms: round(r.ms) })),
    }),
  );
}
