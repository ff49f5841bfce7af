/**
 * Polls `predicate` until it returns true (or a truthy value, which is returned). Fails with
 * `message` after `timeoutMs` (a function is asked at the time, to say what was seen last): tests
 * wait for effects, never for fixed sleeps.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  opts: { timeoutMs?: number; intervalMs?: number; message?: string | (() => string) } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      const message = typeof opts.message === 'function' ? opts.message() : opts.message;
      throw new Error(`timed out waiting for ${message ?? 'condition'}${why}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}
