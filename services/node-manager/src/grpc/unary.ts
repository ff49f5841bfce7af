import {
  status,
  type handleClientStreamingCall,
  type handleServerStreamingCall,
  type ServerReadableStream,
  type handleUnaryCall,
  type ServerErrorResponse,
  type ServerWritableStream,
} from '@grpc/grpc-js';
import { errorMessage, isCodedError, type Logger } from '@cnode/runtime';
import type { NodeManagerMetrics } from '../metrics.js';
import { grpcStatusOf } from './admin-errors.js';

interface CallDeps {
  metrics: NodeManagerMetrics;
  logger: Logger;
}

/** Counts one finished call by method and status, and its handling time. */
function record(deps: CallDeps, method: string, code: string, started: bigint): void {
  deps.metrics.grpcRequests.inc({ method, code });
  deps.metrics.grpcHandlingSeconds.observe(
    { grpc_method: method, grpc_code: code },
    Number(process.hrtime.bigint() - started) / 1e9,
  );
}

/** A thrown error as the gRPC status the caller sees (CodedError codes are kept in the details). */
function toStatus(method: string, deps: CallDeps, err: unknown, started: bigint): ServerErrorResponse {
  const code: number = grpcStatusOf(err) ?? status.INTERNAL;
  record(deps, method, status[code] ?? String(code), started);
  const details = isCodedError(err) ? `${err.code}: ${err.message}` : errorMessage(err);
  if (code === (status.INTERNAL as number)) deps.logger.error({ method, err: errorMessage(err) }, 'Admin call failed');
  else deps.logger.info({ method, code: status[code], err: details }, 'Admin call refused');
  return Object.assign(new Error(details), { code, details });
}

/**
 * Adapts an async RPC implementation to grpc-js: resolves → OK, a thrown error → a gRPC status with
 * a clear message. Every call is counted by method and status.
 */
export function unary<Req, Res>(
  method: string,
  deps: CallDeps,
  impl: (request: Req) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const started = process.hrtime.bigint();
    impl(call.request).then(
      (response) => {
        record(deps, method, 'OK', started);
        callback(null, response);
      },
      (err: unknown) => callback(toStatus(method, deps, err, started), null),
    );
  };
}

/** The same for server-streaming calls: the stream ends OK when `impl` resolves. */
export function serverStreaming<Req, Res>(
  method: string,
  deps: CallDeps,
  impl: (call: ServerWritableStream<Req, Res>) => Promise<void>,
): handleServerStreamingCall<Req, Res> {
  return (call) => {
    const started = process.hrtime.bigint();
    impl(call).then(
      () => {
        record(deps, method, 'OK', started);
        if (!call.cancelled) call.end();
      },
      (err: unknown) => {
        const error = toStatus(method, deps, err, started);
        if (!call.cancelled) call.destroy(error);
      },
    );
  };
}

/** The same for client-streaming calls: `impl` reads the request stream and resolves with the response. */
export function clientStreaming<Req, Res>(
  method: string,
  deps: CallDeps,
  impl: (call: ServerReadableStream<Req, Res>) => Promise<Res>,
): handleClientStreamingCall<Req, Res> {
  return (call, callback) => {
    const started = process.hrtime.bigint();
    impl(call).then(
      (response) => {
        record(deps, method, 'OK', started);
        callback(null, response);
      },
      (err: unknown) => callback(toStatus(method, deps, err, started), null),
    );
  };
}

/** Writes one message of a server stream, waiting for the client to drain when its buffer is full. */
export async function writeWithBackpressure<Req, Res>(
  call: ServerWritableStream<Req, Res>,
  message: Res,
): Promise<void> {
  if (call.cancelled) throw Object.assign(new Error('the client cancelled the call'), { grpcCode: status.CANCELLED });
  if (call.write(message)) return;
  await new Promise<void>((resolve, reject) => {
    const onDrain = () => {
      call.off('cancelled', onCancel);
      resolve();
    };
    const onCancel = () => {
      call.off('drain', onDrain);
      reject(Object.assign(new Error('the client cancelled the call'), { grpcCode: status.CANCELLED }));
    };
    call.once('drain', onDrain);
    call.once('cancelled', onCancel);
  });
}
