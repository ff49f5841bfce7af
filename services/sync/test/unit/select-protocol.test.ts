import { describe, expect, it } from '@jest/globals';
import {
  LEVEL_WISE_DIVERGENCE,
  SyncProtocol,
  selectProtocol,
  treeProtocol,
  type SyncSide,
} from '../../src/initiator/select-protocol.js';

const root = (n: number): Buffer => Buffer.alloc(32, n);
const side = (over: Partial<SyncSide> = {}): SyncSide => ({
  initialized: true,
  rootHash: root(1),
  entryCount: 1000,
  ...over,
});
const apart = { lacking: 0, peerBehind: false };

describe('protocol selection', () => {
  it('does nothing with a peer that has no state, whatever ours', () => {
    expect(selectProtocol(side(), side({ initialized: false, rootHash: root(0) }), apart)).toBe(SyncProtocol.None);
    expect(selectProtocol(side({ initialized: false }), side({ initialized: false }), apart)).toBe(SyncProtocol.None);
  });

  it('does nothing when the roots are equal and the peer has no head we lack', () => {
    expect(selectProtocol(side(), side(), apart)).toBe(SyncProtocol.None);
    expect(selectProtocol(side(), side(), { lacking: 0, peerBehind: true })).toBe(SyncProtocol.None);
  });

  it('catches up deltas with equal roots when the peer has heads we lack (writes that changed no root)', () => {
    expect(selectProtocol(side(), side(), { lacking: 3, peerBehind: false })).toBe(SyncProtocol.DeltaCatchup);
  });

  it('takes a snapshot only without state of our own', () => {
    expect(selectProtocol(side({ initialized: false, rootHash: root(0) }), side(), apart)).toBe(SyncProtocol.Snapshot);
    // An initialized node never snapshots, even when it is empty or far apart (invariant I5).
    for (const local of [side({ entryCount: 0, rootHash: root(0) }), side({ entryCount: 1 })]) {
      expect(selectProtocol(local, side({ rootHash: root(2) }), apart)).not.toBe(SyncProtocol.Snapshot);
    }
  });

  it('catches up deltas first when the peer has heads we lack', () => {
    expect(selectProtocol(side(), side({ rootHash: root(2) }), { lacking: 1, peerBehind: false })).toBe(
      SyncProtocol.DeltaCatchup,
    );
  });

  it('pulls nothing from a peer that is only behind us', () => {
    expect(selectProtocol(side(), side({ rootHash: root(2) }), { lacking: 0, peerBehind: true })).toBe(
      SyncProtocol.None,
    );
  });

  it('compares trees when the heads agree but the roots do not', () => {
    expect(selectProtocol(side(), side({ rootHash: root(2), entryCount: 1010 }), apart)).toBe(
      SyncProtocol.HashComparison,
    );
  });

  it('goes level-wise when the entry counts say many entries differ', () => {
    // Divergence is |ours − theirs| / theirs.
    const theirs = side({ entryCount: 1000 });
    const within = 1000 - 1000 * LEVEL_WISE_DIVERGENCE;
    expect(treeProtocol(side({ entryCount: 1000 }), theirs)).toBe(SyncProtocol.HashComparison);
    expect(treeProtocol(side({ entryCount: within }), theirs)).toBe(SyncProtocol.HashComparison);
    expect(treeProtocol(side({ entryCount: within - 1 }), theirs)).toBe(SyncProtocol.LevelWise);
    expect(treeProtocol(side({ entryCount: 2000 }), theirs)).toBe(SyncProtocol.LevelWise);
    expect(treeProtocol(side({ entryCount: 0 }), side({ entryCount: 0 }))).toBe(SyncProtocol.HashComparison);
  });
});
