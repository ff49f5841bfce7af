/**
 * Catch-up cost between two nodes, every service in its own process, real libp2p on loopback. For
 * each state size, A fills a fresh context (values with entropy, as application state has); B joins
 * it, which takes a snapshot: the reference row. Then entries vanish from B's store while its
 * history stays (only a state comparison can repair that), and B syncs with A: for each number of
 * differing entries, the protocol chosen, the time until both roots are equal, and the bytes moved,
 * next to the snapshot's bytes. Prints numbers; asserts nothing.
 *
 *   npm run bench -- sync [sizes] [differing]      (defaults: 10000,100000 and 10,1000,all)
 */
import '@cnode/runtime/polyfills';
import { randomBytes } from 'node:crypto';
import { ProcessNode, waitFor } from '@cnode/testing';

const sizes = (process.argv[2] ?? '10000,100000').split(',').map(Number);
const differing = (process.argv[3] ?? '10,1000,all').split(',');
const FILL_BATCH = 1000;

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

const [a, b] = await Promise.all([ProcessNode.start({ prefix: 'sa' }), ProcessNode.start({ prefix: 'sb' })]);
const rows: Row[] = [];
try {
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
console.log('\nsync catch-up: B repairs its state from A (bytes both ways, as B counts them)\n');
console.log(
  `${'entries'.padStart(8)}  ${'differing'.padEnd(14)} ${'protocol'.padEnd(28)} ${'time'.padStart(9)} ${'bytes'.padStart(12)}  vs snapshot`,
);
for (const r of rows) {
  console.log(
    `${String(r.size).padStart(8)}  ${r.differing.padEnd(14)} ${r.protocol.padEnd(28)} ${`${(r.ms / 1000).toFixed(2)} s`.padStart(9)} ${kib(r.bytes).padStart(12)}  ${(r.bytes / r.snapshotBytes).toFixed(4)}`,
  );
}
