import type { AliasKind, HotState } from '@cnode/store';
import { badArgument, idArg } from './admin-errors.js';

/**
 * Upstream's `resolve_alias` for a request field: an alias of the kind (in the scope, for
 * identities) when one exists, else the text parsed as a base58 id. Every id argument of the admin
 * API goes through here, so aliases work wherever an id does. Lookups are cached (ids are looked up
 * as aliases first, and most are not).
 */
export async function resolveIdArg(
  hot: Pick<HotState, 'alias'>,
  kind: AliasKind,
  text: string,
  field: string,
  scope?: Buffer,
): Promise<Buffer> {
  if (!text) throw badArgument(`${field} is required`);
  const target = await hot.alias(kind, text, scope);
  return target ?? idArg(text, field);
}
