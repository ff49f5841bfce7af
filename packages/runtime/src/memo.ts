/**
 * Memoises an async lookup for the lifetime of one batch: the same key is asked once, and callers
 * that ask while the first lookup runs share its promise. The map lives only as long as the returned
 * function, which a batch drops when it ends, so it is bounded by the batch.
 */
export function memoPerBatch<A extends unknown[], R>(
  lookup: (...args: A) => Promise<R>,
  keyOf: (...args: A) => string = (...args) => (args[0] as Buffer).toString('hex'),
): (...args: A) => Promise<R> {
  const answers = new Map<string, Promise<R>>();
  return (...args: A) => {
    const key = keyOf(...args);
    let answer = answers.get(key);
    if (!answer) {
      answer = lookup(...args);
      answers.set(key, answer);
    }
    return answer;
  };
}
