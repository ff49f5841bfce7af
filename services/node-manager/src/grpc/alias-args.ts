import type { AliasKind, AliasRepo } from '@cnode/store';
import { badArgument, idArg } from './admin-errors.js';

/**
 * The seed's `resolve_alias` for a request field: an alias of the kind (in the scope, for
 * identities) when one exists, else the text parsed as a base58 id. Every id argument of the admin
 * API goes through here, so aliases work wherever an id does.
 */
export async function resolveIdArg(
  aliases: AliasRepo,
  kind: AliasKind,
  text: string,
  field: string,
  scope?: Buffer,
): Promise<Buffer> {
  if (!text) throw badArgument(`${field} is required`);
  const target = await aliases.lookup(kind, text, scope);
  return target ?? idArg(text, field);
}
