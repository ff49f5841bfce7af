import { status } from '@grpc/grpc-js';
import { toBase58 } from '@cnode/primitives';
import type { admin } from '@cnode/proto';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { AdminCallError, AdminErrorCode, badArgument, idArg } from '../admin-errors.js';
import { aliasTarget } from './alias-args.js';

/** AliasService.CreateAlias: the value must be a base58 id (an alias of an alias is refused). */
export async function createAlias(
  deps: ContextDeps,
  req: admin.CreateAliasRequest,
): Promise<admin.CreateAliasResponse> {
  const { kind, scope } = await aliasTarget(deps, req.kind, req.scope);
  const value = idArg(req.value, 'value');
  if (!req.name) throw badArgument('name is required');
  await deps.aliases.create(kind, req.name, value, scope);
  deps.hot.invalidate('aliases');
  deps.logger.info({ kind, name: req.name, value: req.value }, 'Created an alias');
  return {};
}

/** AliasService.DeleteAlias. */
export async function deleteAlias(
  deps: ContextDeps,
  req: admin.DeleteAliasRequest,
): Promise<admin.DeleteAliasResponse> {
  const { kind, scope } = await aliasTarget(deps, req.kind, req.scope);
  const deleted = await deps.aliases.delete(kind, req.name, scope);
  deps.hot.invalidate('aliases');
  return { deleted };
}

/** AliasService.LookupAlias: the exact alias, or NOT_FOUND. */
export async function lookupAlias(
  deps: ContextDeps,
  req: admin.LookupAliasRequest,
): Promise<admin.LookupAliasResponse> {
  const { kind, scope } = await aliasTarget(deps, req.kind, req.scope);
  const target = await deps.aliases.lookup(kind, req.name, scope);
  if (!target)
    throw new AdminCallError(status.NOT_FOUND, AdminErrorCode.AliasUnknown, `no ${kind} alias "${req.name}"`);
  return { value: toBase58(target) };
}

/** AliasService.ResolveAlias: the alias, else the text itself as a base58 id. */
export async function resolveAlias(
  deps: ContextDeps,
  req: admin.ResolveAliasRequest,
): Promise<admin.ResolveAliasResponse> {
  const { kind, scope } = await aliasTarget(deps, req.kind, req.scope);
  const target = await deps.aliases.lookup(kind, req.aliasOrId, scope);
  if (target) return { value: toBase58(target), fromAlias: true };
  return { value: toBase58(idArg(req.aliasOrId, 'alias_or_id')), fromAlias: false };
}

/** AliasService.ListAliases: the kind's aliases (in the scope, for identities), by name. */
export async function listAliases(
  deps: ContextDeps,
  req: admin.ListAliasesRequest,
): Promise<admin.ListAliasesResponse> {
  const { kind, scope } = await aliasTarget(deps, req.kind, req.scope);
  const entries = await deps.aliases.list(kind, scope);
  return { aliases: entries.map((e) => ({ name: e.name, value: toBase58(e.target) })) };
}
