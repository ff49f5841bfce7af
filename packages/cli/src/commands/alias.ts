import { admin } from '@cnode/proto';
import { withAdminApi } from '../client.js';
import { UsageError, type Endpoint } from '../endpoint.js';
import { need, printer } from './common.js';

export const ALIAS_USAGE = `  alias create KIND NAME ID [--context CTX]
                                     name an id (KIND: context, application, identity; identity
                                     aliases are scoped by --context); names: 1-50 of [A-Za-z0-9._-]
  alias delete KIND NAME [--context CTX]
  alias lookup KIND NAME [--context CTX]
                                     the id an alias names
  alias resolve KIND NAME_OR_ID [--context CTX]
                                     the alias's id, else the text itself as an id
  alias list KIND [--context CTX]    every alias of a kind (of a context, for identities)
  Wherever a command takes a context, application or identity id, an alias works too.
`;

export interface AliasCommandOptions {
  context: string;
  json: boolean;
  timeoutMs: number;
  write: (text: string) => void;
}

const KINDS: Record<string, admin.AliasKind> = {
  context: admin.AliasKind.ALIAS_KIND_CONTEXT,
  application: admin.AliasKind.ALIAS_KIND_APPLICATION,
  app: admin.AliasKind.ALIAS_KIND_APPLICATION,
  identity: admin.AliasKind.ALIAS_KIND_IDENTITY,
};

function kindArg(text: string | undefined): admin.AliasKind {
  const kind = KINDS[text ?? ''];
  if (kind === undefined)
    throw new UsageError(`alias kind must be context, application or identity, not "${text ?? ''}"`);
  return kind;
}

/** `cnode alias …`: the AliasService from the command line. */
export async function runAliasCommand(endpoint: Endpoint, args: string[], opts: AliasCommandOptions): Promise<number> {
  const out = printer(opts.json, opts.write);
  const [sub, ...rest] = args;
  const scope = opts.context;
  return withAdminApi(endpoint, opts.timeoutMs, async (api) => {
    switch (sub) {
      case 'create': {
        const [kind, name, value] = need(rest, 3, 'alias create KIND NAME ID [--context CTX]');
        await api.createAlias(kindArg(kind), name!, value!, scope);
        out({ name, value }, `${name} -> ${value}\n`);
        return 0;
      }
      case 'delete': {
        const [kind, name] = need(rest, 2, 'alias delete KIND NAME [--context CTX]');
        const deleted = await api.deleteAlias(kindArg(kind), name!, scope);
        out({ deleted }, deleted ? 'deleted\n' : 'no such alias\n');
        return deleted ? 0 : 1;
      }
      case 'lookup': {
        const [kind, name] = need(rest, 2, 'alias lookup KIND NAME [--context CTX]');
        const value = await api.lookupAlias(kindArg(kind), name!, scope);
        out({ value }, `${value}\n`);
        return 0;
      }
      case 'resolve': {
        const [kind, text] = need(rest, 2, 'alias resolve KIND NAME_OR_ID [--context CTX]');
        const res = await api.resolveAlias(kindArg(kind), text!, scope);
        out(res, `${res.value}${res.fromAlias ? '  (alias)' : ''}\n`);
        return 0;
      }
      case 'list': {
        const [kind] = need(rest, 1, 'alias list KIND [--context CTX]');
        const aliases = await api.listAliases(kindArg(kind), scope);
        out(
          { aliases },
          aliases.length === 0 ? 'no aliases\n' : aliases.map((a) => `${a.name}  ${a.value}\n`).join(''),
          (v) => admin.ListAliasesResponse.toJSON(v),
        );
        return 0;
      }
      default:
        throw new UsageError(`usage:\n${ALIAS_USAGE}`);
    }
  });
}
