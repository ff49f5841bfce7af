import { status, type handleUnaryCall, type ServerErrorResponse } from '@grpc/grpc-js';
import { errorMessage, isCodedError, type Logger } from '@cnode/runtime';
import type { NodeManagerMetrics } from '../metrics.js';

/**
 * Adapts an async RPC implementation to grpc-js: resolves → OK, a thrown error → a gRPC status with
 * a clear message (CodedError codes are kept in the details). Every call is counted.
 */
export function unary<Req, Res>(
  method: string,
  deps: { metrics: NodeManagerMetrics; logger: Logger },
  impl: (request: Req) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    impl(call.request).then(
      (response) => {
        deps.metrics.grpcRequests.inc({ method, code: 'OK' });
        callback(null, response);
      },
      (err: unknown) => {
        const code = (err as { grpcCode?: number }).grpcCode ?? status.INTERNAL;
        deps.metrics.grpcRequests.inc({ method, code: status[code] ?? String(code) });
        deps.logger.warn({ method, err: errorMessage(err) }, 'Admin call failed');
        const details = isCodedError(err) ? `${err.code}: ${err.message}` : errorMessage(err);
        const error: ServerErrorResponse = Object.assign(new Error(details), { code, details });
        callback(error, null);
      },
    );
  };
}
