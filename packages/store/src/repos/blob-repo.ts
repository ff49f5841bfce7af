import { createHash } from 'node:crypto';
import { sha256 } from '@cnode/primitives';
import { CodedError } from '@cnode/runtime';
import { BYTEA_ARRAY, INT4_ARRAY, type Sql } from '../postgres.js';

/** Blobs are stored and addressed in 1 MiB chunks. */
export const BLOB_CHUNK_BYTES = 1024 * 1024;

/** A blob id is SHA-256 over its chunk hashes, in order. */
export function blobIdOf(chunkHashes: readonly Uint8Array[]): Buffer {
  return sha256(...chunkHashes);
}

/** Codes of refused or failed blob operations. */
export enum BlobErrorCode {
  Corrupt = 'STORE_BLOB_CORRUPT',
  SizeMismatch = 'STORE_BLOB_SIZE_MISMATCH',
  HashMismatch = 'STORE_BLOB_HASH_MISMATCH',
  TooLarge = 'STORE_BLOB_TOO_LARGE',
  Aborted = 'STORE_BLOB_ABORTED',
  /** A chunk an upload wrote was swept before the upload finished (it stalled past the grace). */
  ChunkLost = 'STORE_BLOB_CHUNK_LOST',
}

export interface BlobInfo {
  id: Buffer;
  size: number;
  chunkCount: number;
  /** SHA-256 of the whole content. */
  contentHash: Buffer;
}

export interface BlobWriteOptions {
  /** Fails the upload when the content is not exactly this many bytes. */
  expectedSize?: number;
  /** Fails the upload when SHA-256 of the content differs. */
  expectedHash?: Uint8Array;
  /** Fails as soon as more bytes than this arrive. */
  maxBytes?: number;
}

export interface StoredBlob extends BlobInfo {
  /** False when the blob was already stored (the upload deduplicated into it). */
  created: boolean;
}

/**
 * Content-addressed blobs in Postgres: a blob is an ordered list of links to chunks stored once by
 * their hash and reference-counted (migration 0009). Writes and reads stream chunk by chunk, so a
 * blob is never whole in memory; every chunk is re-hashed on the way out.
 */
export class BlobRepo {
  constructor(private readonly sql: Sql) {}

  /** A streaming upload: write() pieces of any size, then finish(); holds at most one chunk. */
  writer(opts: BlobWriteOptions = {}): BlobWriter {
    return new BlobWriter(this.sql, opts);
  }

  /** Stores the bytes (idempotent) and returns the blob id. */
  async put(data: Uint8Array, opts: BlobWriteOptions = {}): Promise<Buffer> {
    const writer = this.writer(opts);
    for (let off = 0; off < data.length; off += BLOB_CHUNK_BYTES)
      await writer.write(data.subarray(off, off + BLOB_CHUNK_BYTES));
    return (await writer.finish()).id;
  }

  async has(id: Buffer): Promise<boolean> {
    return (await this.sql`select 1 from blobs where id = ${id}`).length > 0;
  }

  async info(id: Buffer): Promise<BlobInfo | undefined> {
    const [r] = await this.sql<BlobRow[]>`select id, size, chunk_count, content_hash from blobs where id = ${id}`;
    return r && toInfo(r);
  }

  /** The chunk hashes of a blob in order; their SHA-256 is the blob id. */
  async chunkHashes(id: Buffer): Promise<Buffer[]> {
    const rows = await this.sql<{ chunk_hash: Buffer }[]>`
      select chunk_hash from blob_links where blob_id = ${id} order by index`;
    return rows.map((r) => r.chunk_hash);
  }

  /** One chunk, verified against its hash. */
  async chunk(id: Buffer, index: number): Promise<Buffer | undefined> {
    const [r] = await this.sql<{ hash: Buffer; data: Buffer }[]>`
      select c.hash, c.data from blob_links l join blob_chunk_data c on c.hash = l.chunk_hash
      where l.blob_id = ${id} and l.index = ${index}`;
    if (!r) return undefined;
    if (!sha256(r.data).equals(r.hash))
      throw new CodedError(BlobErrorCode.Corrupt, `chunk ${index} of a blob is corrupt`);
    return r.data;
  }

  /**
   * The blob's chunks in order, each verified, one in memory at a time. The chunk list is checked
   * against the id before the first chunk is read, so a damaged link fails before anything is sent.
   */
  async *chunks(id: Buffer): AsyncGenerator<Buffer> {
    const info = await this.info(id);
    if (!info) return;
    const hashes = await this.chunkHashes(id);
    if (hashes.length !== info.chunkCount || !blobIdOf(hashes).equals(id))
      throw new CodedError(BlobErrorCode.Corrupt, 'blob links do not match its id');
    for (let i = 0; i < hashes.length; i++) {
      const chunk = await this.chunk(id, i);
      if (!chunk) throw new CodedError(BlobErrorCode.Corrupt, `chunk ${i} of a blob is missing`);
      yield chunk;
    }
  }

  /** The whole blob, or undefined: for small blobs only (bundles, the blob cache). */
  async get(id: Buffer): Promise<Buffer | undefined> {
    if (!(await this.has(id))) return undefined;
    const parts: Buffer[] = [];
    for await (const chunk of this.chunks(id)) parts.push(chunk);
    return Buffer.concat(parts);
  }

  async list(): Promise<BlobInfo[]> {
    const rows = await this.sql<BlobRow[]>`
      select id, size, chunk_count, content_hash from blobs order by created_at, id`;
    return rows.map(toInfo);
  }

  /**
   * Deletes the blob and releases its chunks. A chunk no longer linked stays until the orphan
   * sweep: an upload running at the same time may be about to link it.
   */
  async delete(id: Buffer): Promise<boolean> {
    return this.sql.begin(async (tx) => {
      // Release what the links held, counted per chunk, before the blob (and its links) go.
      await tx`
        update blob_chunk_data c set refs = c.refs - r.n, touched_at = now()
        from (select chunk_hash, count(*)::int as n from blob_links where blob_id = ${id} group by chunk_hash) r
        where c.hash = r.chunk_hash`;
      const gone = await tx`delete from blobs where id = ${id} returning 1`;
      return gone.length > 0;
    });
  }

  /** Deletes chunks no blob links that were not touched for `graceMs`; returns how many. */
  async sweepOrphanChunks(graceMs: number, limit = 1000): Promise<number> {
    const rows = await this.sql`
      delete from blob_chunk_data where hash in (
        select hash from blob_chunk_data
        where refs = 0 and touched_at < now() - make_interval(secs => ${graceMs / 1000})
        order by touched_at limit ${limit}
        for update skip locked)
      and refs = 0
      returning 1`;
    return rows.length;
  }

  /** Bytes held by chunks, shared chunks counted once. */
  async storedBytes(): Promise<number> {
    const [r] = await this.sql<{ n: string | null }[]>`select sum(length(data)) as n from blob_chunk_data`;
    return Number(r?.n ?? 0);
  }
}

/**
 * One streaming upload. Full chunks are written as they fill (deduplicated by hash); finish()
 * links them into the blob in one transaction. abort() leaves the written chunks to the sweep.
 */
export class BlobWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly hashes: Buffer[] = [];
  private readonly content = createHash('sha256');
  private size = 0;
  private closed = false;

  constructor(
    private readonly sql: Sql,
    private readonly opts: BlobWriteOptions,
  ) {}

  /** Bytes received so far. */
  get bytesWritten(): number {
    return this.size;
  }

  /** Bytes held in memory (at most one chunk). */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  async write(piece: Uint8Array): Promise<void> {
    if (this.closed) throw new CodedError(BlobErrorCode.Aborted, 'the upload is closed');
    this.size += piece.length;
    const max = this.opts.maxBytes;
    if (max !== undefined && this.size > max) {
      this.closed = true;
      throw new CodedError(BlobErrorCode.TooLarge, `blob exceeds ${max} bytes`);
    }
    if (this.opts.expectedSize !== undefined && this.size > this.opts.expectedSize) {
      this.closed = true;
      throw new CodedError(
        BlobErrorCode.SizeMismatch,
        `blob is larger than the expected ${this.opts.expectedSize} bytes`,
      );
    }
    this.content.update(piece);
    let rest = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    while (rest.length > 0) {
      const take = Math.min(rest.length, BLOB_CHUNK_BYTES - this.pendingBytes);
      // Copy: the caller may reuse its buffer once write() resolves.
      this.pending.push(Buffer.from(rest.subarray(0, take)));
      this.pendingBytes += take;
      rest = rest.subarray(take);
      if (this.pendingBytes === BLOB_CHUNK_BYTES) await this.flush();
    }
  }

  async finish(): Promise<StoredBlob> {
    if (this.closed) throw new CodedError(BlobErrorCode.Aborted, 'the upload is closed');
    this.closed = true;
    if (this.pendingBytes > 0) await this.flush();
    const contentHash = this.content.digest();
    const { expectedSize, expectedHash } = this.opts;
    if (expectedSize !== undefined && this.size !== expectedSize)
      throw new CodedError(BlobErrorCode.SizeMismatch, `blob is ${this.size} bytes, expected ${expectedSize}`);
    if (expectedHash !== undefined && !contentHash.equals(Buffer.from(expectedHash)))
      throw new CodedError(BlobErrorCode.HashMismatch, 'blob content does not match the expected SHA-256');
    const id = blobIdOf(this.hashes);
    const hashes = this.hashes;
    const created = await this.sql
      .begin(async (tx) => {
        const inserted = await tx`
          insert into blobs (id, size, chunk_count, content_hash)
          values (${id}, ${this.size}, ${hashes.length}, ${contentHash})
          on conflict do nothing returning 1`;
        if (inserted.length === 0) return false;
        const indexes = hashes.map((_, i) => i);
        await tx`
          insert into blob_links (blob_id, index, chunk_hash)
          select ${id}, i, h from unnest(${tx.array(indexes, INT4_ARRAY)}::int[], ${tx.array(hashes, BYTEA_ARRAY)}::bytea[]) as t(i, h)`;
        await tx`
          update blob_chunk_data c set refs = c.refs + r.n, touched_at = now()
          from (select h, count(*)::int as n from unnest(${tx.array(hashes, BYTEA_ARRAY)}::bytea[]) as t(h) group by h) r
          where c.hash = r.h`;
        return true;
      })
      .catch((err: unknown) => {
        // 23503: a link to a chunk that is gone (swept while this upload stalled).
        if ((err as { code?: string }).code === '23503')
          throw new CodedError(BlobErrorCode.ChunkLost, 'a chunk of the upload was swept before it finished; retry');
        throw err;
      });
    return { id, size: this.size, chunkCount: hashes.length, contentHash, created };
  }

  /** Gives the upload up; chunks already written are left for the orphan sweep. */
  abort(): void {
    this.closed = true;
    this.pending = [];
    this.pendingBytes = 0;
  }

  private async flush(): Promise<void> {
    const chunk = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    const hash = sha256(chunk);
    await this.sql`
      insert into blob_chunk_data (hash, data) values (${hash}, ${chunk})
      on conflict (hash) do update set touched_at = now()`;
    this.hashes.push(hash);
  }
}

interface BlobRow {
  id: Buffer;
  size: string;
  chunk_count: number;
  content_hash: Buffer;
}

function toInfo(r: BlobRow): BlobInfo {
  return { id: r.id, size: Number(r.size), chunkCount: r.chunk_count, contentHash: r.content_hash };
}
