import { status } from '@grpc/grpc-js';
import { fromBase58, toBase58 } from '@cnode/primitives';
import type { admin } from '@cnode/proto';
import type { ClientGrant } from '@cnode/store';
import { actingMember, requireContext } from '../../contexts/context-access.js';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { AdminCallError, AdminErrorCode, badArgument } from '../admin-errors.js';

/** A grant lasts this long unless the request says otherwise. */
export const DEFAULT_GRANT_TTL_SECONDS = 24 * 3600;
/** The longest grant. */
export const MAX_GRANT_TTL_SECONDS = 365 * 24 * 3600;

export function grantView(grant: ClientGrant): admin.ClientTokenGrant {
  return {
    grantId: toBase58(grant.id),
    contextId: toBase58(grant.contextId),
    identity: toBase58(grant.identity),
    readOnly: grant.readOnly,
    createdAtMs: BigInt(grant.createdAt.getTime()),
    expiresAtMs: BigInt(grant.expiresAt.getTime()),
    revokedAtMs: BigInt(grant.revokedAt?.getTime() ?? 0),
  };
}

/** ClientTokenService.CreateClientToken: a grant for one of our member identities in the context. */
export async function createClientToken(
  deps: ContextDeps,
  req: admin.CreateClientTokenRequest,
): Promise<admin.CreateClientTokenResponse> {
  const ttlSeconds = req.ttlSeconds === 0n ? DEFAULT_GRANT_TTL_SECONDS : Number(req.ttlSeconds);
  if (ttlSeconds > MAX_GRANT_TTL_SECONDS) {
    throw badArgument(`ttl_seconds: at most ${MAX_GRANT_TTL_SECONDS} (365 days)`);
  }
  const ctx = await requireContext(deps, req.contextId);
  const identity = await actingMember(deps, ctx, req.identity);
  const { grant, accessToken, refreshToken } = await deps.clientTokens.grant({
    contextId: ctx.id,
    identity: identity.publicKey,
    readOnly: req.readOnly,
    ttlMs: ttlSeconds * 1000,
  });
  deps.logger.info(
    {
      grant: toBase58(grant.id),
      context: toBase58(ctx.id),
      identity: toBase58(identity.publicKey),
      readOnly: req.readOnly,
      expiresAt: grant.expiresAt.toISOString(),
    },
    'Issued client token',
  );
  return { grant: grantView(grant), accessToken, refreshToken };
}

function grantIdArg(text: string): Buffer {
  try {
    const id = Buffer.from(fromBase58(text));
    if (id.length === 32) return id;
  } catch {
    // falls through
  }
  throw badArgument('grant_id: expected a base58 grant id');
}

/** ClientTokenService.RevokeClientToken. */
export async function revokeClientToken(
  deps: ContextDeps,
  req: admin.RevokeClientTokenRequest,
): Promise<admin.RevokeClientTokenResponse> {
  const id = grantIdArg(req.grantId);
  const grant = await deps.clientGrants.get(id);
  if (!grant) throw new AdminCallError(status.NOT_FOUND, AdminErrorCode.GrantUnknown, `no grant ${req.grantId}`);
  const revoked = await deps.clientTokens.revoke(id);
  if (revoked) deps.logger.info({ grant: req.grantId }, 'Revoked client token');
  return { revoked };
}

/** ClientTokenService.ListClientTokens. */
export async function listClientTokens(
  deps: ContextDeps,
  req: admin.ListClientTokensRequest,
): Promise<admin.ListClientTokensResponse> {
  const contextId = req.contextId ? (await requireContext(deps, req.contextId)).id : undefined;
  return { grants: (await deps.clientGrants.list(contextId)).map(grantView) };
}
