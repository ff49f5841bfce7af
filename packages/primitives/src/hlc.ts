import { type wire } from '@cnode/proto';
import { PrimitiveError, PrimitiveErrorCode } from './errors.js';

/**
 * Hybrid logical clock reading: wall-clock milliseconds, a logical counter for events inside one
 * millisecond, and a 16-byte node id that breaks the remaining ties. Totally ordered.
 */
export interface Hlc {
  wallTimeMs: bigint;
  counter: number;
  nodeId: Buffer;
}

export const HLC_NODE_ID_BYTES = 16;
/** Canonical encoding: u64 BE wall ‖ u32 BE counter ‖ node id. Byte order equals clock order. */
export const HLC_BYTES = 8 + 4 + HLC_NODE_ID_BYTES;
/** Remote clocks more than this far ahead of ours are refused (upstream: 5 s). */
export const MAX_HLC_DRIFT_MS = 5_000n;
const MAX_COUNTER = 0xffff_ffff;

export function encodeHlc(hlc: Hlc): Buffer {
  const out = Buffer.alloc(HLC_BYTES);
  out.writeBigUInt64BE(hlc.wallTimeMs, 0);
  out.writeUInt32BE(hlc.counter, 8);
  hlc.nodeId.copy(out, 12);
  return out;
}

export function decodeHlc(bytes: Uint8Array): Hlc {
  if (bytes.length !== HLC_BYTES) throw new PrimitiveError(PrimitiveErrorCode.BadHlc, 'an HLC is 28 bytes');
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  return checkHlc({
    wallTimeMs: b.readBigUInt64BE(0),
    counter: b.readUInt32BE(8),
    nodeId: Buffer.from(b.subarray(12)),
  });
}

export function compareHlc(a: Hlc, b: Hlc): number {
  return Buffer.compare(encodeHlc(a), encodeHlc(b));
}

function checkHlc(hlc: Hlc): Hlc {
  if (hlc.nodeId.length !== HLC_NODE_ID_BYTES || hlc.nodeId.every((x) => x === 0)) {
    throw new PrimitiveError(PrimitiveErrorCode.BadHlc, 'an HLC node id is 16 bytes, not all zero');
  }
  if (!Number.isInteger(hlc.counter) || hlc.counter < 0 || hlc.counter > MAX_COUNTER) {
    throw new PrimitiveError(PrimitiveErrorCode.BadHlc, 'HLC counter out of range');
  }
  if (hlc.wallTimeMs < 0n || hlc.wallTimeMs > 0xffff_ffff_ffff_ffffn) {
    throw new PrimitiveError(PrimitiveErrorCode.BadHlc, 'HLC wall time out of range');
  }
  return hlc;
}

export function hlcFromWire(ts: wire.HybridTimestamp | undefined): Hlc {
  if (!ts) throw new PrimitiveError(PrimitiveErrorCode.BadHlc, 'missing HLC');
  return checkHlc({ wallTimeMs: ts.wallTimeMs, counter: ts.counter, nodeId: Buffer.from(ts.nodeId) });
}

export function hlcToWire(hlc: Hlc): wire.HybridTimestamp {
  return { wallTimeMs: hlc.wallTimeMs, counter: hlc.counter, nodeId: hlc.nodeId };
}

/**
 * A node's clock. `now()` is strictly increasing; `update()` absorbs a remote reading so later local
 * readings order after it, refusing one more than 5 s ahead of our wall clock.
 */
export class HlcClock {
  private wall = 0n;
  private counter = 0;

  constructor(
    readonly nodeId: Buffer,
    private readonly wallClock: () => number = Date.now,
  ) {
    checkHlc({ wallTimeMs: 0n, counter: 0, nodeId });
  }

  now(): Hlc {
    const physical = BigInt(this.wallClock());
    if (physical > this.wall) {
      this.wall = physical;
      this.counter = 0;
    } else {
      this.tick();
    }
    return { wallTimeMs: this.wall, counter: this.counter, nodeId: this.nodeId };
  }

  /** Throws CORE_HLC_DRIFT for a reading too far in the future; our clock is left unchanged then. */
  update(remote: Hlc): void {
    const physical = BigInt(this.wallClock());
    if (remote.wallTimeMs > physical + MAX_HLC_DRIFT_MS) {
      throw new PrimitiveError(
        PrimitiveErrorCode.HlcDrift,
        `remote clock is ${remote.wallTimeMs - physical} ms ahead (at most ${MAX_HLC_DRIFT_MS} ms allowed)`,
      );
    }
    const wall = [this.wall, remote.wallTimeMs, physical].reduce((a, b) => (a > b ? a : b));
    if (wall === this.wall && wall === remote.wallTimeMs) this.counter = Math.max(this.counter, remote.counter);
    else if (wall === remote.wallTimeMs) this.counter = remote.counter;
    else if (wall !== this.wall) this.counter = -1;
    this.wall = wall;
    this.tick();
  }

  private tick(): void {
    if (this.counter >= MAX_COUNTER) {
      this.wall += 1n;
      this.counter = 0;
    } else {
      this.counter += 1;
    }
  }
}

/** Checks a remote reading against our wall clock without a clock instance. */
export function assertNotFromFuture(hlc: Hlc, nowMs: number = Date.now()): void {
  if (hlc.wallTimeMs > BigInt(nowMs) + MAX_HLC_DRIFT_MS) {
    throw new PrimitiveError(PrimitiveErrorCode.HlcDrift, 'HLC more than 5 s in the future');
  }
}
