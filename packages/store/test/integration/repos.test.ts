import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HlcClock, generateIdentity, sha256 } from '@cnode/primitives';
import {
  AliasRepo,
  ApplicationRepo,
  BLOB_CHUNK_BYTES,
  BlobRepo,
  BufferOutcome,
  ClientGrantRepo,
  DeltaBufferRepo,
  IdentityRepo,
  StateStore,
  blobIdOf,
} from '../../src/index.js';
import { freshSchema } from './state-harness.js';

let db: Awaited<ReturnType<typeof freshSchema>>;
let contextId: Buffer;

beforeAll(async () => {
  db = await freshSchema();
  contextId = randomBytes(32);
  await new StateStore(db.sql).createContext(contextId);
});

afterAll(async () => {
  await db.drop();
});

describe('repositories (real Postgres)', () => {
  it('identities: private keys are sealed at rest with the master key and open with it only', async () => {
    const masterKey = randomBytes(32);
    const repo = new IdentityRepo(db.sql, masterKey);
    const me = generateIdentity();
    const member = generateIdentity();
    await repo.addOwned(contextId, me);
    await repo.addMember(contextId, member.publicKey);
    expect(await repo.owned(contextId)).toEqual([me]);
    expect((await repo.members(contextId)).length).toBe(2);
    const [row] = await db.sql<{ sealed_private_key: Buffer }[]>`
      select sealed_private_key from context_identities where public_key = ${me.publicKey}`;
    expect(row!.sealed_private_key.includes(me.privateKey)).toBe(false);
    await expect(new IdentityRepo(db.sql, randomBytes(32)).owned(contextId)).rejects.toMatchObject({
      code: 'STORE_UNSEAL_FAILED',
    });
  });

  it('delta buffers: only while uninitialized, dedupe, bounded with oldest-first eviction, read in (HLC, id) order', async () => {
    const repo = new DeltaBufferRepo(db.sql, 3);
    const states = new StateStore(db.sql);
    const waiting = randomBytes(32);
    await states.createContext(waiting, { initialized: false });
    const clock = new HlcClock(randomBytes(16));
    const stamps = [clock.now(), clock.now(), clock.now(), clock.now()];
    const ids = stamps.map(() => randomBytes(32));
    // A context with state buffers nothing.
    expect(
      await repo.push(contextId, {
        deltaId: ids[0]!,
        hlc: stamps[0]!,
        sourcePeer: 'p',
        delta: Buffer.from([0]),
        parents: [],
      }),
    ).toBe(BufferOutcome.ContextInitialized);
    // Pushed out of HLC order: 2, 0, 1.
    for (const i of [2, 0, 1]) {
      expect(
        await repo.push(waiting, {
          deltaId: ids[i]!,
          hlc: stamps[i]!,
          sourcePeer: 'p',
          delta: Buffer.from([i]),
          parents: [],
        }),
      ).toBe(BufferOutcome.Added);
    }
    expect(
      await repo.push(waiting, {
        deltaId: ids[0]!,
        hlc: stamps[0]!,
        sourcePeer: 'p',
        delta: Buffer.from([0]),
        parents: [],
      }),
    ).toBe(BufferOutcome.Duplicate);
    // Full: the oldest buffered (the first pushed, #2) goes.
    expect(
      await repo.push(waiting, {
        deltaId: ids[3]!,
        hlc: stamps[3]!,
        sourcePeer: 'p',
        delta: Buffer.from([3]),
        parents: [],
      }),
    ).toBe(BufferOutcome.AddedEvictingOldest);
    const buffered = await repo.peek(waiting, 10);
    expect(buffered.map((d) => d.delta[0])).toEqual([0, 1, 3]);
    expect((await repo.peek(waiting, 2)).map((d) => d.delta[0])).toEqual([0, 1]);
    await repo.remove(waiting, [ids[0]!, ids[1]!]);
    expect(await repo.count(waiting)).toBe(1);
    expect(await repo.cancel(waiting)).toBe(1);
  });

  it('delta buffers: what a snapshot covers (its checkpoints and their buffered ancestors) is discarded, the rest kept', async () => {
    const repo = new DeltaBufferRepo(db.sql);
    const waiting = randomBytes(32);
    await new StateStore(db.sql).createContext(waiting, { initialized: false });
    const clock = new HlcClock(randomBytes(16));
    // A chain old → mid → head (head became a snapshot checkpoint), an unrelated delta after it, and
    // one whose parent was never buffered.
    const [old, mid, head, after, orphan] = Array.from({ length: 5 }, () => randomBytes(32));
    const parentsOf = new Map<Buffer, Buffer[]>([
      [old!, [randomBytes(32)]],
      [mid!, [old!]],
      [head!, [mid!]],
      [after!, [head!]],
      [orphan!, [randomBytes(32)]],
    ]);
    for (const [deltaId, parents] of parentsOf) {
      await repo.push(waiting, { deltaId, hlc: clock.now(), sourcePeer: null, delta: Buffer.from([1]), parents });
    }
    await db.sql`insert into dag_checkpoints (context_id, delta_id) values (${waiting}, ${head!})`;
    expect(await repo.discardCovered(waiting)).toBe(3);
    expect((await repo.peek(waiting, 10)).map((d) => d.deltaId.toString('hex')).sort()).toEqual(
      [after!, orphan!].map((id) => id.toString('hex')).sort(),
    );
  });

  it('blobs: chunked, content-addressed, verified on read', async () => {
    const repo = new BlobRepo(db.sql);
    const data = randomBytes(BLOB_CHUNK_BYTES * 2 + 17);
    const id = await repo.put(data);
    const chunkHashes = [0, 1, 2].map((i) => sha256(data.subarray(i * BLOB_CHUNK_BYTES, (i + 1) * BLOB_CHUNK_BYTES)));
    expect(id).toEqual(blobIdOf(chunkHashes));
    expect(await repo.put(data)).toEqual(id);
    expect(await repo.info(id)).toEqual({ id, size: data.length, chunkCount: 3, contentHash: sha256(data) });
    expect((await repo.get(id))!.equals(data)).toBe(true);
    await db.sql`update blob_chunk_data set data = ${Buffer.from('tampered')} where hash = ${chunkHashes[1]!}`;
    await expect(repo.get(id)).rejects.toMatchObject({ code: 'STORE_BLOB_CORRUPT' });
    expect(await repo.delete(id)).toBe(true);
    expect(await repo.get(id)).toBeUndefined();
    expect(await repo.get(await repo.put(Buffer.alloc(0)))).toEqual(Buffer.alloc(0));
  });

  it('blobs: a streaming upload holds at most one chunk, whatever the piece sizes', async () => {
    const repo = new BlobRepo(db.sql);
    const data = randomBytes(BLOB_CHUNK_BYTES * 3 + 5);
    const writer = repo.writer({ expectedSize: data.length, expectedHash: sha256(data) });
    let maxBuffered = 0;
    for (let off = 0; off < data.length; off += 300_001) {
      await writer.write(data.subarray(off, off + 300_001));
      maxBuffered = Math.max(maxBuffered, writer.bufferedBytes);
    }
    const stored = await writer.finish();
    expect(maxBuffered).toBeLessThanOrEqual(BLOB_CHUNK_BYTES);
    expect(stored).toMatchObject({ size: data.length, chunkCount: 4, created: true });
    const parts: Buffer[] = [];
    for await (const chunk of repo.chunks(stored.id)) parts.push(chunk);
    expect(parts.map((p) => p.length)).toEqual([BLOB_CHUNK_BYTES, BLOB_CHUNK_BYTES, BLOB_CHUNK_BYTES, 5]);
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    expect(await repo.chunkHashes(stored.id)).toHaveLength(4);
  });

  it('blobs: expected size and hash, and a size cap, refuse the upload with distinct codes', async () => {
    const repo = new BlobRepo(db.sql);
    const data = randomBytes(1000);
    await expect(repo.put(data, { expectedSize: 999 })).rejects.toMatchObject({ code: 'STORE_BLOB_SIZE_MISMATCH' });
    await expect(repo.put(data, { expectedSize: 1001 })).rejects.toMatchObject({ code: 'STORE_BLOB_SIZE_MISMATCH' });
    await expect(repo.put(data, { expectedHash: sha256(Buffer.from('other')) })).rejects.toMatchObject({
      code: 'STORE_BLOB_HASH_MISMATCH',
    });
    await expect(repo.put(data, { maxBytes: 10 })).rejects.toMatchObject({ code: 'STORE_BLOB_TOO_LARGE' });
    expect(await repo.has(blobIdOf([sha256(data)]))).toBe(false);
  });

  it('blobs: shared chunks are stored once and freed only when the last blob releases them', async () => {
    const repo = new BlobRepo(db.sql);
    for (const blob of await repo.list()) await repo.delete(blob.id);
    await repo.sweepOrphanChunks(0);
    expect(await repo.storedBytes()).toBe(0);
    const common = randomBytes(BLOB_CHUNK_BYTES);
    const a = await repo.put(Buffer.concat([common, randomBytes(10)]));
    const b = await repo.put(Buffer.concat([common, common, randomBytes(20)]));
    expect(await repo.storedBytes()).toBe(BLOB_CHUNK_BYTES + 10 + 20);
    const [shared] = await db.sql<{ refs: number }[]>`select refs from blob_chunk_data where hash = ${sha256(common)}`;
    expect(shared!.refs).toBe(3);

    expect(await repo.delete(b)).toBe(true);
    // Released chunks wait out the grace (a running upload may be about to link them) ...
    expect(await repo.sweepOrphanChunks(60_000)).toBe(0);
    // ... and then go, except the one blob a still links.
    expect(await repo.sweepOrphanChunks(0)).toBe(1);
    expect(await repo.storedBytes()).toBe(BLOB_CHUNK_BYTES + 10);
    expect((await repo.get(a))!.length).toBe(BLOB_CHUNK_BYTES + 10);
    expect(await repo.delete(a)).toBe(true);
    expect(await repo.sweepOrphanChunks(0)).toBe(2);
    expect(await repo.storedBytes()).toBe(0);
  });

  it('applications: upsert, get, list, packages, blob use, delete', async () => {
    const repo = new ApplicationRepo(db.sql);
    const id = randomBytes(32);
    const blobId = randomBytes(32);
    const artifactBlob = randomBytes(32);
    const app = {
      id,
      kind: 'bundle' as const,
      package: 'com.example.kv',
      version: '1.0.0',
      signer: 'did:key:z6Mk',
      blobId,
      size: 10,
      source: 'file:///app.mpk',
      metadata: Buffer.from('meta'),
      manifest: { a: 1 },
      artifacts: [{ name: 'main', path: 'app.wasm', blobId: artifactBlob.toString('hex'), hash: 'ab', size: 3 }],
    };
    await repo.upsert(app);
    const next = { ...app, version: '1.1.0', blobId: randomBytes(32), source: 'file:///app-1.1.mpk' };
    await repo.upsert(next);
    expect(await repo.get(id)).toEqual(next);
    // Every installed version stays: a context may still run the older one.
    expect(await repo.version(id, '1.0.0')).toEqual(app);
    expect(await repo.version(id, '1.1.0')).toEqual(next);
    expect(await repo.version(id, null)).toEqual(next);
    expect(await repo.version(id, '9.9.9')).toBeUndefined();
    expect(await repo.usesBlob(next.blobId)).toBe(true);
    expect((await repo.list()).length).toBe(1);
    expect(await repo.packages()).toEqual([{ package: 'com.example.kv', versions: ['1.1.0'] }]);
    expect(await repo.usesBlob(blobId)).toBe(true);
    expect(await repo.usesBlob(artifactBlob)).toBe(true);
    expect(await repo.usesBlob(randomBytes(32))).toBe(false);
    expect(await repo.delete(id)).toBe(true);
    expect(await repo.usesBlob(blobId)).toBe(false);
  });

  it('aliases: unique per kind and scope, validated, scoped identities, reverse lookup', async () => {
    const repo = new AliasRepo(db.sql);
    const target = randomBytes(32);
    await repo.create('context', 'my-ctx', target);
    await expect(repo.create('context', 'my-ctx', randomBytes(32))).rejects.toMatchObject({
      code: 'STORE_ALIAS_EXISTS',
    });
    await expect(repo.create('context', 'bad name', target)).rejects.toMatchObject({ code: 'STORE_ALIAS_INVALID' });
    await expect(repo.create('context', 'x'.repeat(51), target)).rejects.toMatchObject({ code: 'STORE_ALIAS_INVALID' });
    await repo.create('context', 'x'.repeat(50), target);
    await repo.create('application', '.hidden_1-a', target);
    await expect(repo.create('identity', 'me', target)).rejects.toMatchObject({ code: 'STORE_ALIAS_SCOPE_REQUIRED' });
    await repo.create('identity', 'me', target, contextId);
    expect(await repo.lookup('context', 'my-ctx')).toEqual(target);
    expect(await repo.lookup('application', 'my-ctx')).toBeUndefined();
    expect(await repo.lookup('identity', 'me', contextId)).toEqual(target);
    expect(await repo.lookup('identity', 'me', randomBytes(32))).toBeUndefined();
    expect(await repo.namesOf('context', target)).toEqual(['my-ctx', 'x'.repeat(50)]);
    expect((await repo.list('identity', contextId)).map((a) => a.name)).toEqual(['me']);
    expect(await repo.delete('context', 'my-ctx')).toBe(true);
    expect(await repo.delete('context', 'my-ctx')).toBe(false);
    expect(await repo.deleteScope(contextId)).toBe(1);
  });

  it('client token grants: revoked once, listed until they expire, swept after the retention', async () => {
    const repo = new ClientGrantRepo(db.sql);
    const grant = (expiresInMs: number) =>
      repo.create({
        id: randomBytes(32),
        contextId,
        identity: randomBytes(32),
        readOnly: false,
        expiresAt: new Date(Date.now() + expiresInMs),
      });
    const live = await grant(3_600_000);
    const expired = await grant(-3_600_000);
    expect((await repo.get(live.id))?.revokedAt).toBeUndefined();
    expect(await repo.revoke(live.id)).toBe(true);
    expect(await repo.revoke(live.id)).toBe(false);
    expect(await repo.revoke(randomBytes(32))).toBe(false);
    expect((await repo.get(live.id))?.revokedAt).toBeInstanceOf(Date);
    expect((await repo.list(contextId)).map((g) => g.id)).toEqual([live.id]);
    expect(await repo.removeExpired(2 * 3_600_000)).toBe(0);
    expect(await repo.removeExpired(60_000)).toBe(1);
    expect(await repo.get(expired.id)).toBeUndefined();
    expect(await repo.get(live.id)).toBeDefined();
  });
});
