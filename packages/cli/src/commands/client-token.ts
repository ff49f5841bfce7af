import { parseDuration } from '@cnode/runtime';
import { withAdminApi } from '../client.js';
import { UsageError, type Endpoint } from '../endpoint.js';
import { need, printer } from './common.js';

export const CLIENT_TOKEN_USAGE = `  client-token create --context CTX [--identity ID] [--ttl 24h] [--read-only]
                                     a token for an application frontend (app API): it executes as
                                     that identity in that context only (--read-only: view methods
                                     only) and hears that context's events; prints the access and
                                     refresh tokens
  client-token revoke GRANT          end a grant: its access and refresh tokens stop working
  client-token list [--context CTX]  grants that have not expired
`;

export interface ClientTokenCommandOptions {
  context: string;
  identity: string;
  ttl: string;
  readOnly: boolean;
  json: boolean;
  timeoutMs: number;
  write: (text: string) => void;
}

const iso = (ms: bigint): string => new Date(Number(ms)).toISOString();

/** `cnode client-token …`: the ClientTokenService from the command line. */
export async function runClientTokenCommand(
  endpoint: Endpoint,
  args: string[],
  opts: ClientTokenCommandOptions,
): Promise<number> {
  const out = printer(opts.json, opts.write);
  const [sub, ...rest] = args;
  if (sub !== 'create' && sub !== 'revoke' && sub !== 'list') throw new UsageError(`usage:\n${CLIENT_TOKEN_USAGE}`);
  let ttlSeconds = 0n;
  if (sub === 'create') {
    if (!opts.context) throw new UsageError('client-token create needs --context CTX');
    const ms = opts.ttl ? parseDuration(opts.ttl) : undefined;
    if (opts.ttl && (ms === undefined || ms < 1000))
      throw new UsageError(`--ttl: expected a duration such as 1h or 30d, got "${opts.ttl}"`);
    ttlSeconds = BigInt(Math.floor((ms ?? 0) / 1000));
  }
  return withAdminApi(endpoint, opts.timeoutMs, async (api) => {
    switch (sub) {
      case 'create': {
        const res = await api.createClientToken({
          contextId: opts.context,
          identity: opts.identity,
          ttlSeconds,
          readOnly: opts.readOnly,
        });
        const g = res.grant!;
        out(
          {
            grantId: g.grantId,
            contextId: g.contextId,
            identity: g.identity,
            readOnly: g.readOnly,
            expiresAt: iso(g.expiresAtMs),
            accessToken: res.accessToken,
            refreshToken: res.refreshToken,
          },
          `grant:         ${g.grantId}\ncontext:       ${g.contextId}\nidentity:      ${g.identity}${g.readOnly ? '  (read-only)' : ''}\nexpires:       ${iso(g.expiresAtMs)}\naccess token:  ${res.accessToken}\nrefresh token: ${res.refreshToken}\n`,
        );
        return 0;
      }
      case 'revoke': {
        const [grant] = need(rest, 1, 'client-token revoke GRANT');
        const revoked = await api.revokeClientToken(grant!);
        out({ revoked }, revoked ? 'revoked\n' : 'already revoked\n');
        return 0;
      }
      default: {
        const grants = await api.listClientTokens(opts.context);
        out(
          {
            grants: grants.map((g) => ({
              ...g,
              createdAtMs: Number(g.createdAtMs),
              expiresAtMs: Number(g.expiresAtMs),
              revokedAtMs: Number(g.revokedAtMs),
            })),
          },
          grants.length === 0
            ? 'no grants\n'
            : grants
                .map(
                  (g) =>
                    `${g.grantId}  ${g.contextId}  ${g.identity}${g.readOnly ? '  read-only' : ''}  expires ${iso(g.expiresAtMs)}${g.revokedAtMs > 0n ? `  revoked ${iso(g.revokedAtMs)}` : ''}\n`,
                )
                .join(''),
        );
        return 0;
      }
    }
  });
}
