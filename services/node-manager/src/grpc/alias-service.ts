import type { admin } from '@cnode/proto';
import type { ContextDeps } from '../contexts/context-deps.js';
import { createAlias, deleteAlias, listAliases, lookupAlias, resolveAlias } from './alias/alias-calls.js';
import { unary } from './unary.js';

/** AliasService: each method's implementation lives under ./alias. */
export function aliasService(deps: ContextDeps): admin.AliasServiceServer {
  return {
    createAlias: unary('CreateAlias', deps, (req: admin.CreateAliasRequest) => createAlias(deps, req)),
    deleteAlias: unary('DeleteAlias', deps, (req: admin.DeleteAliasRequest) => deleteAlias(deps, req)),
    lookupAlias: unary('LookupAlias', deps, (req: admin.LookupAliasRequest) => lookupAlias(deps, req)),
    resolveAlias: unary('ResolveAlias', deps, (req: admin.ResolveAliasRequest) => resolveAlias(deps, req)),
    listAliases: unary('ListAliases', deps, (req: admin.ListAliasesRequest) => listAliases(deps, req)),
  };
}
