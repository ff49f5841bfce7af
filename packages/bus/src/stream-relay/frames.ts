import type { bus } from '@cnode/proto';
import { MAX_FRAME_BYTES, RELAY_CHUNK_BYTES, RelayResetReason } from './constants.js';

/** A frame violation that resets the stream. */
export class FrameError extends Error {
  constructor(
    readonly reason: RelayResetReason,
    message: string,
  ) {
    super(message);
    this.name = 'FrameError';
  }
}

/** Cuts one frame into relay chunks; a zero-length frame is one empty chunk. */
export function* frameChunks(frame: Uint8Array, chunkBytes = RELAY_CHUNK_BYTES): Generator<bus.RelayData> {
  if (frame.length > MAX_FRAME_BYTES) {
    throw new FrameError(RelayResetReason.FrameTooLarge, `frame of ${frame.length} bytes exceeds ${MAX_FRAME_BYTES}`);
  }
  let offset = 0;
  do {
    const end = Math.min(frame.length, offset + chunkBytes);
    yield {
      chunk: Buffer.from(frame.buffer, frame.byteOffset + offset, end - offset),
      frameLength: offset === 0 ? frame.length : 0,
      frameStart: offset === 0,
      frameEnd: end === frame.length,
    };
    offset = end;
  } while (offset < frame.length);
}

/**
 * Reassembles frames from relay chunks, checking that chunks start, continue and end frames in order
 * and add up to the announced length (at most MAX_FRAME_BYTES).
 */
export class FrameAssembler {
  private parts: Uint8Array[] = [];
  private expected = 0;
  private received = 0;
  private inFrame = false;

  /** Bytes of the frame being assembled. */
  get partialBytes(): number {
    return this.received;
  }

  /** Adds a chunk; returns the completed frame, if this chunk completed one. */
  push(data: bus.RelayData): Uint8Array | undefined {
    if (data.frameStart) {
      if (this.inFrame) throw new FrameError(RelayResetReason.BadFrame, 'frame started inside another frame');
      if (data.frameLength > MAX_FRAME_BYTES) {
        throw new FrameError(
          RelayResetReason.FrameTooLarge,
          `frame of ${data.frameLength} bytes exceeds ${MAX_FRAME_BYTES}`,
        );
      }
      this.inFrame = true;
      this.expected = data.frameLength;
      this.received = 0;
      this.parts = [];
    } else if (!this.inFrame) {
      throw new FrameError(RelayResetReason.BadFrame, 'chunk outside a frame');
    }
    this.received += data.chunk.length;
    if (this.received > this.expected) {
      throw new FrameError(RelayResetReason.BadFrame, 'chunks exceed the announced frame length');
    }
    if (data.chunk.length > 0) this.parts.push(data.chunk);
    if (!data.frameEnd) return undefined;
    if (this.received !== this.expected) {
      throw new FrameError(RelayResetReason.BadFrame, 'frame ended before its announced length');
    }
    this.inFrame = false;
    const frame = this.parts.length === 1 ? (this.parts[0] as Uint8Array) : Buffer.concat(this.parts);
    this.parts = [];
    this.received = 0;
    return frame;
  }
}
