import type { IncomingMessage, ServerResponse } from 'node:http';
import { TokenRefusal, type TokenError } from './client-tokens.js';

/** Why the app API refused a request before running it: metric label values. */
export enum AppApiRejection {
  Unauthenticated = 'unauthenticated',
  TokenExpired = 'token_expired',
  TokenRevoked = 'token_revoked',
  OutOfScope = 'out_of_scope',
  RateLimited = 'rate_limited',
  TooLarge = 'too_large',
  Busy = 'busy',
  TooManyConnections = 'too_many_connections',
  NotFound = 'not_found',
  MethodNotAllowed = 'method_not_allowed',
  BadRequest = 'bad_request',
  OriginNotAllowed = 'origin_not_allowed',
}

/** The HTTP answer of a refused token: status, `X-Auth-Error` and the metric label. */
export function tokenAnswer(err: TokenError): { status: number; authError: string; rejection: AppApiRejection } {
  switch (err.refusal) {
    case TokenRefusal.Expired:
      return { status: 401, authError: 'token_expired', rejection: AppApiRejection.TokenExpired };
    case TokenRefusal.Revoked:
      return { status: 403, authError: 'token_revoked', rejection: AppApiRejection.TokenRevoked };
    case TokenRefusal.OutOfScope:
      return { status: 403, authError: 'token_scope', rejection: AppApiRejection.OutOfScope };
    default:
      return { status: 401, authError: 'token_invalid', rejection: AppApiRejection.Unauthenticated };
  }
}

/** The bearer token of a request: the Authorization header, else (for browsers' WebSocket and EventSource) `?token=`. */
export function presentedToken(req: IncomingMessage, url: URL, allowQuery: boolean): string | undefined {
  const header = req.headers.authorization;
  if (typeof header === 'string') return /^Bearer (.+)$/.exec(header)?.[1];
  return allowQuery ? (url.searchParams.get('token') ?? undefined) : undefined;
}

export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(text);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(body);
}

/** Admin-API-style error body (`{"error":{"code","message"}}`), what upstream's client reads on refresh. */
export const adminErrorBody = (code: number, message: string): string => JSON.stringify({ error: { code, message } });

export class BodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`request body exceeds ${limit} bytes`);
  }
}

/** Reads a request body of at most `limit` bytes; stops reading (and rejects) as soon as it is over. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(new BodyTooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.pause();
        reject(new BodyTooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
    req.once('aborted', () => reject(new Error('request aborted')));
  });
}
