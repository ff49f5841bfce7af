import type { NatsConnection } from '@nats-io/nats-core';
import { RelayedStream, SYNC_PROTOCOL, type Catalog, type FrameStream, type NetworkClient } from '@cnode/bus';
import {
  MAX_GROUP_OP_PARENTS,
  MemberAuthRole,
  signMemberAuth,
  verifyMemberAuth,
  type Identity,
} from '@cnode/primitives';
import type { wire } from '@cnode/proto';
import { errorMessage } from '@cnode/runtime';
import { ContextError, ContextErrorCode } from './errors.js';
import {
  emptyIngestOutcomes,
  ingestGroupOps,
  type GovernanceDeps,
  type IngestOutcome,
  type IngestResult,
} from './governance.js';
import { isGroupMemberNow } from './membership-at-cut.js';
import { decodeSyncMessage, encodeSyncMessage } from './sync-frames.js';

export interface SyncClientOptions {
  /** Our peer id (`info`) and, unless `openStream` is given, the streams. */
  network: Pick<NetworkClient, 'info' | 'openStream'>;
  nc: () => NatsConnection;
  catalog: Catalog;
  /**
   * Opens a stream to a peer; by default a libp2p stream of the network service relayed over NATS.
   * The deterministic simulation passes its in-process network here.
   */
  openStream?: (peer: string, protocol: string) => Promise<FrameStream>;
  /** Most time one answer may take to arrive after its request was sent. */
  requestTimeoutMs: number;
  /** The relay resets a stream idle this long. */
  idleTimeoutMs: number;
  /**
   * This node's governance: a responder's identity is checked against it, and when the identity is
   * not known as a member (yet) the group's ops are caught up from that responder once.
   */
  governance: () => GovernanceDeps;
}

/** A peer proving an identity we do not know is asked for the group's ops at most this often. */
export const PEER_CATCH_UP_INTERVAL_MS = 10_000;
/** Most answers one governance catch-up reads (1000 ops each). */
const GOVERNANCE_CATCH_UP_ROUNDS = 16;
/** (group, peer) pairs remembered for that spacing; the oldest are forgotten first. */
const PEER_CATCH_UPS_KEPT = 1024;

/** What a session is about: a context (scope = context id) or a group (scope = group id). */
export interface SyncScope {
  id: Buffer;
  groupId: Buffer;
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
 * answer is read and checked. The first request carries our member proof; the peer's first answer
 * (other than a refusal) must carry its own, or nothing it says is used: only members serve state.
 * A deadline bounds the whole session and a timeout each answer: a silent or slow peer resets the
 * stream, never hangs us.
 */
export class SyncSession {
  readonly traffic: SessionTraffic = { bytesSent: 0, bytesReceived: 0, requests: 0 };
  private authSent = false;
  private responderProven = false;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private expired = false;
  private readonly endsAt: number;

  constructor(
    private readonly stream: FrameStream,
    private readonly auth: wire.MemberAuth,
    private readonly requestTimeoutMs: number,
    deadlineMs: number,
    /** Checks the peer's proof with its first answer; undefined for self-authenticating answers. */
    private readonly proveResponder: ((auth: wire.MemberAuth | undefined, peer: string) => Promise<void>) | undefined,
  ) {
    this.endsAt = Date.now() + deadlineMs;
    this.deadlineTimer = setTimeout(() => {
      this.expired = true;
      stream.reset('deadline');
    }, deadlineMs);
  }

  get peer(): string {
    return this.stream.peer;
  }

  /** Time left before the session's deadline resets it. */
  remainingMs(): number {
    return Math.max(0, this.endsAt - Date.now());
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
    if (!this.responderProven) {
      await this.proveResponder?.(answer.auth, peer);
      this.responderProven = true;
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
        throw new ContextError(ContextErrorCode.Deadline, `session with ${this.stream.peer} passed its deadline`);
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
  /** When governance was last caught up from a (group, peer), for the spacing. */
  private readonly catchUps = new Map<string, number>();

  constructor(private readonly opts: SyncClientOptions) {}

  /** Our libp2p peer id (the member proof binds to it), asked once. */
  peerId(): Promise<string> {
    this.localPeer ??= this.opts.network.info().then((i) => i.peerId);
    this.localPeer.catch(() => (this.localPeer = undefined));
    return this.localPeer;
  }

  /**
   * Opens a session with `peer` about one context or group, speaking for `member`. Unless
   * `selfAuthenticating` (deltas and group ops carry their authors' signatures, so anyone may relay
   * them), the peer's first answer must prove a member identity of the group.
   */
  async open(
    peer: string,
    scope: SyncScope,
    member: Identity,
    deadlineMs: number,
    opts: { selfAuthenticating?: boolean } = {},
  ): Promise<SyncSession> {
    const auth = signMemberAuth(member, scope.id, await this.peerId());
    const stream = await (this.opts.openStream
      ? this.opts.openStream(peer, SYNC_PROTOCOL)
      : RelayedStream.open(
          this.opts.network,
          { nc: this.opts.nc(), catalog: this.opts.catalog, idleTimeoutMs: this.opts.idleTimeoutMs },
          peer,
          SYNC_PROTOCOL,
        ));
    const proveResponder = async (proof: wire.MemberAuth | undefined, remote: string): Promise<void> => {
      let responder: Buffer;
      try {
        responder = verifyMemberAuth(proof, scope.id, remote, { role: MemberAuthRole.Responder });
      } catch (err) {
        const why = `${remote} does not prove a member identity`;
        throw new ContextError(ContextErrorCode.PeerNotMember, why, {}, { cause: err });
      }
      if (!(await this.isMemberCatchingUp(scope.groupId, responder, remote, member))) {
        throw new ContextError(ContextErrorCode.PeerNotMember, `${remote} speaks for an identity that is no member`);
      }
    };
    return new SyncSession(
      stream,
      auth,
      this.opts.requestTimeoutMs,
      deadlineMs,
      opts.selfAuthenticating ? undefined : proveResponder,
    );
  }

  /**
   * Whether `identity` is a member of the group (the projection at our heads, `isGroupMemberNow`),
   * after catching up the group's governance from `peer` when it is not known as one: a member added
   * after our last governance update is not refused for our being behind. `me` is our member
   * identity for the catch-up request. Both ends of a session use it: initiators for the responder's
   * proof, responders for the requester's.
   */
  async isMemberCatchingUp(groupId: Buffer, identity: Buffer, peer: string, me: Identity): Promise<boolean> {
    const governance = this.opts.governance();
    if (await isGroupMemberNow(governance, groupId, identity, peer)) return true;
    if (!(await this.catchUpGovernance(groupId, peer, me))) return false;
    return isGroupMemberNow(governance, groupId, identity, peer);
  }

  /**
   * Fetches the group's ops we lack from `peer` (our heads tell it what we have) and ingests them.
   * At most once per (group, peer) every 10 s, so a peer citing ops nobody has cannot make us ask
   * again and again. Undefined when spaced out or failed (logged).
   */
  async catchUpGovernance(groupId: Buffer, peer: string, me: Identity): Promise<IngestResult | undefined> {
    const governance = this.opts.governance();
    const key = `${groupId.toString('hex')}:${peer}`;
    const last = this.catchUps.get(key);
    if (last !== undefined && Date.now() - last < PEER_CATCH_UP_INTERVAL_MS) return undefined;
    this.catchUps.delete(key);
    this.catchUps.set(key, Date.now());
    if (this.catchUps.size > PEER_CATCH_UPS_KEPT) this.catchUps.delete(this.catchUps.keys().next().value!);
    try {
      const result: IngestResult = { outcomes: emptyIngestOutcomes(), applied: [] };
      // An answer holds at most 1000 ops; a longer gap takes a few rounds, each from our new heads.
      for (let round = 0; round < GOVERNANCE_CATCH_UP_ROUNDS; round++) {
        const known = (await governance.groups.heads(groupId)).slice(0, MAX_GROUP_OP_PARENTS);
        const answer = await this.fetchGroupOps(peer, me, groupId, known);
        const step = await ingestGroupOps(governance, answer.ops);
        for (const [k, n] of Object.entries(step.outcomes)) result.outcomes[k as IngestOutcome] += n;
        result.applied.push(...step.applied);
        if (!answer.truncated || step.applied.length === 0) break;
      }
      governance.logger.info(
        { peer, group: groupId.toString('hex'), outcomes: result.outcomes },
        'Caught up governance from a peer',
      );
      return result;
    } catch (err) {
      governance.logger.warn({ peer, err: errorMessage(err) }, 'Governance catch-up from a peer failed');
      return undefined;
    }
  }

  /** One request in a session of its own. */
  async request<K extends SyncPayload['$case']>(
    peer: string,
    scope: SyncScope,
    member: Identity,
    payload: SyncPayload,
    expect: K,
    opts: { selfAuthenticating?: boolean } = {},
  ): Promise<SyncPayloadOf<K>> {
    const session = await this.open(peer, scope, member, this.opts.requestTimeoutMs, opts);
    try {
      const answer = await session.request(payload, expect);
      await session.close();
      return answer;
    } catch (err) {
      session.abort();
      throw err;
    }
  }

  fetchDeltas(peer: string, member: Identity, groupId: Buffer, req: wire.DeltaRequest): Promise<wire.DeltaResponse> {
    return this.request(
      peer,
      { id: Buffer.from(req.contextId), groupId },
      member,
      { $case: 'deltaRequest', deltaRequest: req },
      'deltaResponse',
      { selfAuthenticating: true },
    ).then((p) => p.deltaResponse);
  }

  fetchDagHeads(peer: string, member: Identity, ctx: SyncScope): Promise<wire.DagHeadsResponse> {
    return this.request(
      peer,
      ctx,
      member,
      { $case: 'dagHeadsRequest', dagHeadsRequest: { contextId: ctx.id } },
      'dagHeadsResponse',
    ).then((p) => p.dagHeadsResponse);
  }

  /** The group's keys, sealed to `member` by a member peer. */
  fetchKeyShare(peer: string, member: Identity, groupId: Buffer): Promise<wire.KeyShareResponse> {
    return this.request(
      peer,
      { id: groupId, groupId },
      member,
      { $case: 'keyShareRequest', keyShareRequest: { groupId } },
      'keyShareResponse',
    ).then((p) => p.keyShareResponse);
  }

  /** The group's applied ops, parents first; with `knownHeads`, only those not in their ancestry. */
  fetchGroupOps(
    peer: string,
    member: Identity,
    groupId: Buffer,
    knownHeads: readonly Buffer[] = [],
  ): Promise<wire.GroupOpsResponse> {
    return this.request(
      peer,
      { id: groupId, groupId },
      member,
      { $case: 'groupOpsRequest', groupOpsRequest: { groupId, knownHeads: [...knownHeads] } },
      'groupOpsResponse',
      { selfAuthenticating: true },
    ).then((p) => p.groupOpsResponse);
  }
}
