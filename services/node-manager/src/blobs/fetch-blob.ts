import { BLOB_PROTOCOL, RelayedStream } from '@cnode/bus';
import { createBlobAuth, sha256, toBase58, type Identity } from '@cnode/primitives';
import { wire } from '@cnode/proto';
import { CodedError, backoffMs, errorMessage, isCodedError, sleep, withTimeout } from '@cnode/runtime';
import { BLOB_CHUNK_BYTES, blobIdOf, type BlobWriter, type StoredBlob } from '@cnode/store';
import {
  BLOB_FETCH_BACKOFF_BASE_MS,
  BLOB_FETCH_BACKOFF_MAX_MS,
  BLOB_FETCH_ROUNDS,
  BLOB_FRAME_TIMEOUT_MS,
} from '../constants.js';
import { findBlobProviders } from './blob-providers.js';
import { relayOptions, type BlobTransferDeps, type TransferMeter } from './blob-transfer.js';

/** Why a download from one provider failed: blob_fetch_attempts_total outcomes. */
export enum BlobAttemptOutcome {
  Ok = 'ok',
  NotFound = 'not_found',
  /** A chunk that does not hash to its entry of the chunk list. */
  Corrupt = 'corrupt',
  /** An answer that breaks the protocol: a chunk list that is not the blob's, sizes that do not add up. */
  BadResponse = 'bad_response',
  TooLarge = 'too_large',
  Timeout = 'timeout',
  Failed = 'failed',
}

/** Why a fetch as a whole failed: blob_fetches_total outcomes, and the codes callers map to gRPC. */
export enum BlobFetchErrorCode {
  NoProvider = 'BLOB_FETCH_NO_PROVIDER',
  NoIdentity = 'BLOB_FETCH_NO_IDENTITY',
  UnknownContext = 'BLOB_FETCH_UNKNOWN_CONTEXT',
}

const FETCH_OUTCOME: Record<BlobFetchErrorCode, string> = {
  [BlobFetchErrorCode.NoProvider]: 'no_provider',
  [BlobFetchErrorCode.NoIdentity]: 'no_identity',
  [BlobFetchErrorCode.UnknownContext]: 'unknown_context',
};

class AttemptError extends Error {
  constructor(
    readonly outcome: BlobAttemptOutcome,
    message: string,
  ) {
    super(message);
  }
}

export interface BlobFetchRequest {
  blobId: Buffer;
  contextId: Buffer;
  /** Peers to ask before (and beside) the DHT's providers. */
  peers?: readonly string[];
}

/**
 * The network leg of upstream's `get_blob`: up to 6 rounds, each asking the hinted
 * peers and the DHT's providers of (context, blob) in turn, with a token of one of our member
 * identities of the context, backing off 100 ms doubling to 2 s between rounds. Every chunk is
 * re-hashed against the chunk list (whose hash must be the blob id) before it is stored, so a lying
 * provider is caught at its first bad chunk and never asked again in this fetch. Stores the blob and
 * announces this node as a provider of it.
 */
export async function fetchBlob(deps: BlobTransferDeps, request: BlobFetchRequest): Promise<StoredBlob> {
  try {
    const stored = await fetchFromProviders(deps, request);
    deps.metrics.blobFetches.inc({ outcome: 'ok' });
    deps.metrics.blobsStored.inc({ source: 'peer', outcome: stored.created ? 'created' : 'deduplicated' });
    return stored;
  } catch (err) {
    if (isCodedError(err) && err.code in FETCH_OUTCOME) {
      deps.metrics.blobFetches.inc({ outcome: FETCH_OUTCOME[err.code as BlobFetchErrorCode] });
    }
    throw err;
  }
}

async function fetchFromProviders(deps: BlobTransferDeps, request: BlobFetchRequest): Promise<StoredBlob> {
  const { blobId, contextId } = request;
  const ctx = await deps.states.context(contextId);
  if (!ctx?.groupId) {
    throw new CodedError(BlobFetchErrorCode.UnknownContext, `context ${toBase58(contextId)} is not hosted here`);
  }
  const me = await memberIdentity(deps, contextId, ctx.groupId);
  const self = await deps.sync.peerId();
  const liars = new Set<string>();
  const log = deps.logger.child({ blob: toBase58(blobId), context: toBase58(contextId) });
  for (let round = 0; round < BLOB_FETCH_ROUNDS; round++) {
    if (round > 0) await sleep(backoffMs(round - 1, BLOB_FETCH_BACKOFF_BASE_MS, BLOB_FETCH_BACKOFF_MAX_MS));
    const found = await findBlobProviders(deps.network, contextId, blobId).catch((err: unknown) => {
      log.warn({ err: errorMessage(err) }, 'Blob provider lookup failed');
      return [] as string[];
    });
    const candidates = [...new Set([...(request.peers ?? []), ...found])].filter((p) => p !== self && !liars.has(p));
    for (const peer of candidates) {
      try {
        const stored = await downloadFrom(deps, { blobId, contextId, peer, self, me });
        deps.metrics.blobFetchAttempts.inc({ outcome: BlobAttemptOutcome.Ok });
        log.info({ peer, size: stored.size, round }, 'Fetched a blob from a provider');
        return stored;
      } catch (err) {
        const outcome = err instanceof AttemptError ? err.outcome : BlobAttemptOutcome.Failed;
        deps.metrics.blobFetchAttempts.inc({ outcome });
        // A provider that sent what it cannot have (a chunk or a list that does not hash) lies.
        if (outcome === BlobAttemptOutcome.Corrupt || outcome === BlobAttemptOutcome.BadResponse) liars.add(peer);
        log.warn({ peer, round, outcome, err: errorMessage(err) }, 'A blob provider did not serve the blob');
      }
    }
  }
  throw new CodedError(
    BlobFetchErrorCode.NoProvider,
    `no provider served blob ${toBase58(blobId)} in ${BLOB_FETCH_ROUNDS} rounds`,
  );
}

/** One of our identities in the context that is a member of its group: the token's signer. */
async function memberIdentity(deps: BlobTransferDeps, contextId: Buffer, groupId: Buffer): Promise<Identity> {
  for (const identity of await deps.identities.owned(contextId)) {
    if ((await deps.groups.role(groupId, identity.publicKey)) !== undefined) return identity;
  }
  throw new CodedError(BlobFetchErrorCode.NoIdentity, 'none of our identities in the context is a member of its group');
}

interface Download {
  blobId: Buffer;
  contextId: Buffer;
  peer: string;
  self: string;
  me: Identity;
}

async function downloadFrom(deps: BlobTransferDeps, d: Download): Promise<StoredBlob> {
  const stream = await RelayedStream.open(deps.network, relayOptions(deps), d.peer, BLOB_PROTOCOL);
  const meter = deps.meters.start('fetch');
  let writer: BlobWriter | undefined;
  let timedOut = false;
  const deadline = setTimeout(() => {
    timedOut = true;
    stream.reset('deadline');
  }, deps.limits.fetchDeadlineMs);
  try {
    const auth = createBlobAuth(d.me, { blobId: d.blobId, contextId: d.contextId, requesterPeer: d.self });
    await stream.writeFrame(wire.BlobRequest.encode({ blobId: d.blobId, contextId: d.contextId, auth }).finish());
    await stream.closeWrite();
    const response = decode(wire.BlobResponse, await nextFrame(stream), 'response');
    if (!response.found) throw new AttemptError(BlobAttemptOutcome.NotFound, 'the provider has no such blob for us');
    const plan = checkResponse(deps, d.blobId, response);
    writer = deps.blobs.writer({
      expectedSize: plan.size,
      expectedHash: plan.contentHash,
      maxBytes: deps.limits.maxBytes,
    });
    for (let i = 0; i < plan.hashes.length; i++) {
      await storeChunk(stream, writer, meter, plan, i);
    }
    const end = decode(wire.BlobChunk, await nextFrame(stream), 'end of blob');
    if (end.data.length > 0) throw new AttemptError(BlobAttemptOutcome.BadResponse, 'more chunks than the list names');
    const stored = await writer.finish().catch((err: unknown) => {
      // Every chunk hashed to its entry, so only the content hash can disagree: the list lied.
      throw new AttemptError(BlobAttemptOutcome.BadResponse, errorMessage(err));
    });
    if (!stored.id.equals(d.blobId))
      throw new AttemptError(BlobAttemptOutcome.Corrupt, 'the stored blob has another id');
    return stored;
  } catch (err) {
    writer?.abort();
    stream.reset();
    if (timedOut) throw new AttemptError(BlobAttemptOutcome.Timeout, 'the download missed BLOB_FETCH_DEADLINE');
    throw err;
  } finally {
    clearTimeout(deadline);
    meter.holding(stream.maxBufferedBytes);
    meter.done();
  }
}

interface TransferPlan {
  size: number;
  hashes: Buffer[];
  contentHash: Buffer | undefined;
}

/** The answer's chunk list must be the blob's (hash to its id) and fit its size and our cap. */
function checkResponse(deps: BlobTransferDeps, blobId: Buffer, response: wire.BlobResponse): TransferPlan {
  const size = Number(response.size);
  if (size > deps.limits.maxBytes) {
    throw new AttemptError(BlobAttemptOutcome.TooLarge, `blob is ${size} bytes, more than ${deps.limits.maxBytes}`);
  }
  const hashes = response.chunkHashes.map((h) => Buffer.from(h));
  if (hashes.some((h) => h.length !== 32) || hashes.length !== Math.ceil(size / BLOB_CHUNK_BYTES)) {
    throw new AttemptError(BlobAttemptOutcome.BadResponse, 'the chunk list does not fit the size');
  }
  if (!blobIdOf(hashes).equals(blobId)) {
    throw new AttemptError(BlobAttemptOutcome.BadResponse, 'the chunk list is not the blob id');
  }
  const contentHash = response.contentHash.length === 32 ? Buffer.from(response.contentHash) : undefined;
  return { size, hashes, contentHash };
}

async function storeChunk(
  stream: RelayedStream,
  writer: BlobWriter,
  meter: TransferMeter,
  plan: TransferPlan,
  index: number,
): Promise<void> {
  const frame = await nextFrame(stream);
  const { data } = decode(wire.BlobChunk, frame, `chunk ${index}`);
  const expectedLength = index < plan.hashes.length - 1 ? BLOB_CHUNK_BYTES : plan.size - index * BLOB_CHUNK_BYTES;
  if (data.length !== expectedLength || !sha256(data).equals(plan.hashes[index]!)) {
    throw new AttemptError(BlobAttemptOutcome.Corrupt, `chunk ${index} does not match its hash`);
  }
  // What this transfer holds: the relay's unread frames, the chunk in hand and the writer's copy.
  meter.holding(stream.maxBufferedBytes + frame.length + writer.bufferedBytes);
  await writer.write(data);
  meter.moved(data.length);
}

async function nextFrame(stream: RelayedStream): Promise<Uint8Array> {
  const frame = await withTimeout(
    stream.readFrame(),
    BLOB_FRAME_TIMEOUT_MS,
    () => new AttemptError(BlobAttemptOutcome.Timeout, 'the provider went silent'),
  );
  if (!frame) throw new AttemptError(BlobAttemptOutcome.BadResponse, 'the provider ended the stream early');
  return frame;
}

function decode<T>(type: { decode(bytes: Uint8Array): T }, frame: Uint8Array, what: string): T {
  try {
    return type.decode(frame);
  } catch {
    throw new AttemptError(BlobAttemptOutcome.BadResponse, `the ${what} does not decode`);
  }
}
