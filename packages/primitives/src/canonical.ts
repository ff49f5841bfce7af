/**
 * The canonical byte encoding of everything cnode hashes or signs: fixed-width big-endian integers
 * and length-prefixed byte strings, in a fixed field order. Unlike protobuf, one value has exactly
 * one encoding, so two nodes always hash the same bytes.
 */
export class CanonicalWriter {
  private readonly parts: Buffer[] = [];

  u8(value: number): this {
    this.parts.push(Buffer.from([value & 0xff]));
    return this;
  }

  u32(value: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(value);
    this.parts.push(b);
    return this;
  }

  u64(value: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(value);
    this.parts.push(b);
    return this;
  }

  /** Length-prefixed bytes. */
  bytes(value: Uint8Array): this {
    this.u32(value.length);
    this.parts.push(Buffer.from(value.buffer, value.byteOffset, value.length));
    return this;
  }

  /** Fixed-width bytes (ids, hashes): no prefix, the reader knows the width. */
  raw(value: Uint8Array): this {
    this.parts.push(Buffer.from(value.buffer, value.byteOffset, value.length));
    return this;
  }

  string(value: string): this {
    return this.bytes(Buffer.from(value, 'utf8'));
  }

  /** A count followed by each item written by `each`. */
  list<T>(items: readonly T[], each: (item: T) => void): this {
    this.u32(items.length);
    for (const item of items) each(item);
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}
