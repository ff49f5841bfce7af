import { describe, expect, it } from '@jest/globals';
import { admin } from '@cnode/proto';
import {
  contextConverged,
  judgePeer,
  Verdict,
  type DagView,
  type OurState,
  type PeerRecord,
} from '../../src/convergence.js';

const id = (n: number): Buffer => Buffer.alloc(32, n);
const hex = (n: number): string => id(n).toString('hex');
const NOW = 1_000_000;
const opts = { nowMs: NOW, staleAfterMs: 90_000, connected: true };

/** A DAG that knows `known` (hex) and holds `pending` of them waiting for parents. */
const dagOf = (known: number[], pending: number[] = []): DagView => ({
  known: async (ids) => new Set(ids.map((i) => i.toString('hex')).filter((h) => known.map(hex).includes(h))),
  pending: async (ids) => new Set(ids.map((i) => i.toString('hex')).filter((h) => pending.map(hex).includes(h))),
});

const ours: OurState = { initialized: true, rootHash: id(100), heads: [id(1), id(2)] };
const told = (heads: number[], root = 100, over: Partial<NonNullable<PeerRecord['state']>> = {}): PeerRecord => ({
  peer: 'P',
  state: { initialized: true, rootHash: hex(root), heads: heads.map(hex), atMs: NOW - 1_000, via: 'probe', ...over },
});

describe('judgePeer', () => {
  it('same heads and root: converged, no reason', async () => {
    const j = await judgePeer(ours, told([2, 1]), dagOf([1, 2]), opts);
    expect(j).toEqual({ verdict: Verdict.VERDICT_CONVERGED, reason: '', counted: true });
  });

  it('same heads, another root: diverged, and says a state comparison repairs it', async () => {
    const j = await judgePeer(ours, told([1, 2], 101), dagOf([1, 2]), opts);
    expect(j.verdict).toBe(Verdict.VERDICT_DIVERGED);
    expect(j.reason).toMatch(/same DAG heads, another root/);
  });

  it('heads of the peer we never saw: behind, naming the missing deltas', async () => {
    const j = await judgePeer(ours, told([3]), dagOf([1, 2]), opts);
    expect(j.verdict).toBe(Verdict.VERDICT_BEHIND);
    expect(j.reason).toMatch(/^missing deltas \S+ from peer/);
  });

  it('a head of the peer held here only as pending: behind, waiting for parents', async () => {
    const j = await judgePeer(ours, told([3]), dagOf([1, 2, 3], [3]), opts);
    expect(j.verdict).toBe(Verdict.VERDICT_BEHIND);
    expect(j.reason).toMatch(/wait here for missing parents/);
  });

  it('every head of the peer known, ours differ: ahead', async () => {
    const j = await judgePeer(ours, told([1], 99), dagOf([1, 2]), opts);
    expect(j.verdict).toBe(Verdict.VERDICT_AHEAD);
    expect(j.reason).toMatch(/^peer lacks our deltas/);
  });

  it('equal roots do not hide a DAG difference', async () => {
    const j = await judgePeer(ours, told([1]), dagOf([1, 2]), opts);
    expect(j.verdict).toBe(Verdict.VERDICT_AHEAD);
    expect(j.reason).toMatch(/same root/);
  });

  it('our side without state is behind a peer with state; a peer without state is behind us', async () => {
    const empty: OurState = { initialized: false, rootHash: id(0), heads: [] };
    expect((await judgePeer(empty, told([1]), dagOf([]), opts)).verdict).toBe(Verdict.VERDICT_BEHIND);
    const j = await judgePeer(ours, told([], 0, { initialized: false }), dagOf([1, 2]), opts);
    expect(j).toMatchObject({ verdict: Verdict.VERDICT_AHEAD, reason: 'peer has no state yet' });
  });

  it('a state older than the stale bound is unknown; never heard is unknown', async () => {
    const old = await judgePeer(ours, told([1, 2], 100, { atMs: NOW - 100_000 }), dagOf([1, 2]), opts);
    expect(old).toMatchObject({ verdict: Verdict.VERDICT_UNKNOWN, counted: true });
    expect(old.reason).toMatch(/not heard from for 100 s/);
    const never = await judgePeer(ours, { peer: 'P' }, dagOf([]), { ...opts, connected: false });
    expect(never.reason).toMatch(/^no route to peer/);
  });

  it('a peer that failed to prove membership is unknown and does not count', async () => {
    const peer: PeerRecord = {
      ...told([1, 2]),
      failure: { reason: 'peer_not_member', message: 'P does not prove a member identity', atMs: NOW },
    };
    const j = await judgePeer(ours, peer, dagOf([1, 2]), opts);
    expect(j).toMatchObject({ verdict: Verdict.VERDICT_UNKNOWN, counted: false });
    expect(j.reason).toMatch(/^peer not a member at our cut/);
  });

  it('an older failure does not override a fresher state', async () => {
    const peer: PeerRecord = { ...told([1, 2]), failure: { reason: 'timeout', message: 'x', atMs: NOW - 5_000 } };
    expect((await judgePeer(ours, peer, dagOf([1, 2]), opts)).verdict).toBe(Verdict.VERDICT_CONVERGED);
  });

  it('a lasting difference names our sync backoff and a lost route', async () => {
    const sync = {
      state: admin.SyncStatus_State.STATE_BACKING_OFF,
      lastError: 'SYNC_PEER_REFUSED',
      retryInSecs: 8,
    } as admin.SyncStatus;
    const j = await judgePeer(ours, told([3]), dagOf([1, 2]), { ...opts, connected: false, sync });
    expect(j.reason).toMatch(/no route to peer \(not subscribed/);
    expect(j.reason).toMatch(/sync backing off after SYNC_PEER_REFUSED \(retry in 8 s\)/);
  });
});

describe('contextConverged', () => {
  const j = (verdict: Verdict, counted = true) => ({ verdict, reason: '', counted });
  it('needs at least one counted peer, all converged', () => {
    expect(contextConverged([])).toBe(false);
    expect(contextConverged([j(Verdict.VERDICT_CONVERGED)])).toBe(true);
    expect(contextConverged([j(Verdict.VERDICT_CONVERGED), j(Verdict.VERDICT_UNKNOWN, false)])).toBe(true);
    expect(contextConverged([j(Verdict.VERDICT_CONVERGED), j(Verdict.VERDICT_BEHIND)])).toBe(false);
    expect(contextConverged([j(Verdict.VERDICT_UNKNOWN, false)])).toBe(false);
  });
});
