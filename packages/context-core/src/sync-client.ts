import type { NatsConnection } from '@nats-io/nats-core';
import { RelayedStream, SYNC_PROTOCOL, type Catalog, type NetworkClient } from '@cnode/bus';
import { signMemberAuth, type Identity } from '@cnode/primitives';
import type { wire } from '@cnode/proto';
import { ContextError, ContextErrorCode } from './errors.js';
import { decodeSyncMessage, encodeSyncMessage } from './sync-frames.js';

export interface SyncClientOptions {
  network: NetworkClient;
  nc: () => NatsConnection;
  catalog: Catalog;
  /** Whole request, open to answer. */
  requestTimeoutMs: number;
  /** The relay resets a stream idle this long. */
  idleTimeoutMs: number;
}

type Payload = NonNullable<wire.SyncStreamMessage['payload']>;
type PayloadOf<K extends Payload['$case']> = Extract<Payload, { $case: K }>;

/**
 * The initiator side of `/calimero/stream/pb/1` for one-shot requests: opens a stream to the peer
 * through the network service, sends the request with a member proof, and reads the one answer.
 */
export class SyncClient {
  private localPeer: Promise<string> | undefined;

  constructor(private readonly opts: SyncClientOptions) {}

  /** Our libp2p peer id (the member proof binds to it), asked once. */
  private peerId(): Promise<string> {
    this.localPeer ??= this.opts.network.info().then((i) => i.peerId);
    this.localPeer.catch(() => (this.localPeer = undefined));
    return this.localPeer;
  }

  async request<K extends Payload['$case']>(
    peer: string,
    scopeId: Buffer,
    member: Identity,
    payload: Payload,
    expect: K,
  ): Promise<PayloadOf<K>> {
    const auth = signMemberAuth(member, scopeId, await this.peerId());
    const stream = await RelayedStream.open(
      this.opts.network,
      { nc: this.opts.nc(), catalog: this.opts.catalog, idleTimeoutMs: this.opts.idleTimeoutMs },
      peer,
      SYNC_PROTOCOL,
    );
    const timer = setTimeout(() => stream.reset('timeout'), this.opts.requestTimeoutMs);
    try {
      await stream.writeFrame(encodeSyncMessage({ auth, payload }));
      await stream.closeWrite();
      let frame: Uint8Array | undefined;
      try {
        frame = await stream.readFrame();
      } catch (err) {
        if ((err as { meta?: { reason?: string } }).meta?.reason === 'timeout') {
          throw new ContextError(
            ContextErrorCode.Timeout,
            `no answer from ${peer} in ${this.opts.requestTimeoutMs} ms`,
          );
        }
        throw err;
      }
      if (!frame) throw new ContextError(ContextErrorCode.BadAnswer, `${peer} closed without answering`);
      let answer: wire.SyncStreamMessage;
      try {
        answer = decodeSyncMessage(frame);
      } catch (err) {
        throw new ContextError(ContextErrorCode.BadAnswer, `undecodable answer from ${peer}`, {}, { cause: err });
      }
      const got = answer.payload;
      if (got?.$case === 'error') {
        throw new ContextError(ContextErrorCode.PeerRefused, `${peer} refused: ${got.error.message}`, {
          code: got.error.code,
        });
      }
      if (got?.$case !== expect) {
        throw new ContextError(
          ContextErrorCode.BadAnswer,
          `${peer} answered ${got?.$case ?? 'nothing'}, not ${expect}`,
        );
      }
      // Drain the close, so the stream ends cleanly on both sides.
      await stream.readFrame().catch(() => undefined);
      return got as PayloadOf<K>;
    } catch (err) {
      stream.reset();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  fetchDeltas(peer: string, member: Identity, req: wire.DeltaRequest): Promise<wire.DeltaResponse> {
    return this.request(
      peer,
      Buffer.from(req.contextId),
      member,
      { $case: 'deltaRequest', deltaRequest: req },
      'deltaResponse',
    ).then((p) => p.deltaResponse);
  }

  fetchDagHeads(peer: string, member: Identity, contextId: Buffer): Promise<wire.DagHeadsResponse> {
    return this.request(
      peer,
      contextId,
      member,
      { $case: 'dagHeadsRequest', dagHeadsRequest: { contextId } },
      'dagHeadsResponse',
    ).then((p) => p.dagHeadsResponse);
  }

  fetchGroupOps(peer: string, member: Identity, groupId: Buffer): Promise<wire.GroupOpsResponse> {
    return this.request(
      peer,
      groupId,
      member,
      { $case: 'groupOpsRequest', groupOpsRequest: { groupId } },
      'groupOpsResponse',
    ).then((p) => p.groupOpsResponse);
  }
}
