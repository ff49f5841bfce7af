import { randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from '@jest/globals';
import { encodeHlc, HlcClock } from '@cnode/primitives';
import { wire } from '@cnode/proto';
import { openPage } from '../../src/initiator/snapshot.js';
import { SNAPSHOT_PAGE_BYTES_MAX } from '../../src/constants.js';

const clock = new HlcClock(randomBytes(16));
const entry = (i: number): wire.StateEntry => ({
  key: Buffer.from(`key-${i}`),
  value: randomBytes(16),
  hlc: encodeHlc(clock.now()),
  deleted: false,
  author: randomBytes(32),
});

function page(
  entries: wire.StateEntry[],
  over: Partial<wire.SnapshotPage> = {},
  covered: Buffer[] = [],
): wire.SnapshotPage {
  const body = Buffer.from(wire.SnapshotEntries.encode({ entries, covered }).finish());
  return {
    payload: deflateRawSync(body),
    uncompressedLen: body.length,
    entryCount: entries.length,
    last: false,
    ...over,
  };
}

describe('snapshot pages', () => {
  it('opens a page into its entries', () => {
    const entries = [entry(1), entry(2), entry(3)];
    expect(openPage(page(entries)).entries.map((e) => e.key.toString())).toEqual(['key-1', 'key-2', 'key-3']);
  });

  it('opens the covered delta ids a page carries, and refuses one that is no delta id', () => {
    const ids = [randomBytes(32), randomBytes(32)];
    expect(openPage(page([], {}, ids)).covered).toEqual(ids);
    expect(() => openPage(page([], {}, [randomBytes(31)]))).toThrow(/covered delta id is not 32 bytes/);
  });

  it('stops a decompression bomb at the declared size', () => {
    // 64 MiB of zeros deflate to a few KiB; the page claims 1 KiB.
    const bomb = deflateRawSync(Buffer.alloc(64 * 1024 * 1024));
    expect(() => openPage({ payload: bomb, uncompressedLen: 1024, entryCount: 1, last: false })).toThrow(
      /does not decompress within its declared size/,
    );
  });

  it('refuses a declared size beyond the page limit before inflating anything', () => {
    expect(() => openPage(page([entry(1)], { uncompressedLen: SNAPSHOT_PAGE_BYTES_MAX * 2 + 1 }))).toThrow(
      /oversize body/,
    );
  });

  it('refuses a body shorter than declared, a wrong entry count and bytes that do not decode', () => {
    const good = page([entry(1), entry(2)]);
    expect(() => openPage({ ...good, uncompressedLen: good.uncompressedLen + 10 })).toThrow(
      /differs from the declared size/,
    );
    expect(() => openPage({ ...good, entryCount: 3 })).toThrow(/entry count differs/);
    const junk = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(() =>
      openPage({ payload: deflateRawSync(junk), uncompressedLen: junk.length, entryCount: 0, last: true }),
    ).toThrow(/does not decode/);
  });

  it('refuses entries that may not touch our state (a tombstone with a value, a future HLC)', () => {
    const tombstone = { ...entry(1), deleted: true };
    expect(() => openPage(page([tombstone]))).toThrow(/tombstone carries no value/);
    const future = { ...entry(2), hlc: encodeHlc({ ...clock.now(), wallTimeMs: BigInt(Date.now() + 3_600_000) }) };
    expect(() => openPage(page([future]))).toThrow(/state entry refused/);
  });
});
