import { admin } from '@cnode/proto';
import type { AliasKind } from '@cnode/store';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { badArgument } from '../admin-errors.js';
import { resolveIdArg } from '../alias-args.js';

const KINDS: Partial<Record<admin.AliasKind, AliasKind>> = {
  [admin.AliasKind.ALIAS_KIND_CONTEXT]: 'context',
  [admin.AliasKind.ALIAS_KIND_APPLICATION]: 'application',
  [admin.AliasKind.ALIAS_KIND_IDENTITY]: 'identity',
};

/** The kind and scope an alias request names: identity aliases are scoped by a context (id or alias). */
export async function aliasTarget(
  deps: ContextDeps,
  kindValue: admin.AliasKind,
  scopeText: string,
): Promise<{ kind: AliasKind; scope: Buffer | undefined }> {
  const kind = KINDS[kindValue];
  if (!kind) throw badArgument('kind must be context, application or identity');
  if (kind !== 'identity') {
    if (scopeText) throw badArgument(`a ${kind} alias has no scope`);
    return { kind, scope: undefined };
  }
  if (!scopeText) throw badArgument('an identity alias needs scope: the context it is scoped to');
  return { kind, scope: await resolveIdArg(deps.hot, 'context', scopeText, 'scope') };
}
