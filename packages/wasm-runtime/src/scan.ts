/**
 * Ordered reads of the replicated state: `cnode_storage_scan`, this node's extension of the host
 * ABI. Upstream applications list a collection through their SDK's own index, which upstream's
 * storage layer merges as part of its CRDT entities; here a call's writes are per-key actions with
 * last-writer-wins, so an application-kept index would lose keys written concurrently on two nodes.
 * A scan of the state itself stays right under concurrency: it sees every key the node holds.
 */

/** A live entry of the state. */
export interface ScanEntry {
  key: Uint8Array;
  value: Uint8Array;
}

/** Live entries whose key starts with `prefix`, strictly after `after` (if any), in key order, at most `limit`. */
export interface ScanRequest {
  prefix: Uint8Array;
  after: Uint8Array | undefined;
  limit: number;
}

/** Most entries one scan returns. */
export const MAX_SCAN_ENTRIES = 1024;

const NO_AFTER = 0xffffffff;

export function encodeScanRequest(r: ScanRequest): Uint8Array {
  const out = Buffer.alloc(12 + r.prefix.length + (r.after?.length ?? 0));
  let at = out.writeUInt32LE(r.prefix.length, 0);
  out.set(r.prefix, at);
  at += r.prefix.length;
  at = out.writeUInt32LE(r.after ? r.after.length : NO_AFTER, at);
  if (r.after) {
    out.set(r.after, at);
    at += r.after.length;
  }
  out.writeUInt32LE(r.limit, at);
  return out;
}

export function decodeScanRequest(bytes: Uint8Array): ScanRequest {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const prefixLength = b.readUInt32LE(0);
  const prefix = Uint8Array.from(b.subarray(4, 4 + prefixLength));
  let at = 4 + prefixLength;
  const afterLength = b.readUInt32LE(at);
  at += 4;
  let after: Uint8Array | undefined;
  if (afterLength !== NO_AFTER) {
    after = Uint8Array.from(b.subarray(at, at + afterLength));
    at += afterLength;
  }
  return { prefix, after, limit: b.readUInt32LE(at) };
}

/**
 * `u32 count` then `(u32 key length, key, u32 value length, value)*`, little-endian (the layout of
 * upstream's `storage_index_scan`). Entries that would take the encoding past `maxBytes` are left
 * off: the page is shorter, and the caller goes on after its last key.
 */
export function encodeEntries(entries: readonly ScanEntry[], maxBytes: number): Uint8Array {
  let size = 4;
  let count = 0;
  for (const e of entries) {
    const next = size + 8 + e.key.length + e.value.length;
    if (next > maxBytes) break;
    size = next;
    count++;
  }
  const out = Buffer.alloc(size);
  let at = out.writeUInt32LE(count, 0);
  for (const e of entries.slice(0, count)) {
    at = out.writeUInt32LE(e.key.length, at);
    out.set(e.key, at);
    at += e.key.length;
    at = out.writeUInt32LE(e.value.length, at);
    out.set(e.value, at);
    at += e.value.length;
  }
  return out;
}

export function decodeEntries(bytes: Uint8Array): ScanEntry[] {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = b.readUInt32LE(0);
  const entries: ScanEntry[] = [];
  let at = 4;
  for (let i = 0; i < count; i++) {
    const keyLength = b.readUInt32LE(at);
    const key = Uint8Array.from(b.subarray(at + 4, at + 4 + keyLength));
    at += 4 + keyLength;
    const valueLength = b.readUInt32LE(at);
    const value = Uint8Array.from(b.subarray(at + 4, at + 4 + valueLength));
    at += 4 + valueLength;
    entries.push({ key, value });
  }
  return entries;
}

/** Whether `key` falls in the request's range (prefix, strictly after `after`). */
export function inScanRange(key: Uint8Array, r: Pick<ScanRequest, 'prefix' | 'after'>): boolean {
  const k = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  return k.subarray(0, r.prefix.length).equals(r.prefix) && (!r.after || Buffer.compare(k, r.after) > 0);
}

/**
 * A page of the state as seen through writes not in it yet (a call's own, or calls still
 * committing): `base` is the underlying page, fetched with `limit + removals` so that removed keys
 * do not shorten it; `overlay` the pending writes in range (value null: removed). When `base` came
 * back full, nothing past its last key is known, so the overlay's keys there wait for the next page.
 */
export function overlayPage(
  base: readonly ScanEntry[],
  baseFull: boolean,
  overlay: readonly { key: Uint8Array; value: Uint8Array | null }[],
  limit: number,
): ScanEntry[] {
  const merged = new Map<string, ScanEntry>();
  for (const e of base) merged.set(Buffer.from(e.key).toString('hex'), e);
  const last = base.at(-1)?.key;
  for (const op of overlay) {
    const key = Buffer.from(op.key).toString('hex');
    if (op.value === null) merged.delete(key);
    else if (!baseFull || !last || Buffer.compare(Buffer.from(op.key), Buffer.from(last)) <= 0) {
      merged.set(key, { key: op.key, value: op.value });
    }
  }
  return [...merged.values()].sort((x, y) => Buffer.compare(Buffer.from(x.key), Buffer.from(y.key))).slice(0, limit);
}
