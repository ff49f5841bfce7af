import type { Stream } from '@libp2p/interface';
import { Uint8ArrayList } from 'uint8arraylist';
import type { NatsConnection } from '@nats-io/nats-core';
import type { bus } from '@cnode/proto';
import {
  MAX_FRAME_BYTES,
  RELAY_CHUNK_BYTES,
  RelayChannel,
  RelayResetReason,
  type Catalog,
  type RelayKind,
} from '@cnode/bus';
import { errorMessage, type Logger } from '@cnode/runtime';
import type { NetworkMetrics } from '../metrics.js';

const HEADER_BYTES = 4;

export interface StreamBridgeOptions {
  id: string;
  stream: Stream;
  peer: string;
  nc: NatsConnection;
  catalog: Catalog;
  /** Credit window per direction. */
  windowBytes: number;
  idleTimeoutMs: number;
  /** Inbound streams wait for an owner to attach; outbound ones have theirs already. */
  attached: boolean;
  attachTimeoutMs: number;
  metrics: NetworkMetrics;
  logger: Logger;
  onEnd(id: string): void;
}

/**
 * Relays one libp2p stream to its owner over NATS. Peer → owner: the length-prefixed byte stream is
 * parsed as it arrives (frames up to 8 MiB) and forwarded in chunks only against the owner's credit;
 * without credit the libp2p stream is paused, so the peer's muxer window fills and the peer stops.
 * Owner → peer: chunks are written as frames and credit is returned once libp2p has taken them.
 * Either way the relay holds about one window per stream, whatever the frame or stream size.
 */
export class StreamBridge {
  private readonly channel: RelayChannel;
  private readonly pending = new Uint8ArrayList();
  private ownerCredit: number;
  /** Credit we granted the owner that it has not used yet. */
  private grantedToOwner: number;
  private attached: boolean;
  private attachTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  // Peer → owner parser state.
  private readonly header = new Uint8Array(HEADER_BYTES);
  private headerFill = 0;
  private frameRemaining = 0;
  private frameLength = 0;
  private inFrame = false;
  private frameStartPending = false;
  // Owner → peer frame state.
  private outExpected = 0;
  private outReceived = 0;
  private outInFrame = false;
  private ungrantedWritten = 0;
  private waitingForDrain = false;
  // Lifecycle.
  private remoteWriteClosed = false;
  private closeSentToOwner = false;
  private ownerWriteClosed = false;
  private ended = false;
  private highWater = 0;
  private pauseCheckScheduled = false;

  constructor(private readonly opts: StreamBridgeOptions) {
    this.ownerCredit = opts.windowBytes;
    this.grantedToOwner = opts.windowBytes;
    this.attached = opts.attached;
    this.channel = new RelayChannel(
      opts.nc,
      opts.catalog.subjects.streamToOwner(opts.id),
      opts.catalog.subjects.streamToNetwork(opts.id),
      {
        onMessage: (kind) => this.onOwnerMessage(kind),
        onGap: () => this.end(RelayResetReason.RelayGap, true),
        onUndecodable: () => this.end(RelayResetReason.BadFrame, true),
      },
    );
    const { stream } = opts;
    stream.addEventListener('message', (evt) => this.onPeerData(evt.data));
    stream.addEventListener('remoteCloseWrite', () => {
      // The peer sends nothing more: take in what libp2p still buffers (at most one window).
      this.remoteWriteClosed = true;
      this.schedulePauseCheck();
      this.pump();
    });
    stream.addEventListener('close', (evt) => {
      if (evt.error) {
        if (!this.ended) {
          opts.logger.debug(
            { stream: opts.id, err: errorMessage(evt.error), local: evt.local },
            'libp2p stream failed',
          );
        }
        this.end(RelayResetReason.RemoteReset, true);
      } else if (!this.remoteWriteClosed) {
        // Closed without the peer finishing its half: the stream did not end properly.
        this.end(RelayResetReason.RemoteReset, true);
      } else {
        // A clean close; the tail of the peer's data may still be on its way to the owner.
        this.maybeFinish();
      }
    });
    if (!this.attached) {
      stream.pause();
      this.attachTimer = setTimeout(() => this.end(RelayResetReason.NotAccepted, true), opts.attachTimeoutMs);
      this.attachTimer.unref();
    }
    this.touch();
  }

  /** Bytes held for this stream now: read from the peer but not forwarded (ours and libp2p's buffer). */
  get bufferedBytes(): number {
    return this.pending.byteLength + this.opts.stream.readBufferLength;
  }

  get maxBufferedBytes(): number {
    return this.highWater;
  }

  // --- peer → owner ---------------------------------------------------------------------------------

  private onPeerData(data: Uint8Array | Uint8ArrayList): void {
    if (this.ended) return;
    this.touch();
    this.pending.append(data);
    this.highWater = Math.max(this.highWater, this.bufferedBytes);
    this.pump();
  }

  /** Forwards what credit allows; pauses the libp2p stream when credit runs out. */
  private pump(): void {
    if (this.ended || !this.attached) return;
    while (this.pending.byteLength > 0) {
      if (!this.inFrame) {
        const take = Math.min(HEADER_BYTES - this.headerFill, this.pending.byteLength);
        this.header.set(this.pending.subarray(0, take), this.headerFill);
        this.pending.consume(take);
        this.headerFill += take;
        if (this.headerFill < HEADER_BYTES) break;
        this.headerFill = 0;
        this.frameLength = new DataView(this.header.buffer).getUint32(0);
        if (this.frameLength > MAX_FRAME_BYTES) {
          this.end(RelayResetReason.FrameTooLarge, true);
          return;
        }
        this.inFrame = true;
        this.frameRemaining = this.frameLength;
        this.frameStartPending = true;
        if (this.frameLength === 0) this.sendChunk(new Uint8Array(0));
        continue;
      }
      const n = Math.min(this.frameRemaining, this.pending.byteLength, this.ownerCredit, RELAY_CHUNK_BYTES);
      if (n === 0) break;
      const chunk = this.pending.subarray(0, n);
      this.pending.consume(n);
      this.sendChunk(chunk);
    }
    if (this.ended) return;
    this.schedulePauseCheck();
    // The peer's half-close is a flag; data before it may still wait in libp2p's buffer while paused.
    const drained = this.pending.byteLength === 0 && this.opts.stream.readBufferLength === 0;
    if (this.remoteWriteClosed && drained && !this.closeSentToOwner) {
      if (this.inFrame || this.headerFill > 0) {
        this.end(RelayResetReason.BadFrame, true);
        return;
      }
      this.closeSentToOwner = true;
      this.channel.send({ $case: 'close', close: {} });
      this.maybeFinish();
    }
  }

  private sendChunk(chunk: Uint8Array): void {
    const first = this.frameStartPending;
    this.frameStartPending = false;
    this.frameRemaining -= chunk.length;
    const last = this.frameRemaining === 0;
    if (last) this.inFrame = false;
    this.ownerCredit -= chunk.length;
    this.channel.send({
      $case: 'data',
      data: { chunk: Buffer.from(chunk), frameLength: first ? this.frameLength : 0, frameStart: first, frameEnd: last },
    });
    this.opts.metrics.relayBytes.inc({ direction: 'inbound' }, chunk.length);
  }

  /**
   * Pauses the libp2p stream while the owner has no credit, resumes it when it has. Decided after the
   * current call stack: `resume()` delivers buffered data to us synchronously and re-enables the
   * muxer's window updates only afterwards, so a pause() from inside that delivery would be undone.
   */
  private schedulePauseCheck(): void {
    if (this.pauseCheckScheduled) return;
    this.pauseCheckScheduled = true;
    queueMicrotask(() => {
      this.pauseCheckScheduled = false;
      const { stream } = this.opts;
      if (this.ended || stream.readStatus === 'closed' || stream.readStatus === 'closing') return;
      // After the peer's half-close nothing more can arrive: never hold its tail in libp2p's buffer.
      if (this.ownerCredit <= 0 && !this.remoteWriteClosed) stream.pause();
      else if (stream.readStatus === 'paused') stream.resume();
    });
  }

  // --- owner → peer ---------------------------------------------------------------------------------

  private onOwnerMessage(kind: RelayKind): void {
    if (this.ended) return;
    this.touch();
    switch (kind.$case) {
      case 'attach':
        if (this.attached) return;
        this.attached = true;
        clearTimeout(this.attachTimer);
        this.pump();
        return;
      case 'credit':
        this.ownerCredit += Number(kind.credit);
        this.pump();
        return;
      case 'data':
        this.onOwnerData(kind.data);
        return;
      case 'close':
        this.onOwnerClose();
        return;
      case 'reset':
        this.end(RelayResetReason.OwnerReset, false);
        return;
    }
  }

  private onOwnerData(data: bus.RelayData): void {
    const size = data.chunk.length;
    this.grantedToOwner -= size;
    if (this.grantedToOwner < 0) {
      this.end(RelayResetReason.CreditExceeded, true);
      return;
    }
    let out: Uint8Array = data.chunk;
    if (data.frameStart) {
      if (this.outInFrame || data.frameLength > MAX_FRAME_BYTES) {
        this.end(data.frameLength > MAX_FRAME_BYTES ? RelayResetReason.FrameTooLarge : RelayResetReason.BadFrame, true);
        return;
      }
      this.outInFrame = true;
      this.outExpected = data.frameLength;
      this.outReceived = 0;
      const framed = Buffer.allocUnsafe(HEADER_BYTES + size);
      framed.writeUInt32BE(data.frameLength, 0);
      framed.set(data.chunk, HEADER_BYTES);
      out = framed;
    } else if (!this.outInFrame) {
      this.end(RelayResetReason.BadFrame, true);
      return;
    }
    this.outReceived += size;
    if (this.outReceived > this.outExpected || (data.frameEnd && this.outReceived !== this.outExpected)) {
      this.end(RelayResetReason.BadFrame, true);
      return;
    }
    if (data.frameEnd) this.outInFrame = false;
    try {
      const accepted = this.opts.stream.send(out);
      this.opts.metrics.relayBytes.inc({ direction: 'outbound' }, size);
      this.ungrantedWritten += size;
      if (accepted && !this.waitingForDrain) this.grantOwner();
      else this.awaitDrain();
    } catch (err) {
      this.opts.logger.debug({ stream: this.opts.id, err: errorMessage(err) }, 'Write to libp2p stream failed');
      this.end(RelayResetReason.NetworkGone, true);
    }
  }

  /** Returns credit once libp2p took the bytes: the owner can never fill our write buffer. */
  private grantOwner(): void {
    if (this.ungrantedWritten === 0) return;
    this.grantedToOwner += this.ungrantedWritten;
    this.channel.send({ $case: 'credit', credit: BigInt(this.ungrantedWritten) });
    this.ungrantedWritten = 0;
  }

  private awaitDrain(): void {
    if (this.waitingForDrain) return;
    this.waitingForDrain = true;
    this.opts.stream.onDrain().then(
      () => {
        this.waitingForDrain = false;
        if (!this.ended) this.grantOwner();
      },
      () => this.end(RelayResetReason.NetworkGone, true),
    );
  }

  private onOwnerClose(): void {
    if (this.outInFrame) {
      this.end(RelayResetReason.BadFrame, true);
      return;
    }
    this.ownerWriteClosed = true;
    this.opts.stream.close().then(
      () => this.maybeFinish(),
      () => this.end(RelayResetReason.NetworkGone, true),
    );
  }

  // --- lifecycle ------------------------------------------------------------------------------------

  private touch(): void {
    clearTimeout(this.idleTimer);
    if (this.ended) return;
    this.idleTimer = setTimeout(() => this.end(RelayResetReason.IdleTimeout, true), this.opts.idleTimeoutMs);
    this.idleTimer.unref();
  }

  /** Both halves done (the peer's data all forwarded, the owner's all written): a clean end. */
  private maybeFinish(): void {
    if (!this.ended && this.ownerWriteClosed && this.closeSentToOwner) this.cleanup('completed');
  }

  /** Resets the stream: the libp2p side is aborted, the owner told (unless it asked for it). */
  end(reason: RelayResetReason, notifyOwner: boolean): void {
    if (this.ended) return;
    if (notifyOwner) this.channel.send({ $case: 'reset', reset: { reason } });
    if (this.opts.stream.status === 'open') this.opts.stream.abort(new Error(`relay reset: ${reason}`));
    this.opts.logger.debug({ stream: this.opts.id, peer: this.opts.peer, reason }, 'Relayed stream reset');
    this.cleanup(reason);
  }

  private cleanup(reason: string): void {
    this.ended = true;
    clearTimeout(this.idleTimer);
    clearTimeout(this.attachTimer);
    this.channel.close();
    this.pending.consume(this.pending.byteLength);
    this.opts.metrics.streamsClosed.inc({ reason });
    this.opts.onEnd(this.opts.id);
  }
}
