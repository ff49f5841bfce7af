/**
 * Convergence status between two nodes whose every service is its own process, over real libp2p
 * on loopback, with the convergence probe every second: both see each other converged; a node that
 * cannot apply what it receives is behind (and its peer sees itself ahead), each with the reason; a
 * node that lost entries under the same DAG heads is diverged, which opens an episode that a state
 * comparison closes; and a node restarted whole finds its way back to converged with nobody
 * writing.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { admin } from '@cnode/proto';
import { ProcessNode, builtEntry, spawnNode, waitFor } from '@cnode/testing';

const { PeerConvergence_Verdict: Verdict } = admin;
const PROBE = { SYNC_CONVERGENCE_INTERVAL: '1s' };

let a: ProcessNode;
let b: ProcessNode;
let contextId: string;
let peerOf: Map<ProcessNode, string>;

/** `node`'s view of its one peer on the context. */
async function viewOfPeer(node: ProcessNode) {
  const view = await node.api.convergence(contextId);
  const peer = view.peers.find((p) => p.peerId === peerOf.get(node === a ? b : a));
  return { view, peer };
}

async function waitForVerdict(node: ProcessNode, verdict: admin.PeerConvergence_Verdict, message: string) {
  let last = '';
  await waitFor(
    async () => {
      const { peer } = await viewOfPeer(node);
      last = peer ? `${admin.peerConvergence_VerdictToJSON(peer.verdict)}: ${peer.reason}` : 'no peer record';
      return peer?.verdict === verdict;
    },
    { timeoutMs: 60_000, intervalMs: 200, message: () => `${message} (last: ${last})` },
  );
  return (await viewOfPeer(node)).peer!;
}

async function bothConverged(): Promise<void> {
  for (const node of [a, b]) {
    await waitForVerdict(node, Verdict.VERDICT_CONVERGED, `${node.name} converged with its peer`);
    await waitFor(async () => (await node.api.convergence(contextId)).converged, {
      message: `${node.name} converged with all`,
    });
  }
}

beforeAll(async () => {
  // B syncs at most once a minute unless forced: only its probe, not a timer, can notice it is behind.
  [a, b] = await Promise.all([
    ProcessNode.start({ env: PROBE }),
    ProcessNode.start({ env: { ...PROBE, SYNC_INTERVAL: '60s' } }),
  ]);
  ({ contextId } = await ProcessNode.sharedContext([a, b]));
  const [infoA, infoB] = await Promise.all([a.api.info(), b.api.info()]);
  peerOf = new Map([
    [a, infoA.peerId],
    [b, infoB.peerId],
  ]);
  await a.api.execute(contextId, 'set', { key: 'k0', value: 'v0' });
}, 180_000);

afterAll(async () => {
  await Promise.all([a, b].filter(Boolean).map((n) => n.stop()));
}, 60_000);

describe('convergence status', () => {
  it('two nodes with the same history see each other converged, in the API, the CLI and the metrics', async () => {
    await bothConverged();
    const { view, peer } = await viewOfPeer(b);
    expect(peer).toMatchObject({ counted: true, connected: true, reason: '', peerInitialized: true });
    expect(peer!.peerRootHash).toBe(view.rootHash);
    expect(peer!.heardAtMs).toBeGreaterThan(0n);
    expect(view.peers).toHaveLength(1);
    // The join ran a session with A: its outcome is on record.
    expect(peer!.lastSession?.outcome).toBe('ok');

    const cli = spawnNode(
      builtEntry('packages/cli/bin/cnode.js'),
      ['context', 'status', contextId, '--home', b.env.NODE_HOME!, '--token', b.env.ADMIN_TOKEN!],
      b.env,
    );
    expect(await cli.exited).toBe(0);
    const text = cli.lines.join('\n');
    expect(text).toMatch(/^converged\s+yes, with all 1 peer\(s\)/m);
    expect(text).toMatch(new RegExp(`^${peerOf.get(a)}\\s+converged\\s+yes\\s+\\d+ s ago`, 'm'));

    await waitFor(async () => (await b.metric('sync', 'sync_convergence_contexts', { state: 'converged' })) === 1, {
      message: 'the converged-contexts gauge',
    });
    expect(await b.metric('sync', 'sync_convergence_peers', { verdict: 'converged' })).toBe(1);
    expect(await b.metric('sync', 'sync_convergence_lag_seconds')).toBe(0);
    expect(await b.metric('sync', 'sync_convergence_probes_total', { outcome: 'ok' })).toBeGreaterThan(0);
  });

  it('a node that cannot apply what it receives is behind, and its peer sees itself ahead', async () => {
    await b.kill('state-delta');
    for (let i = 1; i <= 3; i++) await a.api.execute(contextId, 'set', { key: `behind/${i}`, value: String(i) });
    const fromB = await waitForVerdict(b, Verdict.VERDICT_BEHIND, 'B behind A');
    expect(fromB.reason).toMatch(/^missing deltas \S+ from peer/);
    expect(fromB.counted).toBe(true);
    const fromA = await waitForVerdict(a, Verdict.VERDICT_AHEAD, 'A ahead of B');
    expect(fromA.reason).toMatch(/^peer lacks our deltas/);
    const viewB = await b.api.convergence(contextId);
    expect(viewB.converged).toBe(false);
    expect(viewB.divergedSinceMs).toBeGreaterThan(0n);
    await waitFor(async () => (await b.metric('sync', 'sync_convergence_lag_seconds')) > 0, {
      message: 'a lag on B',
    });

    await b.startService('state-delta');
    await bothConverged();
    expect(await b.entries(contextId)).toEqual(await a.entries(contextId));
  });

  it('a node that lost entries under the same heads is diverged, with the reason, until a state comparison repairs it', async () => {
    const episodesBefore = (await a.api.convergence(contextId)).divergenceEpisodes;
    const lost = await b.loseEntries(contextId, 2);
    expect(lost).toBe(2);
    // The probe logs each peer it does not agree with when an episode begins.
    await waitFor(
      () =>
        a
          .logged('sync', 'Context no longer converged with its peers')
          .some((l) =>
            (l.peers as { verdict: string; reason: string }[]).some(
              (p) => p.verdict === 'diverged' && /same DAG heads, another root/.test(p.reason),
            ),
          ),
      { timeoutMs: 30_000, message: 'A to log B as diverged' },
    );
    // A's probe asks for a sync with B; the comparison puts the lost entries back.
    await bothConverged();
    expect(await b.entries(contextId)).toEqual(await a.entries(contextId));
    expect((await a.api.convergence(contextId)).divergenceEpisodes).toBeGreaterThan(episodesBefore);
    expect(await a.metric('sync', 'sync_divergence_episodes_total')).toBeGreaterThan(0);
    expect(await a.metric('sync', 'sync_convergence_syncs_requested_total', { outcome: 'diverged' })).toBeGreaterThan(
      0,
    );
  });

  it('a node restarted whole converges again with nobody writing after it is back', async () => {
    b.env.SYNC_INTERVAL = '5s';
    await b.stopServices();
    for (let i = 0; i < 20; i++) await a.api.execute(contextId, 'set', { key: `down/${i}`, value: String(i) });
    const rootA = (await a.api.getContext(contextId)).rootHash;
    await b.startServices();
    await bothConverged();
    expect((await b.api.getContext(contextId)).rootHash).toBe(rootA);
    expect((await a.api.getContext(contextId)).rootHash).toBe(rootA);
    expect(await b.entries(contextId)).toEqual(await a.entries(contextId));
    expect((await b.api.getContext(contextId)).pendingDeltas).toBe(0);
  });
});
