import { createHash } from 'node:crypto';

/**
 * A seeded pseudo-random generator (xorshift128+ over two 64-bit halves, seeded by SHA-256): every
 * draw of a history comes from one of these, so a seed alone decides its history. `fork` derives
 * an independent generator for one purpose (one stream, one node's values), so that the draws of
 * one part never shift those of another.
 */
export class Rng {
  private s0: bigint;
  private s1: bigint;

  constructor(readonly seed: string | number) {
    const digest = createHash('sha256').update(`cnode/sim/${seed}`).digest();
    this.s0 = digest.readBigUInt64LE(0) | 1n;
    this.s1 = digest.readBigUInt64LE(8) | 2n;
  }

  /** A generator of its own for `purpose`, independent of this one's later draws. */
  fork(purpose: string | number): Rng {
    return new Rng(`${this.seed}/${purpose}`);
  }

  /** Uniform in [0, 1). */
  next(): number {
    const mask = (1n << 64n) - 1n;
    let x = this.s0;
    const y = this.s1;
    this.s0 = y;
    x ^= (x << 23n) & mask;
    this.s1 = x ^ y ^ (x >> 17n) ^ (y >> 26n);
    return Number(((this.s1 + y) & mask) >> 11n) / 2 ** 53;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from nothing');
    return items[Math.floor(this.next() * items.length)]!;
  }

  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(this.next() * 256);
    return out;
  }

  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}
