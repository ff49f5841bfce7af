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
  /** Most time one answer may take to arrive after its request was sent. */
  requestTimeoutMs: number;
  /** The relay resets a stream idle this long. */
  idleTimeoutMs: number;
}

export type SyncPayload = NonNullable<wire.SyncStreamMessage['payload']>;
export type SyncPayloadOf<K extends SyncPayload['$case']> = Extract<SyncPayload, { $case: K }>;

/** Bytes and frames one session moved, for metrics and for the bytes-per-protocol comparison. */
export interface SessionTraffic {
  bytesSent: number;
  bytesReceived: number;
  requests: number;
}

/**
 * The initiator's end of one `/calimero/stream/pb/1` session: requests go out one at a time, each
 * answer is read and checked, the first request carries the member proof. A deadline bounds the
 * whole session and a timeout each answer: a silent or slow peer resets the stream, never hangs us.
 */
export class SyncSession {
  readonly traffic: SessionTraffic = { bytesSent: 0, bytesReceived: 0, requests: 0 };
  private authSent = false;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private expired = false;

  constructor(
    private readonly stream: RelayedStream,
    private readonly auth: wire.MemberAuth,
    private readonly requestTimeoutMs: number,
    deadlineMs: number,
  ) {
    this.deadlineTimer = setTimeout(() => {
      this.expired = true;
      stream.reset('deadline');
    }, deadlineMs);
  }

  get peer(): string {
    return this.stream.peer;
  }

  /** Sends one request and returns its answer, which must be of kind `expect`. */
  async request<K extends SyncPayload['$case']>(payload: SyncPayload, expect: K): Promise<SyncPayloadOf<K>> {
    await this.send(payload);
    return this.receive(expect);
  }

  /** Sends a request whose answer is several frames (read them with `receive`). */
  async send(payload: SyncPayload): Promise<void> {
    const message: wire.SyncStreamMessage = { payload };
    if (!this.authSent) message.auth = this.auth;
    this.authSent = true;
    const frame = encodeSyncMessage(message);
    this.traffic.bytesSent += frame.length;
    this.traffic.requests++;
    await this.guard(this.stream.writeFrame(frame));
  }

  /** Reads the next answer frame; a StreamError becomes a PeerRefused error. */
  async receive<K extends SyncPayload['$case']>(expect: K): Promise<SyncPayloadOf<K>> {
    const peer = this.stream.peer;
    const timer = setTimeout(() => this.stream.reset('timeout'), this.requestTimeoutMs);
    let frame: Uint8Array | undefined;
    try {
      frame = await this.guard(this.stream.readFrame());
    } catch (err) {
      if ((err as { meta?: { reason?: string } }).meta?.reason === 'timeout') {
        throw new ContextError(ContextErrorCode.Timeout, `no answer from ${peer} in ${this.requestTimeoutMs} ms`);
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
    if (!frame) throw new ContextError(ContextErrorCode.BadAnswer, `${peer} closed without answering`);
    this.traffic.bytesReceived += frame.length;
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
      throw new ContextError(ContextErrorCode.BadAnswer, `${peer} answered ${got?.$case ?? 'nothing'}, not ${expect}`);
    }
    return got as SyncPayloadOf<K>;
  }

  /** Ends the session cleanly: our side closes, then we wait for the peer's close. */
  async close(): Promise<void> {
    try {
      await this.stream.closeWrite();
      await this.stream.readFrame().catch(() => undefined);
    } finally {
      this.dispose();
    }
  }

  /** Ends the session at once (after a failure). */
  abort(): void {
    this.stream.reset();
    this.dispose();
  }

  private dispose(): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
  }

  /** A stream reset by our deadline reads as a session timeout, not as a peer failure. */
  private async guard<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (err) {
      if (this.expired) {
        throw new ContextError(ContextErrorCode.Timeout, `session with ${this.stream.peer} passed its deadline`);
      }
      throw err;
    }
  }
}

/**
 * Opens sync sessions to peers through the network service, and the one-shot requests built on
 * them (a session of one request).
 */
export class SyncClient {
  private localPeer: Promise<string> | undefined;

  constructor(private readonly opts: SyncClientOptions) {}

  /** Our libp2p peer id (the member proof binds to it), asked once. */
  peerId(): Promise<string> {
    this.localPeer ??= this.opts.network.info().then((i) => i.peerId);
    this.localPeer.catch(() => (this.localPeer = undefined));
    return this.localPeer;
  }

  /** Opens a session with `peer` about one context or group (`scopeId`), speaking for `member`. */
  async open(peer: string, scopeId: Buffer, member: Identity, deadlineMs: number): Promise<SyncSession> {
    const auth = signMemberAuth(member, scopeId, await this.peerId());
    const stream = await RelayedStream.open(
      this.opts.network,
      { nc: this.opts.nc(), catalog: this.opts.catalog, idleTimeoutMs: this.opts.idleTimeoutMs },
      peer,
      SYNC_PROTOCOL,
    );
    return new SyncSession(stream, auth, this.opts.requestTimeoutMs, deadlineMs);
  }

  /** One request in a session of its own. */
  async request<K extends SyncPayload['$case']>(
    peer: string,
    scopeId: Buffer,
    member: Identity,
    payload: SyncPayload,
    expect: K,
  ): Promise<SyncPayloadOf<K>> {
    const session = await this.open(peer, scopeId, member, this.opts.requestTimeoutMs);
    try {
      const answer = await session.request(payload, expect);
      await session.close();
      return answer;
    } catch (err) {
      session.abort();
      throw err;
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
