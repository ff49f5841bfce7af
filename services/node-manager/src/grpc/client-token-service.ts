import type { admin } from '@cnode/proto';
import type { ContextDeps } from '../contexts/context-deps.js';
import { createClientToken, listClientTokens, revokeClientToken } from './client-token/client-token-calls.js';
import { unary } from './unary.js';

/** ClientTokenService: grants of application client tokens (see app-api/client-tokens.ts). */
export function clientTokenService(deps: ContextDeps): admin.ClientTokenServiceServer {
  return {
    createClientToken: unary('CreateClientToken', deps, (req: admin.CreateClientTokenRequest) =>
      createClientToken(deps, req),
    ),
    revokeClientToken: unary('RevokeClientToken', deps, (req: admin.RevokeClientTokenRequest) =>
      revokeClientToken(deps, req),
    ),
    listClientTokens: unary('ListClientTokens', deps, (req: admin.ListClientTokensRequest) =>
      listClientTokens(deps, req),
    ),
  };
}
