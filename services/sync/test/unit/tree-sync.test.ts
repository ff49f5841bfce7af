import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { bucketHash, bucketOf, encodeHlc, HlcClock, keyHashOf } from '@cnode/primitives';
import { entryToWire } from '@cnode/context-core';
import { wire } from '@cnode/proto';
import { entryValueHash, type SyncEntry } from '@cnode/store';
import { deflateRawSync } from 'node:zlib';
import { treeNodesOf, unpackChildren, verifyNode } from '../../src/initiator/tree-sync.js';
import { packChildren } from '../../src/responder/serve-tree-nodes.js';

const clock = new HlcClock(randomBytes(16));
const DIGEST = 4;

/** Entries whose keys all fall in one bucket (found by trying keys). */
function bucketEntries(count: number): { path: string; entries: SyncEntry[] } {
  const first = Buffer.from(`k-${randomBytes(4).toString('hex')}`);
  const path = bucketOf(keyHashOf(first));
  const entries: SyncEntry[] = [];
  for (let i = 0; entries.length < count; i++) {
    const key = i === 0 ? first : Buffer.from(`k-${randomBytes(4).toString('hex')}`);
    if (bucketOf(keyHashOf(key)) !== path) continue;
    entries.push({ key, value: randomBytes(8), hlc: encodeHlc(clock.now()), deleted: false, author: null });
  }
  return { path, entries };
}

const hashOf = (entries: SyncEntry[]): Buffer =>
  bucketHash(
    entries
      .filter((e) => !e.deleted)
      .map((e) => ({ keyHash: keyHashOf(e.key), valueHash: entryValueHash(e), hlc: e.hlc })),
  );

function bucketNode(path: string, entries: SyncEntry[], over: Partial<wire.TreeNodeData> = {}): wire.TreeNodeData {
  return {
    path,
    found: true,
    hash: hashOf(entries),
    childMask: 0,
    childDigests: Buffer.alloc(0),
    entries: entries.map(entryToWire),
    ...over,
  };
}

function innerNode(path: string, nibbles: number[]): wire.TreeNodeData {
  const salt = randomBytes(16);
  const packed = packChildren(
    nibbles.map((nibble) => ({ nibble, hash: randomBytes(32) })),
    salt,
    DIGEST,
  );
  return { path, found: nibbles.length > 0, hash: Buffer.alloc(0), ...packed, entries: [] };
}

describe('tree node checks', () => {
  it('unpacks the digests of an inner node by nibble', () => {
    const node = innerNode('a', [0, 3, 15]);
    const children = unpackChildren(node, DIGEST);
    expect([...children.keys()]).toEqual([0, 3, 15]);
    expect(Buffer.concat([...children.values()])).toEqual(node.childDigests);
  });

  it('refuses children packed inconsistently with their mask', () => {
    const node = innerNode('a', [1, 2]);
    expect(() => verifyNode({ ...node, childDigests: node.childDigests.subarray(1) }, [], DIGEST)).toThrow(
      /packs its children inconsistently/,
    );
    expect(() => verifyNode({ ...node, childMask: node.childMask | (1 << 20) }, [], DIGEST)).toThrow(
      /packs its children inconsistently/,
    );
  });

  it('accepts a bucket whose live entries hash to its hash, tombstones aside', () => {
    const { path, entries } = bucketEntries(3);
    const tombstone: SyncEntry = { ...entries[2]!, value: null, deleted: true };
    const withTombstone = [entries[0]!, entries[1]!, tombstone];
    expect(() => verifyNode(bucketNode(path, withTombstone), withTombstone, DIGEST)).not.toThrow();
  });

  it.each([
    ['a wrong hash', (n: wire.TreeNodeData) => ({ ...n, hash: randomBytes(32) }), /does not hash to its entries/],
    [
      'children',
      (n: wire.TreeNodeData) => ({ ...n, childMask: 1, childDigests: randomBytes(DIGEST) }),
      /bucket with children/,
    ],
    ['live entries while absent', (n: wire.TreeNodeData) => ({ ...n, found: false }), /absent but has live entries/],
  ])('refuses a bucket with %s', (_what, tamper, message) => {
    const { path, entries } = bucketEntries(2);
    expect(() => verifyNode(tamper(bucketNode(path, entries)), entries, DIGEST)).toThrow(message);
  });

  it('refuses a bucket holding a key of another bucket', () => {
    const { path, entries } = bucketEntries(1);
    let stranger = bucketEntries(1).entries[0]!;
    while (bucketOf(keyHashOf(stranger.key)) === path) stranger = bucketEntries(1).entries[0]!;
    const mixed = [...entries, stranger];
    expect(() => verifyNode(bucketNode(path, mixed), mixed, DIGEST)).toThrow(/holds a foreign key/);
  });

  it('refuses inner nodes with entries, without children, or absent with children', () => {
    const { entries } = bucketEntries(1);
    expect(() => verifyNode(innerNode('ab', [1]), entries, DIGEST)).toThrow(/inner node with entries/);
    expect(() => verifyNode({ ...innerNode('ab', []), found: true }, [], DIGEST)).toThrow(/without children/);
    expect(() => verifyNode({ ...innerNode('ab', [4]), found: false }, [], DIGEST)).toThrow(/absent but has children/);
  });
});

describe('tree answers', () => {
  const nodes = [innerNode('a', [1, 2]), innerNode('b', [3])];
  const body = Buffer.from(wire.TreeNodes.encode({ nodes }).finish());

  it('come plain or deflated, with the same nodes', () => {
    const plain = wire.TreeNodeResponse.fromPartial({ nodes });
    const packed = wire.TreeNodeResponse.fromPartial({
      compressed: deflateRawSync(body),
      uncompressedLen: body.length,
    });
    expect(treeNodesOf(plain)).toEqual(nodes);
    expect(treeNodesOf(packed).map((n) => n.path)).toEqual(['a', 'b']);
  });

  it('are refused when they inflate past their declared size, or carry nodes both ways', () => {
    const bomb = wire.TreeNodeResponse.fromPartial({
      compressed: deflateRawSync(Buffer.alloc(32 * 1024 * 1024)),
      uncompressedLen: 1024,
    });
    expect(() => treeNodesOf(bomb)).toThrow(/does not decompress within its declared size/);
    const oversize = wire.TreeNodeResponse.fromPartial({
      compressed: deflateRawSync(body),
      uncompressedLen: 64 * 1024 * 1024,
    });
    expect(() => treeNodesOf(oversize)).toThrow(/oversize body/);
    const both = wire.TreeNodeResponse.fromPartial({
      nodes,
      compressed: deflateRawSync(body),
      uncompressedLen: body.length,
    });
    expect(() => treeNodesOf(both)).toThrow(/both plain and compressed/);
  });
});
