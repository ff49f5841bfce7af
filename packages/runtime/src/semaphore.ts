/** Counting semaphore: bounds how many async jobs run at once. Waiters are served in FIFO order. */
export class Semaphore {
  private available: number;
  private readonly waiters: (() => void)[] = [];

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`semaphore capacity must be >= 1`);
    this.available = capacity;
  }

  /** Jobs currently holding a permit. */
  get inUse(): number {
    return this.capacity - this.available;
  }

  async acquire(): Promise<void> {
    if (this.available > 0) {
      this.available--;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else if (this.available < this.capacity) this.available++;
  }

  /** Resolves once every permit is free (all jobs done), or after `timeoutMs`; returns whether idle. */
  async idle(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.inUse > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return this.inUse === 0;
  }
}
