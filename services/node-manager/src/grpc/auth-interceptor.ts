import {
  ResponderBuilder,
  ServerInterceptingCall,
  ServerListenerBuilder,
  status,
  type ServerInterceptor,
} from '@grpc/grpc-js';
import { UNAUTHENTICATED_PATH_PREFIXES } from '../constants.js';
import type { NodeManagerMetrics } from '../metrics.js';
import { tokenMatches } from './admin-token.js';

/**
 * Rejects every call without `authorization: Bearer <token>` with UNAUTHENTICATED, except the
 * health service. Runs before any handler sees the request.
 */
export function authInterceptor(token: string, metrics: NodeManagerMetrics): ServerInterceptor {
  return (method, call) => {
    if (UNAUTHENTICATED_PATH_PREFIXES.some((prefix) => method.path.startsWith(prefix))) {
      return new ServerInterceptingCall(call);
    }
    const listener = new ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        const header = metadata.get('authorization')[0];
        const presented = typeof header === 'string' ? /^Bearer\s+(.+)$/i.exec(header)?.[1] : undefined;
        if (tokenMatches(presented, token)) {
          next(metadata);
        } else {
          // The short name (`Execute`), as the handlers count it.
          metrics.grpcRequests.inc({
            method: method.path.slice(method.path.lastIndexOf('/') + 1),
            code: 'UNAUTHENTICATED',
          });
          call.sendStatus({
            code: status.UNAUTHENTICATED,
            details: presented === undefined ? 'missing admin token' : 'invalid admin token',
          });
        }
      })
      .build();
    const responder = new ResponderBuilder().withStart((next) => next(listener)).build();
    return new ServerInterceptingCall(call, responder);
  };
}
