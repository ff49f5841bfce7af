/**
 * The blob protocol between real nodes (every service a process, libp2p on loopback): a 200 MiB
 * blob moves A → B with bounded memory on both sides, a provider refuses requesters without a
 * fresh member token, and a lying provider's corrupt chunk is caught and the blob fetched elsewhere.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { multiaddr } from '@multiformats/multiaddr';
import { peerIdFromString } from '@libp2p/peer-id';
import { BLOB_PROTOCOL } from '@cnode/bus';
import { buildBundle } from '@cnode/app-bundle';
import { createBlobAuth, fromBase58, generateIdentity, sha256, type Identity } from '@cnode/primitives';
import { wire } from '@cnode/proto';
import { ProcessNode, framedStream, plainLibp2pNode, testModule, waitFor, type PlainLibp2pNode } from '@cnode/testing';

const MIB = 1024 * 1024;

let a: ProcessNode;
let b: ProcessNode;
let contextId: string;
let peer: PlainLibp2pNode;

beforeAll(async () => {
  // A slow shared machine must not fail a 200 MiB transfer on upstream's 60 s deadline.
  const env = { BLOB_FETCH_DEADLINE: '300s' };
  [a, b] = await Promise.all([ProcessNode.start({ prefix: 'xa', env }), ProcessNode.start({ prefix: 'xb', env })]);
  contextId = (await a.api.createContext()).contextId;
  const { publicKey } = await b.api.createIdentity();
  await b.api.joinContext((await a.api.inviteMember(contextId, publicKey)).invitationText);
  await Promise.all([a, b].map((n) => n.waitForPeers(contextId, 1)));
  peer = await plainLibp2pNode();
}, 120_000);

afterAll(async () => {
  await peer?.stop();
  await Promise.all([a, b].filter(Boolean).map((n) => n.stop()));
}, 60_000);

/** `count` pieces of 1 MiB of random bytes, hashed as they are produced (never all in memory). */
function randomPieces(count: number, hash: ReturnType<typeof createHash>): AsyncIterable<Buffer> {
  return (async function* () {
    for (let i = 0; i < count; i++) {
      const piece = randomBytes(MIB);
      hash.update(piece);
      yield piece;
    }
  })();
}

async function dial(node: ProcessNode): Promise<string> {
  const info = await node.api.info();
  const addr = info.listenAddrs.find((x) => x.includes('127.0.0.1'))!;
  await peer.dial(multiaddr(addr.includes('/p2p/') ? addr : `${addr}/p2p/${info.peerId}`));
  return info.peerId;
}

async function ownMember(node: ProcessNode): Promise<Identity> {
  const [identity] = await node.withStore((s) => s.identities.owned(Buffer.from(fromBase58(contextId))));
  return identity!;
}

describe('blob protocol', () => {
  it('moves a 200 MiB blob from A to B with bounded memory on both sides and an identical hash', async () => {
    const sent = createHash('sha256');
    const added = await a.api.addBlob(randomPieces(200, sent), { announceContextId: contextId });
    const blobId = added.blob!.blobId;
    const expected = sent.digest('hex');
    expect(added.blob!.contentHash).toBe(expected);

    const got = createHash('sha256');
    let size = 0;
    for await (const part of b.api.getBlob(blobId, { contextId })) {
      if ('data' in part) {
        got.update(part.data);
        size += part.data.length;
      }
    }
    expect(size).toBe(200 * MIB);
    expect(got.digest('hex')).toBe(expected);
    expect((await b.api.getBlobInfo(blobId)).contentHash).toBe(expected);

    expect(await b.metric('node-manager', 'blob_transfer_bytes_total', { direction: 'fetch' })).toBe(200 * MIB);
    expect(await a.metric('node-manager', 'blob_transfer_bytes_total', { direction: 'serve' })).toBe(200 * MIB);
    // What one transfer held at most, in each process on its way: a few chunks, not the blob.
    const held = {
      fetch: await b.metric('node-manager', 'blob_transfer_buffered_bytes_max', { direction: 'fetch' }),
      serve: await a.metric('node-manager', 'blob_transfer_buffered_bytes_max', { direction: 'serve' }),
      relayB: await b.metric('network', 'network_stream_relay_buffered_bytes_max'),
      relayA: await a.metric('network', 'network_stream_relay_buffered_bytes_max'),
    };
    expect(held.fetch).toBeGreaterThanOrEqual(MIB);
    expect(held.serve).toBeGreaterThanOrEqual(MIB);
    for (const bytes of Object.values(held)) expect(bytes).toBeLessThanOrEqual(8 * MIB);
    expect(await b.metric('node-manager', 'blob_fetches_total', { outcome: 'ok' })).toBe(1);
  }, 600_000);

  it('answers nothing to a requester without a fresh member token bound to its own peer id', async () => {
    const added = await a.api.addBlob(randomPieces(3, createHash('sha256')));
    const blobId = Buffer.from(fromBase58(added.blob!.blobId));
    const ctx = Buffer.from(fromBase58(contextId));
    const aPeer = await dial(a);
    const member = await ownMember(b);
    const self = peer.peerId.toString();
    const scope = { blobId, contextId: ctx, requesterPeer: self };

    const ask = async (auth: wire.BlobAuth | undefined) => {
      const stream = framedStream(await peer.dialProtocol(peerIdFromString(aPeer), BLOB_PROTOCOL));
      await stream.writeFrame(wire.BlobRequest.encode({ blobId, contextId: ctx, auth }).finish());
      await stream.close();
      const response = wire.BlobResponse.decode((await stream.readFrame())!);
      const rest: Buffer[] = [];
      if (!response.found) for (let f = await stream.readFrame(); f; f = await stream.readFrame()) rest.push(f);
      return { response, rest };
    };
    const served = (outcome: string) => a.metric('node-manager', 'blob_serves_total', { outcome });
    const refusals = [
      { outcome: 'no_auth', auth: undefined },
      { outcome: 'auth_expired', auth: createBlobAuth(member, scope, Date.now() - 60_000) },
      { outcome: 'not_member', auth: createBlobAuth(generateIdentity(), scope) },
      // A real member's token, but made for another peer (B's): not good for this one.
      {
        outcome: 'bad_signature',
        auth: createBlobAuth(member, { ...scope, requesterPeer: (await b.api.info()).peerId }),
      },
    ];
    for (const { outcome, auth } of refusals) {
      const before = await served(outcome);
      const { response, rest } = await ask(auth);
      expect(response).toMatchObject({ found: false, size: 0n, chunkHashes: [] });
      expect(rest).toEqual([]);
      await waitFor(async () => (await served(outcome)) === before + 1, { message: `${outcome} to be counted` });
    }

    // The same member, with a fresh token for this peer: served.
    const { response } = await ask(createBlobAuth(member, scope));
    expect(response.found).toBe(true);
    expect(Number(response.size)).toBe(3 * MIB);
  }, 120_000);

  it('catches a lying provider at its corrupt chunk and fetches the blob from an honest one', async () => {
    const content = randomBytes(5 * MIB + 17);
    const added = await a.api.addBlob(
      (async function* () {
        yield content;
      })(),
      { announceContextId: contextId },
    );
    const blobId = added.blob!.blobId;
    const hashes = Array.from({ length: 6 }, (_, i) => sha256(content.subarray(i * MIB, (i + 1) * MIB)));
    let asked = 0;
    // The liar knows the real chunk list (so it passes the id check) and sends chunk 2 altered.
    await peer.handle(BLOB_PROTOCOL, async (stream) => {
      asked++;
      const framed = framedStream(stream);
      await framed.readFrame();
      await framed.writeFrame(
        wire.BlobResponse.encode({
          found: true,
          size: BigInt(content.length),
          chunkHashes: hashes,
          contentHash: sha256(content),
        }).finish(),
      );
      for (let i = 0; i < hashes.length; i++) {
        const data = Buffer.from(content.subarray(i * MIB, (i + 1) * MIB));
        if (i === 2) data[1000] = data[1000]! ^ 0xff;
        await framed.writeFrame(wire.BlobChunk.encode({ data }).finish());
      }
      await framed.writeFrame(wire.BlobChunk.encode({ data: Buffer.alloc(0) }).finish());
      await framed.close();
    });
    await dial(b);
    const attempts = (outcome: string) => b.metric('node-manager', 'blob_fetch_attempts_total', { outcome });
    const [corruptBefore, okBefore] = [await attempts('corrupt'), await attempts('ok')];

    const parts: Buffer[] = [];
    for await (const part of b.api.getBlob(blobId, { contextId, peers: [peer.peerId.toString()] })) {
      if ('data' in part) parts.push(Buffer.from(part.data));
    }
    expect(Buffer.concat(parts).equals(content)).toBe(true);
    expect(asked).toBe(1);
    expect(await attempts('corrupt')).toBe(corruptBefore + 1);
    expect(await attempts('ok')).toBe(okBefore + 1);
    await peer.unhandle(BLOB_PROTOCOL);
  }, 120_000);

  it("serves a context application's own bundle without a token, and another node installs it from the blob", async () => {
    const signer = generateIdentity();
    const { bundle } = await buildBundle({
      package: 'com.example.shared',
      appVersion: '1.0.0',
      wasm: { path: 'app.wasm', data: testModule('shared between nodes') },
      signingKey: signer.privateKey,
    });
    const app = await a.api.installApplication(
      (async function* () {
        yield bundle;
      })(),
    );
    const appContext = (await a.api.createContext({ application: app.applicationId })).contextId;
    const aPeer = await dial(a);
    const ask = async (context: string) => {
      const stream = framedStream(await peer.dialProtocol(peerIdFromString(aPeer), BLOB_PROTOCOL));
      const request = { blobId: fromBase58(app.blobId), contextId: fromBase58(context), auth: undefined };
      await stream.writeFrame(wire.BlobRequest.encode(request).finish());
      await stream.close();
      return wire.BlobResponse.decode((await stream.readFrame())!);
    };
    // Public for the context that runs it, and for that context only.
    expect((await ask(appContext)).found).toBe(true);
    expect((await ask(contextId)).found).toBe(false);

    // B is no member of the application's context, but of ours: it fetches the bundle as one, from A.
    const installed = await b.api.installFromBlob(app.blobId, { contextId, peers: [(await a.api.info()).peerId] });
    expect(installed).toMatchObject({ applicationId: app.applicationId, blobId: app.blobId, version: '1.0.0' });
    expect(installed.signer).toBe(app.signer);
  }, 120_000);
});
