import { randomBytes } from 'node:crypto';
import type { NatsConnection } from '@nats-io/nats-core';
import type { bus } from '@cnode/proto';
import type { Catalog } from '../catalog.js';
import { BusError, BusErrorCode } from '../errors.js';
import type { NetworkClient } from '../network-client.js';
import { RelayResetReason } from './constants.js';
import { FrameAssembler, FrameError, frameChunks } from './frames.js';
import { RelayChannel, type RelayKind } from './relay-channel.js';
import { SendWindow } from './send-window.js';

export interface RelayOwnerOptions {
  nc: NatsConnection;
  catalog: Catalog;
  /** Reset the stream when nothing moves in either direction for this long. */
  idleTimeoutMs: number;
}

/**
 * A stream of whole frames with one peer, in order, both ways: what a protocol session (sync, blobs)
 * speaks over. `RelayedStream` is the production one; anything else (an in-process pair in a
 * simulation) must keep its rules: `readFrame` gives undefined once the remote closed and every
 * frame was read, a reset fails every pending and later call.
 */
export interface FrameStream {
  readonly peer: string;
  readFrame(): Promise<Uint8Array | undefined>;
  writeFrame(frame: Uint8Array): Promise<void>;
  /** Closes our writable end; reading goes on until the remote closes too. */
  closeWrite(): Promise<void>;
  /** Resets the stream in both directions. */
  reset(reason?: string): void;
}

/** A reset raised to the owner: `reason` is a RelayResetReason or the remote's own reason. */
export function streamResetError(reason: string): BusError {
  return new BusError(BusErrorCode.StreamReset, `stream reset: ${reason}`, { reason });
}

/**
 * The owner's end of a libp2p stream that lives in the network service: whole frames in and out,
 * in order, with credit-based backpressure in both directions. At most `initialCredit` bytes are in
 * flight towards the owner, and the owner buffers at most one partial frame plus what it has not
 * read yet. A reset on either side (or a lost relay message, or idleness) fails every pending and
 * later call with BUS_STREAM_RESET.
 */
export class RelayedStream implements FrameStream, AsyncIterable<Uint8Array> {
  private readonly channel: RelayChannel;
  private readonly window: SendWindow;
  private readonly assembler = new FrameAssembler();
  private readonly frames: Uint8Array[] = [];
  private unreadBytes = 0;
  private ungrantedBytes = 0;
  private remoteClosed = false;
  private localClosed = false;
  private failure: Error | undefined;
  private readers: { resolve: () => void }[] = [];
  private writeChain: Promise<void> = Promise.resolve();
  private idleTimer: NodeJS.Timeout | undefined;
  private highWater = 0;

  private constructor(
    readonly id: string,
    readonly peer: string,
    readonly protocol: string,
    initialCredit: number,
    private readonly opts: RelayOwnerOptions,
  ) {
    this.window = new SendWindow(initialCredit);
    this.channel = new RelayChannel(
      opts.nc,
      opts.catalog.subjects.streamToNetwork(id),
      opts.catalog.subjects.streamToOwner(id),
      {
        onMessage: (kind) => this.onMessage(kind),
        onGap: () => this.abort(RelayResetReason.RelayGap, true),
        onUndecodable: () => this.abort(RelayResetReason.BadFrame, true),
      },
    );
    this.touch();
  }

  /** Opens a stream to `peer` on `protocol` through the network service and attaches to it. */
  static async open(
    client: Pick<NetworkClient, 'openStream'>,
    opts: RelayOwnerOptions,
    peer: string,
    protocol: string,
  ): Promise<RelayedStream> {
    const id = randomBytes(12).toString('base64url');
    // Subscribe before asking, so no byte from the peer can arrive before we listen.
    const stream = new RelayedStream(id, peer, protocol, 0, opts);
    try {
      const res = await client.openStream(id, peer, protocol);
      stream.window.grant(res.initialCredit);
      return stream;
    } catch (err) {
      stream.dispose();
      throw err;
    }
  }

  /** Takes an inbound stream announced on NET_EVENTS; the network service starts forwarding now. */
  static accept(opts: RelayOwnerOptions, opened: bus.StreamOpened): RelayedStream {
    const stream = new RelayedStream(opened.streamId, opened.peer, opened.protocol, opened.initialCredit, opts);
    stream.channel.send({ $case: 'attach', attach: {} });
    return stream;
  }

  /** Most bytes this end ever held (unread frames plus the partial frame): the memory bound in practice. */
  get maxBufferedBytes(): number {
    return this.highWater;
  }

  /** The next frame, or undefined once the remote closed its writable end and every frame was read. */
  async readFrame(): Promise<Uint8Array | undefined> {
    for (;;) {
      const frame = this.frames.shift();
      if (frame) {
        this.unreadBytes -= frame.length;
        // Everything queued is read: let the sender use what it was holding back for us.
        if (this.unreadBytes === 0 && this.ungrantedBytes > 0) this.grant();
        return frame;
      }
      if (this.failure) throw this.failure;
      if (this.remoteClosed) return undefined;
      await new Promise<void>((resolve) => this.readers.push({ resolve }));
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (let frame = await this.readFrame(); frame !== undefined; frame = await this.readFrame()) yield frame;
  }

  /** Sends one frame; resolves once all of it is on its way (waits for credit as needed). */
  writeFrame(frame: Uint8Array): Promise<void> {
    const run = this.writeChain.then(() => this.sendFrame(frame));
    this.writeChain = run.catch(() => undefined);
    return run;
  }

  /** Throws the stream's failure, if any (a method, so checks after an await are not narrowed away). */
  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  private async sendFrame(frame: Uint8Array): Promise<void> {
    this.throwIfFailed();
    if (this.localClosed) throw new BusError(BusErrorCode.StreamClosed, 'stream is closed for writing');
    for (const piece of frameChunks(frame)) {
      let sent = 0;
      // A chunk may need several grants: split it along the credit we get.
      do {
        const n = await this.window.take(piece.chunk.length - sent);
        this.throwIfFailed();
        const first = sent === 0;
        const last = sent + n === piece.chunk.length;
        this.channel.send({
          $case: 'data',
          data: {
            chunk: piece.chunk.subarray(sent, sent + n),
            frameLength: first ? piece.frameLength : 0,
            frameStart: first && piece.frameStart,
            frameEnd: last && piece.frameEnd,
          },
        });
        sent += n;
        this.touch();
      } while (sent < piece.chunk.length);
    }
  }

  /** Closes our writable end after pending writes; reading goes on until the remote closes too. */
  async closeWrite(): Promise<void> {
    await this.writeChain;
    if (this.failure || this.localClosed) return;
    this.localClosed = true;
    this.channel.send({ $case: 'close', close: {} });
    this.maybeFinish();
  }

  /** Resets the stream in both directions. */
  reset(reason: string = RelayResetReason.OwnerReset): void {
    if (this.failure) return;
    this.channel.send({ $case: 'reset', reset: { reason } });
    this.fail(streamResetError(reason));
  }

  private onMessage(kind: RelayKind): void {
    if (this.failure) return;
    this.touch();
    switch (kind.$case) {
      case 'data':
        this.onData(kind.data);
        return;
      case 'credit':
        this.window.grant(Number(kind.credit));
        return;
      case 'close':
        this.remoteClosed = true;
        this.wakeReaders();
        this.maybeFinish();
        return;
      case 'reset':
        this.fail(streamResetError(kind.reset.reason || RelayResetReason.RemoteReset));
        return;
      case 'attach':
        return;
    }
  }

  private onData(data: bus.RelayData): void {
    let frame: Uint8Array | undefined;
    try {
      frame = this.assembler.push(data);
    } catch (err) {
      this.abort(err instanceof FrameError ? err.reason : RelayResetReason.BadFrame, true);
      return;
    }
    this.ungrantedBytes += data.chunk.length;
    // While the owner keeps up (nothing unread), credit flows back at once; otherwise it waits for reads.
    if (this.unreadBytes === 0) this.grant();
    if (frame) {
      this.frames.push(frame);
      this.unreadBytes += frame.length;
      this.wakeReaders();
    }
    this.highWater = Math.max(this.highWater, this.unreadBytes + this.assembler.partialBytes);
  }

  private grant(): void {
    if (this.ungrantedBytes === 0) return;
    this.channel.send({ $case: 'credit', credit: BigInt(this.ungrantedBytes) });
    this.ungrantedBytes = 0;
  }

  private touch(): void {
    clearTimeout(this.idleTimer);
    if (this.failure) return;
    this.idleTimer = setTimeout(() => this.abort(RelayResetReason.IdleTimeout, true), this.opts.idleTimeoutMs);
    this.idleTimer.unref();
  }

  /** Fails locally and tells the network service to reset the libp2p stream. */
  private abort(reason: RelayResetReason, notify: boolean): void {
    if (this.failure) return;
    if (notify) this.channel.send({ $case: 'reset', reset: { reason } });
    this.fail(streamResetError(reason));
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.window.fail(err);
    this.wakeReaders();
    this.dispose();
  }

  private wakeReaders(): void {
    for (const reader of this.readers.splice(0)) reader.resolve();
  }

  private maybeFinish(): void {
    if (this.localClosed && this.remoteClosed) this.dispose();
  }

  private dispose(): void {
    clearTimeout(this.idleTimer);
    this.channel.close();
  }
}
