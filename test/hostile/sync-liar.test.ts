/**
 * Hostile sync peers against a node whose every service is its own process, over real libp2p on
 * loopback. A plain js-libp2p peer plays the liar: as a responder it is no member, lies about
 * hashes, sends an oversize frame, drips answers forever (slowloris) or says nothing; as the only
 * source of a context A joins, it serves snapshots that do not verify or never end; as an initiator
 * it asks forever or trickles. The node's state never changes, each attempt ends with the failure it should, and no
 * session outlives its deadline.
 */
import { randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { multiaddr } from '@multiformats/multiaddr';
import { peerIdFromString } from '@libp2p/peer-id';
import type { Stream } from '@libp2p/interface';
import { SYNC_PROTOCOL } from '@cnode/bus';
import {
  MemberAuthRole,
  TREE_DEPTH,
  TREE_FANOUT,
  bucketOf,
  childDigest,
  encodeHlc,
  fromBase58,
  generateIdentity,
  generateSymmetricKey,
  groupIdOf,
  HlcClock,
  keyHashOf,
  sealKeyEnvelope,
  signGroupOp,
  signMemberAuth,
  verifyGroupOp,
  toBase58,
} from '@cnode/primitives';
import { KV_APPLICATION_ID } from '@cnode/kv-app';
import { admin, wire } from '@cnode/proto';
import { ProcessNode, plainLibp2pNode, waitFor, type PlainLibp2pNode } from '@cnode/testing';

const SESSION_DEADLINE_MS = 6_000;
const MAX_REQUESTS = 40;

let a: ProcessNode;
let liar: PlainLibp2pNode;
let contextId: string;
let liarPeer: string;
/** A member identity the liar was invited with: its proofs verify, its lies are its own. */
const insider = generateIdentity();
const clock = new HlcClock(randomBytes(16));

type Behaviour = (
  request: wire.SyncStreamMessage,
  reply: (m: wire.SyncStreamMessage) => Promise<void>,
  raw: Stream,
) => Promise<void>;
let behaviour: Behaviour = async () => undefined;

/** Reads length-prefixed frames (4-byte big-endian) off a libp2p stream. */
async function* frames(stream: Stream): AsyncGenerator<Uint8Array, void, undefined> {
  let buffer = Buffer.alloc(0);
  for await (const chunk of stream) {
    buffer = Buffer.concat([buffer, chunk instanceof Uint8Array ? chunk : chunk.subarray()]);
    while (buffer.length >= 4 && buffer.length >= 4 + buffer.readUInt32BE(0)) {
      const length = buffer.readUInt32BE(0);
      yield buffer.subarray(4, 4 + length);
      buffer = buffer.subarray(4 + length);
    }
  }
}

async function sendFrame(stream: Stream, message: wire.SyncStreamMessage): Promise<void> {
  const body = wire.SyncStreamMessage.encode(message).finish();
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  if (!stream.send(Buffer.concat([header, body]))) await stream.onDrain();
}

/** The liar's proof as a responder: valid, for a member, for its own peer id. */
let responderProof = (): wire.MemberAuth =>
  signMemberAuth(insider, fromBase58(contextId), liarPeer, { role: MemberAuthRole.Responder });

beforeAll(async () => {
  a = await ProcessNode.start({
    env: {
      SYNC_TIMEOUT: '2s',
      SYNC_SESSION_DEADLINE: `${SESSION_DEADLINE_MS}ms`,
      SYNC_MAX_REQUESTS_PER_SESSION: String(MAX_REQUESTS),
    },
  });
  contextId = (await a.api.createContext()).contextId;
  for (let i = 0; i < 20; i++) await a.api.execute(contextId, 'set', { key: `k${i}`, value: `v${i}` });
  await a.api.inviteMember(contextId, toBase58(insider.publicKey));
  liar = await plainLibp2pNode();
  liarPeer = liar.peerId.toString();
  await liar.handle(SYNC_PROTOCOL, (stream) => {
    void (async () => {
      let first = true;
      try {
        for await (const frame of frames(stream)) {
          const request = wire.SyncStreamMessage.decode(frame);
          const reply = (m: wire.SyncStreamMessage) =>
            sendFrame(stream, first ? { ...m, auth: m.auth ?? responderProof() } : m).then(() => void (first = false));
          await behaviour(request, reply, stream);
        }
      } catch {
        // The node reset the stream: that is what most of these tests wait for.
      }
    })();
  });
  await liar.dial(multiaddr((await a.api.info()).listenAddrs[0]));
}, 120_000);

afterAll(async () => {
  await liar?.stop();
  await a?.stop();
}, 60_000);

/** What must never change, whatever the liar does. */
async function snapshotOfA(): Promise<{ root: string; entries: Record<string, string> }> {
  return { root: (await a.api.getContext(contextId)).rootHash, entries: await a.entries(contextId) };
}

const failures = (reason: string): Promise<number> => a.metric('sync', 'sync_sessions_total', { outcome: reason });

/**
 * Has A sync with the liar and waits for the session to fail for `reason` (and, when given, with an
 * error matching `why`); A's state is unchanged.
 */
async function syncFailsWith(reason: string, why?: RegExp): Promise<void> {
  const before = await snapshotOfA();
  const count = await failures(reason);
  let triggeredAt = 0;
  await waitFor(
    async () => {
      if ((await failures(reason)) > count) return true;
      // The previous session may still hold the context's lock for a moment: ask again until one runs.
      if (Date.now() - triggeredAt > 2 * SESSION_DEADLINE_MS) {
        triggeredAt = Date.now();
        await a.api.triggerSync(contextId, liarPeer);
      }
      return false;
    },
    { timeoutMs: 6 * SESSION_DEADLINE_MS, intervalMs: 200, message: `a session with the liar to fail with ${reason}` },
  );
  // The session is over, not hanging: the status leaves Syncing and says why.
  await waitFor(async () => (await a.api.syncStatus(contextId)).state !== admin.SyncStatus_State.STATE_SYNCING, {
    message: 'the status to leave Syncing',
  });
  const status = await a.api.syncStatus(contextId);
  expect(status.failureCount).toBeGreaterThan(0);
  if (why) expect(status.lastError).toMatch(why);
  expect(await snapshotOfA()).toEqual(before);
}

/** The heads and a root that differs from A's: the liar claims the same history, another state. */
async function divergentHeads(): Promise<wire.DagHeadsResponse> {
  const ctx = await a.api.getContext(contextId);
  return {
    heads: ctx.heads.map((h) => Buffer.from(fromBase58(h))),
    rootHash: randomBytes(32),
    entryCount: 20n,
    initialized: true,
  };
}

/** A well-formed entry whose key falls in the bucket `path` (found by trying keys). */
function evilEntryIn(path: string): wire.StateEntry {
  for (let i = 0; ; i++) {
    const key = Buffer.from(`evil-${i}`);
    if (bucketOf(keyHashOf(key)) !== path) continue;
    return { key, value: Buffer.from('lie'), hlc: encodeHlc(clock.now()), deleted: false, author: insider.publicKey };
  }
}

/** An inner node claiming every child differs (digests of random hashes). */
function everythingDiffers(path: string, req: wire.TreeNodeRequest): wire.TreeNodeData {
  const digests = Array.from({ length: TREE_FANOUT }, () =>
    childDigest(req.digestSalt, randomBytes(32), req.digestBytes),
  );
  return {
    path,
    found: true,
    hash: Buffer.alloc(0),
    childMask: 0xffff,
    childDigests: Buffer.concat(digests),
    entries: [],
  };
}

/** A responder claiming A's history with another state, answering tree requests with `nodes`. */
async function treeLiar(nodes: (req: wire.TreeNodeRequest) => Promise<wire.TreeNodeData[]>): Promise<Behaviour> {
  const heads = await divergentHeads();
  return async (req, reply) => {
    const p = req.payload;
    if (p?.$case === 'dagHeadsRequest') {
      await reply({ payload: { $case: 'dagHeadsResponse', dagHeadsResponse: heads } });
    } else if (p?.$case === 'treeNodeRequest') {
      await reply({
        payload: {
          $case: 'treeNodeResponse',
          treeNodeResponse: wire.TreeNodeResponse.fromPartial({ nodes: await nodes(p.treeNodeRequest) }),
        },
      });
    }
  };
}

describe('a lying responder', () => {
  it('that proves no membership is not listened to', async () => {
    const stranger = generateIdentity();
    behaviour = async (req, reply) => {
      if (req.payload?.$case !== 'dagHeadsRequest') return;
      await reply({
        auth: signMemberAuth(stranger, fromBase58(contextId), liarPeer, { role: MemberAuthRole.Responder }),
        payload: { $case: 'dagHeadsResponse', dagHeadsResponse: await divergentHeads() },
      });
    };
    await syncFailsWith('peer_not_member', /no member/);
  });

  it('that lies about hashes is caught at the bucket, before anything it sent is merged', async () => {
    behaviour = await treeLiar(async (req) =>
      req.paths.map((path, i): wire.TreeNodeData => {
        if (path.length < TREE_DEPTH) return everythingDiffers(path, req);
        // Buckets with a hash that is not their entries' (the first with an entry of the liar's making).
        return {
          path,
          found: true,
          hash: randomBytes(32),
          childMask: 0,
          childDigests: Buffer.alloc(0),
          entries: i === 0 ? [evilEntryIn(path)] : [],
        };
      }),
    );
    await syncFailsWith('bad_answer', /does not hash to its entries/);
  });

  it('that answers nodes nobody asked for is refused', async () => {
    behaviour = await treeLiar(async (req) =>
      Array.from({ length: 1000 }, (_, i) => everythingDiffers(i.toString(16).padStart(3, '0'), req)),
    );
    await syncFailsWith('bad_answer', /was not asked for/);
  });

  it('that sends a frame over the 8 MiB limit only breaks its own stream', async () => {
    behaviour = async (_req, _reply, raw) => {
      const header = Buffer.alloc(4);
      header.writeUInt32BE(8 * 1024 * 1024 + 1);
      raw.send(Buffer.concat([header, randomBytes(1024)]));
    };
    await syncFailsWith('stream_failed', /frame_too_large|reset/);
  });

  it('that never answers is given up on after the request timeout', async () => {
    behaviour = async () => undefined;
    await syncFailsWith('timeout', /no answer/);
  });

  it('that drips endless differences, each just in time, is cut off at the session deadline', async () => {
    behaviour = await treeLiar(async (req) => {
      // One of the asked nodes per answer, just inside the 2 s request timeout: the walk never ends.
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      const path = req.paths[0]!;
      return [
        path.length < TREE_DEPTH
          ? everythingDiffers(path, req)
          : { path, found: false, hash: Buffer.alloc(0), childMask: 0, childDigests: Buffer.alloc(0), entries: [] },
      ];
    });
    await syncFailsWith('deadline', /passed its deadline/);
  });
});

describe('a lying initiator', () => {
  /** Opens a session to A, proving the insider's membership with the first request. */
  async function session(): Promise<{ stream: Stream; answers: AsyncGenerator<Uint8Array, void, undefined> }> {
    const stream = await liar.dialProtocol(peerIdFromString((await a.api.info()).peerId), SYNC_PROTOCOL);
    return { stream, answers: frames(stream) };
  }
  const headsRequest = (withAuth: boolean): wire.SyncStreamMessage => ({
    ...(withAuth ? { auth: signMemberAuth(insider, fromBase58(contextId), liarPeer) } : {}),
    payload: { $case: 'dagHeadsRequest', dagHeadsRequest: { contextId: fromBase58(contextId) } },
  });
  const served = (outcome: string): Promise<number> =>
    a.metric('sync', 'sync_responder_requests_total', { kind: 'dagHeadsRequest', outcome });

  it(`that asks forever is refused after ${MAX_REQUESTS} requests`, async () => {
    const { stream, answers } = await session();
    let refusal: wire.StreamError | undefined;
    for (let i = 0; i <= MAX_REQUESTS && !refusal; i++) {
      await sendFrame(stream, headsRequest(i === 0));
      const next = await answers.next();
      if (next.done) break;
      const answer = wire.SyncStreamMessage.decode(next.value);
      // The node's own first answer proves its membership too.
      if (i === 0) expect(Buffer.from(answer.auth!.member).length).toBe(32);
      if (answer.payload?.$case === 'error') refusal = answer.payload.error;
    }
    expect(refusal?.code).toBe('too_many_requests');
    await waitFor(async () => (await served('too_many_requests')) === 1, { message: 'the refusal to be counted' });
    expect(await served('served')).toBeGreaterThanOrEqual(MAX_REQUESTS);
    stream.abort(new Error('done'));
  });

  it('that trickles requests is reset at the responder deadline', async () => {
    const { stream, answers } = await session();
    const deadlines = () => a.metric('sync', 'sync_responder_requests_total', { outcome: 'deadline' });
    const before = await deadlines();
    let closed = false;
    void (async () => {
      for (let i = 0; !closed; i++) {
        await sendFrame(stream, headsRequest(i === 0)).catch(() => (closed = true));
        const next = await answers.next().catch(() => ({ done: true }));
        if (next.done) closed = true;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    })();
    await waitFor(async () => (await deadlines()) > before, {
      timeoutMs: 4 * SESSION_DEADLINE_MS,
      message: 'the responder to reset the trickling session at its deadline',
    });
    await waitFor(() => closed, { message: 'the liar to see its stream end' });
  });

  it('still serves an honest member afterwards', async () => {
    const { stream, answers } = await session();
    await sendFrame(stream, headsRequest(true));
    const next = await answers.next();
    if (next.done) throw new Error('the node closed without answering');
    const answer = wire.SyncStreamMessage.decode(next.value);
    expect(answer.payload?.$case).toBe('dagHeadsResponse');
    stream.abort(new Error('done'));
  });
});

describe('a lying snapshot source', () => {
  // The liar founds a group of its own, with a context A joins: A has no state, the liar is its only
  // peer, so A asks it for a snapshot.
  const founder = generateIdentity();
  const groupKey = generateSymmetricKey();
  const lyingContext = generateIdentity().publicKey;

  beforeAll(async () => {
    const nonce = 1n;
    const groupId = groupIdOf(founder.publicKey, nonce);
    const genesis = signGroupOp({
      groupId,
      parents: [],
      signer: founder,
      nonce,
      op: {
        kind: {
          $case: 'addMember',
          addMember: {
            member: founder.publicKey,
            role: wire.GroupRole.GROUP_ROLE_ADMIN,
            keyEnvelope: sealKeyEnvelope(groupKey, founder.publicKey),
          },
        },
      },
    });
    const register = signGroupOp({
      groupId,
      parents: [verifyGroupOp(genesis).opId],
      signer: founder,
      nonce: 2n,
      op: {
        kind: {
          $case: 'registerContext',
          registerContext: { contextId: lyingContext, applicationId: KV_APPLICATION_ID, applicationVersion: '' },
        },
      },
    });
    const joiner = Buffer.from(fromBase58((await a.api.createIdentity()).publicKey));
    const invite = signGroupOp({
      groupId,
      parents: [verifyGroupOp(register).opId],
      signer: founder,
      nonce: 3n,
      op: {
        kind: {
          $case: 'addMember',
          addMember: {
            member: joiner,
            role: wire.GroupRole.GROUP_ROLE_MEMBER,
            keyEnvelope: sealKeyEnvelope(groupKey, joiner),
          },
        },
      },
    });
    responderProof = () => signMemberAuth(founder, lyingContext, liarPeer, { role: MemberAuthRole.Responder });
    liar.services.pubsub.subscribe(toBase58(lyingContext));
    const invitation = wire.Invitation.encode({
      contextId: lyingContext,
      groupId,
      applicationId: KV_APPLICATION_ID,
      inviterPeerId: liarPeer,
      bootstrapAddrs: liar.getMultiaddrs().map(String),
      groupOps: [genesis, register, invite],
    }).finish();
    behaviour = lyingSnapshot('root');
    await a.api.joinContext(Buffer.from(invitation).toString('base64url'));
  });

  /** Entries of a snapshot page, in key order. */
  const pageEntries = (n: number): wire.StateEntry[] =>
    Array.from({ length: n }, (_, i) => ({
      key: Buffer.from(`snap-${String(i).padStart(4, '0')}`),
      value: randomBytes(8),
      hlc: encodeHlc(clock.now()),
      deleted: false,
      author: founder.publicKey,
    }));

  const page = (entries: wire.StateEntry[], over: Partial<wire.SnapshotPage> = {}): wire.SyncStreamMessage => {
    const body = Buffer.from(wire.SnapshotEntries.encode({ entries, covered: [] }).finish());
    return {
      payload: {
        $case: 'snapshotPage',
        snapshotPage: {
          payload: deflateRawSync(body),
          uncompressedLen: body.length,
          entryCount: entries.length,
          last: true,
          ...over,
        },
      },
    };
  };

  /** Answers heads (it has state) and a snapshot that lies in the way named. */
  function lyingSnapshot(lie: 'root' | 'bomb' | 'count' | 'endless'): Behaviour {
    return async (req, reply) => {
      const p = req.payload;
      if (p?.$case === 'dagHeadsRequest') {
        await reply({
          payload: {
            $case: 'dagHeadsResponse',
            dagHeadsResponse: {
              heads: [randomBytes(32)],
              rootHash: randomBytes(32),
              entryCount: 5n,
              initialized: true,
            },
          },
        });
      } else if (p?.$case === 'snapshotRequest') {
        const entries = pageEntries(5);
        await reply({
          payload: {
            $case: 'snapshotBoundary',
            // 'root': a boundary root the entries do not hash to; 'count': fewer entries announced than sent.
            snapshotBoundary: {
              rootHash: randomBytes(32),
              heads: [randomBytes(32)],
              totalEntries: lie === 'count' ? 2n : 5n,
            },
          },
        });
        if (lie === 'endless') {
          // Empty pages, never the last, for as long as the stream stays open.
          for (;;) {
            await reply(page([], { last: false }));
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        } else if (lie === 'bomb') {
          const bomb = deflateRawSync(Buffer.alloc(32 * 1024 * 1024));
          await reply({
            payload: {
              $case: 'snapshotPage',
              snapshotPage: { payload: bomb, uncompressedLen: 4096, entryCount: 5, last: true },
            },
          });
        } else {
          await reply(page(entries));
        }
      }
    };
  }

  const unchanged = async (): Promise<void> => {
    const ctx = await a.api.getContext(toBase58(lyingContext));
    expect(ctx.initialized).toBe(false);
    expect(ctx.rootHash).toBe(toBase58(Buffer.alloc(32)));
  };

  async function snapshotFails(reason: string, why: RegExp, retrigger: boolean): Promise<void> {
    const count = await a.metric('sync', 'sync_sessions_total', { protocol: 'snapshot', outcome: reason });
    if (retrigger) await a.api.triggerSync(toBase58(lyingContext), liarPeer);
    await waitFor(
      async () => (await a.metric('sync', 'sync_sessions_total', { protocol: 'snapshot', outcome: reason })) > count,
      { timeoutMs: 60_000, message: `A's snapshot from the liar to fail with ${reason}` },
    );
    await waitFor(
      async () => (await a.api.syncStatus(toBase58(lyingContext))).state === admin.SyncStatus_State.STATE_BACKING_OFF,
      { message: 'the status to show the backoff' },
    );
    expect((await a.api.syncStatus(toBase58(lyingContext))).lastError).toMatch(why);
    await unchanged();
  }

  it('whose state does not hash to its boundary root: nothing of it is kept', async () => {
    await snapshotFails('root_mismatch', /does not hash to the boundary root/, false);
  });

  it('that sends a decompression bomb: refused at the declared size, nothing kept', async () => {
    behaviour = lyingSnapshot('bomb');
    await snapshotFails('bad_answer', /does not decompress within its declared size/, true);
  });

  it('that streams a snapshot that never ends: cut off at the session deadline, nothing kept', async () => {
    behaviour = lyingSnapshot('endless');
    await snapshotFails('deadline', /passed its deadline/, true);
  });

  it('that sends more entries than it announced: refused, nothing kept', async () => {
    behaviour = lyingSnapshot('count');
    await snapshotFails('bad_answer', /more than the 2 entries it announced/, true);
  });
});
