import { describe, expect, it } from '@jest/globals';
import {
  decodeEntries,
  decodeScanRequest,
  encodeEntries,
  encodeScanRequest,
  inScanRange,
  overlayPage,
} from '../../src/scan.js';

const b = (s: string) => Buffer.from(s);
const entry = (k: string, v = `v:${k}`) => ({ key: b(k), value: b(v) });
const keys = (list: { key: Uint8Array }[]) => list.map((e) => Buffer.from(e.key).toString());

describe('storage scan encoding and overlay', () => {
  it('round-trips requests and pages, leaving off what does not fit', () => {
    for (const request of [
      { prefix: b('p/'), after: b('p/3'), limit: 7 },
      { prefix: b(''), after: undefined, limit: 1 },
    ]) {
      expect(decodeScanRequest(encodeScanRequest(request))).toEqual({
        prefix: Uint8Array.from(request.prefix),
        after: request.after && Uint8Array.from(request.after),
        limit: request.limit,
      });
    }
    const page = [entry('a'), entry('bb'), entry('ccc')];
    expect(keys(decodeEntries(encodeEntries(page, 1 << 20)))).toEqual(['a', 'bb', 'ccc']);
    // 4 + (8+1+3) + (8+2+4) = 30 bytes hold two entries; the third is left off.
    expect(keys(decodeEntries(encodeEntries(page, 30)))).toEqual(['a', 'bb']);
  });

  it('tells keys in range by prefix and strictly after the cursor', () => {
    expect(inScanRange(b('p/1'), { prefix: b('p/'), after: undefined })).toBe(true);
    expect(inScanRange(b('q/1'), { prefix: b('p/'), after: undefined })).toBe(false);
    expect(inScanRange(b('p/1'), { prefix: b('p/'), after: b('p/1') })).toBe(false);
    expect(inScanRange(b('p/2'), { prefix: b('p/'), after: b('p/1') })).toBe(true);
  });

  it('lays pending writes over a page: sets added in order, removals dropped, nothing past a full page', () => {
    const base = [entry('a'), entry('c'), entry('e')];
    const overlay = [
      { key: b('b'), value: b('new') },
      { key: b('c'), value: null },
      { key: b('f'), value: b('past the page') },
    ];
    // A full page ends at "e": "f" may have neighbours the page did not read, so it waits.
    expect(keys(overlayPage(base, true, overlay, 10))).toEqual(['a', 'b', 'e']);
    // The end of the state: "f" belongs.
    expect(keys(overlayPage(base, false, overlay, 10))).toEqual(['a', 'b', 'e', 'f']);
    expect(overlayPage(base, false, overlay, 2).map((e) => Buffer.from(e.value).toString())).toEqual(['v:a', 'new']);
  });
});
