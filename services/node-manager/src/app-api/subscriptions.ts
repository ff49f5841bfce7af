import { fromBase58, toBase58 } from '@cnode/primitives';
import type { ClientTokenClaims } from './client-tokens.js';

/** What a subscribe or unsubscribe asked for, checked against the token. */
export type SubscriptionChange =
  | { ok: true; contextIds: string[] }
  | { ok: false; error: { type: 'ParseError' | 'Unauthorized' | 'TooManySubscriptions'; data: unknown } };

/**
 * Checks the `contextIds` of a subscribe/unsubscribe: base58 context ids, each covered by the token
 * (a client token covers exactly one context), at most `max` subscriptions in all. The whole request
 * is refused when one id is not covered, so a client never believes it hears a context it does not.
 */
export function checkSubscription(
  params: unknown,
  claims: ClientTokenClaims,
  current: ReadonlySet<string>,
  max: number,
  subscribing: boolean,
): SubscriptionChange {
  const ids = (params as { contextIds?: unknown } | null)?.contextIds;
  if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string')) {
    return { ok: false, error: { type: 'ParseError', data: 'params.contextIds: expected an array of base58 ids' } };
  }
  const canonical: string[] = [];
  for (const id of ids as string[]) {
    let bytes: Buffer;
    try {
      bytes = Buffer.from(fromBase58(id));
    } catch {
      return { ok: false, error: { type: 'ParseError', data: `not a base58 context id: ${id.slice(0, 64)}` } };
    }
    if (bytes.length !== 32) {
      return { ok: false, error: { type: 'ParseError', data: `not a 32-byte context id: ${id.slice(0, 64)}` } };
    }
    canonical.push(toBase58(bytes));
  }
  const covered = toBase58(claims.contextId);
  const refused = canonical.filter((id) => id !== covered);
  if (subscribing && refused.length > 0) {
    return {
      ok: false,
      error: { type: 'Unauthorized', data: { contextIds: refused, reason: 'the token does not cover these contexts' } },
    };
  }
  const unique = [...new Set(canonical)];
  if (subscribing && new Set([...current, ...unique]).size > max) {
    return { ok: false, error: { type: 'TooManySubscriptions', data: { max } } };
  }
  return { ok: true, contextIds: unique };
}
