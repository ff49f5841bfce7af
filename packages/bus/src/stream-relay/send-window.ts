/**
 * Credit-based flow control, sender side: how many bytes the receiver still lets us send. `take()`
 * waits until some credit is available and returns how much of the wanted amount may go now.
 */
export class SendWindow {
  private available: number;
  private waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private failure: Error | undefined;

  constructor(initialCredit: number) {
    this.available = initialCredit;
  }

  get credit(): number {
    return this.available;
  }

  grant(bytes: number): void {
    this.available += bytes;
    for (const waiter of this.waiters.splice(0)) waiter.resolve();
  }

  /** Resolves with min(wanted, credit) once credit > 0 (or at once for a zero-length send). */
  async take(wanted: number): Promise<number> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (wanted === 0) return 0;
      if (this.available > 0) {
        const n = Math.min(wanted, this.available);
        this.available -= n;
        return n;
      }
      await new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    }
  }

  /** Fails every current and future take(). */
  fail(err: Error): void {
    this.failure ??= err;
    for (const waiter of this.waiters.splice(0)) waiter.reject(err);
  }
}
