import { sha256 } from '@cnode/primitives';
import { CodedError } from '@cnode/runtime';
import type { Sql } from '../postgres.js';

/** Blobs are stored and addressed in 1 MiB chunks. */
export const BLOB_CHUNK_BYTES = 1024 * 1024;

/** A blob id is SHA-256 over its chunk hashes, in order (DESIGN §4). */
export function blobIdOf(chunkHashes: readonly Uint8Array[]): Buffer {
  return sha256(...chunkHashes);
}

/** Content-addressed blobs in Postgres, chunk by chunk; every chunk is checked on the way out. */
export class BlobRepo {
  constructor(private readonly sql: Sql) {}

  /** Stores the bytes (idempotent) and returns the blob id. */
  async put(data: Uint8Array): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for (let off = 0; off < data.length || chunks.length === 0; off += BLOB_CHUNK_BYTES) {
      chunks.push(Buffer.from(data.subarray(off, off + BLOB_CHUNK_BYTES)));
      if (data.length === 0) break;
    }
    const hashes = chunks.map((c) => sha256(c));
    const id = blobIdOf(hashes);
    await this.sql.begin(async (tx) => {
      const created = await tx`
        insert into blobs (id, size, chunk_count) values (${id}, ${data.length}, ${chunks.length})
        on conflict do nothing returning 1`;
      if (created.length === 0) return;
      for (let i = 0; i < chunks.length; i++) {
        await tx`insert into blob_chunks (blob_id, index, hash, data) values (${id}, ${i}, ${hashes[i]!}, ${chunks[i]!})`;
      }
    });
    return id;
  }

  async has(id: Buffer): Promise<boolean> {
    return (await this.sql`select 1 from blobs where id = ${id}`).length > 0;
  }

  async info(id: Buffer): Promise<{ size: number; chunkCount: number } | undefined> {
    const [r] = await this.sql<
      { size: string; chunk_count: number }[]
    >`select size, chunk_count from blobs where id = ${id}`;
    return r && { size: Number(r.size), chunkCount: r.chunk_count };
  }

  /** One chunk, verified against its stored hash. */
  async chunk(id: Buffer, index: number): Promise<Buffer | undefined> {
    const [r] = await this.sql<{ hash: Buffer; data: Buffer }[]>`
      select hash, data from blob_chunks where blob_id = ${id} and index = ${index}`;
    if (!r) return undefined;
    if (!sha256(r.data).equals(r.hash))
      throw new CodedError('STORE_BLOB_CORRUPT', `chunk ${index} of a blob is corrupt`);
    return r.data;
  }

  /** The whole blob, or undefined; the id is re-derived from the chunks read. */
  async get(id: Buffer): Promise<Buffer | undefined> {
    const info = await this.info(id);
    if (!info) return undefined;
    const chunks: Buffer[] = [];
    for (let i = 0; i < info.chunkCount; i++) {
      const c = await this.chunk(id, i);
      if (!c) throw new CodedError('STORE_BLOB_CORRUPT', `chunk ${i} of a blob is missing`);
      chunks.push(c);
    }
    if (!blobIdOf(chunks.map((c) => sha256(c))).equals(id))
      throw new CodedError('STORE_BLOB_CORRUPT', 'blob does not match its id');
    return Buffer.concat(chunks);
  }

  async list(): Promise<{ id: Buffer; size: number }[]> {
    const rows = await this.sql<{ id: Buffer; size: string }[]>`select id, size from blobs order by created_at, id`;
    return rows.map((r) => ({ id: r.id, size: Number(r.size) }));
  }

  async delete(id: Buffer): Promise<boolean> {
    return (await this.sql`delete from blobs where id = ${id} returning 1`).length > 0;
  }
}
