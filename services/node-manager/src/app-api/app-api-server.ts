import { STATUS_CODES, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { toBase58 } from '@cnode/primitives';
import type { NodeConfig } from '@cnode/config';
import { errorMessage, type Logger, type Registry, type Startable } from '@cnode/runtime';
import { runCalls, type CallOutcome } from '../contexts/call-runner.js';
import type { ContextDeps } from '../contexts/context-deps.js';
import type { NodeManagerMetrics } from '../metrics.js';
import { ClientTokenType, TokenError, type ClientTokenClaims, type ClientTokens } from './client-tokens.js';
import type { EventHub } from './event-hub.js';
import {
  AppApiRejection,
  BodyTooLarge,
  adminErrorBody,
  presentedToken,
  readBody,
  sendJson,
  sendText,
  tokenAnswer,
} from './http-answers.js';
import {
  RpcErrorType,
  errorBody,
  executeError,
  parseRequest,
  resultBody,
  type ExecuteParams,
  type RpcError,
  type RpcId,
} from './json-rpc.js';
import { RateLimiter } from './rate-limiter.js';
import { SseSession, SseSessions } from './sse-session.js';
import { checkSubscription } from './subscriptions.js';
import { WsSession } from './ws-session.js';

/** File written into the node home so local tools (and tests) find the app API. */
export const APP_API_ENDPOINT_FILE = 'app-api.json';
/** Largest WebSocket frame a client may send (subscribe requests are small). */
export const WS_MAX_FRAME_BYTES = 64 * 1024;
/** Expired grants are deleted this long after they end (kept meanwhile for `client-token list` audits and logs). */
export const EXPIRED_GRANT_RETENTION_MS = 7 * 24 * 3600_000;
const GRANT_SWEEP_INTERVAL_MS = 3600_000;
/** Whole-request deadline and header deadline of the HTTP server. */
const REQUEST_TIMEOUT_MS = 60_000;
const HEADERS_TIMEOUT_MS = 10_000;

type Route = 'jsonrpc' | 'refresh' | 'health' | 'ws' | 'sse' | 'sse_subscription' | 'other';

const ROUTES: Record<string, { route: Route; method: string }> = {
  '/jsonrpc': { route: 'jsonrpc', method: 'POST' },
  '/admin-api/refresh-jwt-token': { route: 'refresh', method: 'POST' },
  '/admin-api/health': { route: 'health', method: 'GET' },
  '/ws': { route: 'ws', method: 'GET' },
  '/sse': { route: 'sse', method: 'GET' },
  '/sse/subscription': { route: 'sse_subscription', method: 'POST' },
};

export interface AppApiDeps {
  config: NodeConfig['appApi'];
  home: string;
  contexts: () => ContextDeps;
  tokens: ClientTokens;
  hub: EventHub;
  metrics: NodeManagerMetrics;
  /** Where the rate limiter's buckets are exported (as a cache); none in unit tests. */
  registry?: Registry;
  logger: Logger;
}

/**
 * The API for application frontends, on its own listener (APP_API_LISTEN): JSON-RPC `execute` at
 * `POST /jsonrpc`, events over WebSocket (`GET /ws`) and Server-Sent Events (`GET /sse`), token
 * refresh and health under `/admin-api/`. Every request but health carries a client token scoped
 * to one context and identity; the admin token means nothing here. Calls run through the same
 * `runCalls` as the admin API's Execute. Bodies, requests in flight, connections, subscriptions,
 * unsent bytes per connection and requests per token are bounded, and every refusal is counted.
 */
export class AppApiServer implements Startable {
  readonly name = 'app-api';
  private server: Server | undefined;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: WS_MAX_FRAME_BYTES });
  private readonly limiter: RateLimiter;
  private readonly sse = new SseSessions();
  private readonly live = new Set<WsSession | SseSession>();
  private inFlight = 0;
  private boundAddress: string | undefined;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly deps: AppApiDeps) {
    this.limiter = new RateLimiter(deps.config.ratePerSecond, deps.config.rateBurst, Date.now, deps.registry);
  }

  /** host:port actually bound (the configured port may be 0). */
  get address(): string | undefined {
    return this.boundAddress;
  }

  async start(): Promise<void> {
    const server = createServer(
      { requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: HEADERS_TIMEOUT_MS },
      (req, res) => void this.onRequest(req, res),
    );
    server.on(
      'upgrade',
      (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.onUpgrade(req, socket, head),
    );
    server.on('clientError', (_err, socket) => {
      this.reject('other', AppApiRejection.BadRequest);
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
      else socket.destroy();
    });
    const { host, port } = splitListen(this.deps.config.listen);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const bound = server.address();
    this.boundAddress = typeof bound === 'object' && bound ? `${host}:${bound.port}` : this.deps.config.listen;
    this.server = server;
    await this.writeEndpointFile().catch((err: unknown) =>
      this.deps.logger.warn({ err: errorMessage(err) }, `Could not write ${APP_API_ENDPOINT_FILE}`),
    );
    this.deps.logger.info(
      { address: this.boundAddress, corsOrigins: this.deps.config.corsOrigins },
      'App API listening',
    );
    this.sweeper = setInterval(() => void this.sweepGrants(), GRANT_SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  private async sweepGrants(): Promise<void> {
    try {
      const removed = await this.deps.contexts().clientGrants.removeExpired(EXPIRED_GRANT_RETENTION_MS);
      if (removed > 0) this.deps.logger.info({ removed }, 'Deleted expired client token grants');
    } catch (err) {
      this.deps.logger.warn({ err: errorMessage(err) }, 'Could not delete expired client token grants');
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    const server = this.server;
    this.server = undefined;
    for (const session of [...this.live]) {
      if (session instanceof WsSession) session.cut('shutdown');
      else session.cut('shutdown', 'node shutting down');
    }
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      setTimeout(() => {
        server.closeAllConnections();
        resolve();
      }, 2_000).unref();
    });
  }

  private async writeEndpointFile(): Promise<void> {
    await mkdir(this.deps.home, { recursive: true, mode: 0o700 });
    await writeFile(
      join(this.deps.home, APP_API_ENDPOINT_FILE),
      `${JSON.stringify({ address: this.boundAddress }, null, 2)}\n`,
    );
  }

  private reject(route: Route, reason: AppApiRejection): void {
    this.deps.metrics.appApi.requests.inc({ route, outcome: reason });
  }

  /** CORS: the allowed origin to echo, or undefined (no CORS headers: the browser blocks the page). */
  private allowedOrigin(req: IncomingMessage): string | undefined {
    const origin = req.headers.origin;
    if (typeof origin !== 'string') return undefined;
    const allowed = this.deps.config.corsOrigins;
    if (allowed.includes('*')) return '*';
    return allowed.includes(origin) ? origin : undefined;
  }

  private corsHeaders(req: IncomingMessage): Record<string, string> {
    const origin = this.allowedOrigin(req);
    if (!origin) return {};
    return {
      'access-control-allow-origin': origin,
      'access-control-expose-headers': 'x-auth-error, retry-after',
      ...(origin === '*' ? {} : { vary: 'origin' }),
    };
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const url = new URL(req.url ?? '/', 'http://app-api');
    const entry = ROUTES[url.pathname];
    const route: Route = entry?.route ?? 'other';
    const cors = this.corsHeaders(req);
    for (const [name, value] of Object.entries(cors)) res.setHeader(name, value);
    res.once('finish', () =>
      this.deps.metrics.appApi.requestSeconds.observe({ route }, Number(process.hrtime.bigint() - started) / 1e9),
    );
    if (req.method === 'OPTIONS') {
      if (!cors['access-control-allow-origin']) {
        this.reject(route, AppApiRejection.OriginNotAllowed);
        return sendText(res, 403, 'Origin not allowed.');
      }
      res.writeHead(204, {
        'access-control-allow-methods': 'GET, POST, OPTIONS',
        'access-control-allow-headers': 'authorization, content-type, last-event-id',
        'access-control-max-age': '600',
      });
      this.deps.metrics.appApi.requests.inc({ route, outcome: 'preflight' });
      return void res.end();
    }
    if (!entry) {
      this.reject(route, AppApiRejection.NotFound);
      return sendText(res, 404, 'Not found.');
    }
    if (req.method !== entry.method) {
      this.reject(route, AppApiRejection.MethodNotAllowed);
      return sendText(res, 405, 'Method not allowed.', { allow: entry.method });
    }
    if (this.inFlight >= this.deps.config.maxRequests) {
      this.reject(route, AppApiRejection.Busy);
      return sendText(res, 503, 'Too many requests in flight; retry shortly.', { 'retry-after': '1' });
    }
    this.inFlight++;
    try {
      switch (route) {
        case 'health':
          this.deps.metrics.appApi.requests.inc({ route, outcome: 'ok' });
          return sendJson(res, 200, JSON.stringify({ data: { status: 'alive' } }));
        case 'refresh':
          return await this.refresh(req, res);
        case 'jsonrpc':
          return await this.jsonRpc(req, res, url);
        case 'sse':
          return await this.openSse(req, res, url);
        case 'sse_subscription':
          return await this.sseSubscription(req, res, url);
        default:
          this.reject(route, AppApiRejection.MethodNotAllowed);
          return sendText(res, 400, 'A WebSocket upgrade is expected here.');
      }
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        this.reject(route, AppApiRejection.TooLarge);
        sendText(res, 413, `Request body exceeds ${err.limit} bytes.`, { connection: 'close' });
        return;
      }
      this.deps.logger.error({ route, err: errorMessage(err) }, 'App API request failed');
      this.deps.metrics.appApi.requests.inc({ route, outcome: 'internal_error' });
      sendText(res, 500, 'Internal error.');
    } finally {
      this.inFlight--;
    }
  }

  /**
   * The claims of the request's access token, checked against the rate limit; on refusal the
   * answer is sent and undefined returned.
   */
  private async authenticate(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    route: Route,
    allowQuery: boolean,
  ): Promise<ClientTokenClaims | undefined> {
    const admitted = await this.admit(req, url, route, allowQuery);
    if ('claims' in admitted) return admitted.claims;
    sendText(res, admitted.status, admitted.text, admitted.headers);
    return undefined;
  }

  /**
   * The claims of the request's access token, checked against the rate limit; or the refusal to
   * answer (already counted), for HTTP requests and WebSocket upgrades alike.
   */
  private async admit(
    req: IncomingMessage,
    url: URL,
    route: Route,
    allowQuery: boolean,
  ): Promise<{ claims: ClientTokenClaims } | { status: number; text: string; headers: Record<string, string> }> {
    let claims: ClientTokenClaims;
    try {
      claims = await this.deps.tokens.verify(presentedToken(req, url, allowQuery), ClientTokenType.Access);
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
      const answer = tokenAnswer(err);
      this.reject(route, answer.rejection);
      return { status: answer.status, text: err.message, headers: { 'x-auth-error': answer.authError } };
    }
    const waitMs = this.limiter.take(claims.grantId.toString('hex'));
    if (waitMs > 0) {
      this.reject(route, AppApiRejection.RateLimited);
      return {
        status: 429,
        text: 'Too many requests for this token; slow down.',
        headers: { 'retry-after': String(Math.ceil(waitMs / 1000)) },
      };
    }
    return { claims };
  }

  private async refresh(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, this.deps.config.maxBodyBytes);
    let refreshToken: unknown;
    try {
      refreshToken = (JSON.parse(body.toString('utf8')) as { refreshToken?: unknown } | null)?.refreshToken;
    } catch {
      refreshToken = undefined;
    }
    if (typeof refreshToken !== 'string') {
      this.reject('refresh', AppApiRejection.BadRequest);
      return sendJson(res, 400, adminErrorBody(400, 'expected {"refreshToken": "<token>"}'));
    }
    try {
      const pair = await this.deps.tokens.refresh(refreshToken);
      this.deps.metrics.appApi.requests.inc({ route: 'refresh', outcome: 'ok' });
      sendJson(
        res,
        200,
        JSON.stringify({ data: { access_token: pair.accessToken, refresh_token: pair.refreshToken } }),
      );
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
      const answer = tokenAnswer(err);
      this.reject('refresh', answer.rejection);
      sendJson(res, answer.status, adminErrorBody(answer.status, err.message), { 'x-auth-error': answer.authError });
    }
  }

  private async jsonRpc(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const claims = await this.authenticate(req, res, url, 'jsonrpc', false);
    if (!claims) return;
    const body = await readBody(req, this.deps.config.maxBodyBytes);
    const parsed = parseRequest(body.toString('utf8'));
    if (!parsed.ok) return this.rpcError(res, parsed.id, parsed.error);
    const { id, params } = parsed;
    if (!params.contextId.equals(claims.contextId)) {
      return this.outOfScope(res, 'Token does not cover this context.');
    }
    if (params.executorPublicKey && !params.executorPublicKey.equals(claims.identity)) {
      return this.outOfScope(res, 'Token does not cover this identity.');
    }
    const contexts = this.deps.contexts();
    let outcome: CallOutcome;
    try {
      const [only] = await runCalls(contexts, toBase58(params.contextId), [
        { method: params.method, args: params.args, executor: toBase58(claims.identity), viewOnly: claims.readOnly },
      ]);
      outcome = only!;
    } catch (err) {
      outcome = { ok: false, error: err };
    }
    if (outcome.ok) {
      let answer: string;
      try {
        answer = resultBody(id, outcome.response.output);
      } catch {
        return this.rpcError(res, id, { type: RpcErrorType.SerdeError, data: { message: 'output is not JSON' } });
      }
      this.deps.metrics.appApi.requests.inc({ route: 'jsonrpc', outcome: 'ok' });
      return sendJson(res, 200, answer);
    }
    return this.rpcError(res, id, this.failure(outcome.error, params, claims));
  }

  private failure(err: unknown, params: ExecuteParams, claims: ClientTokenClaims): RpcError {
    const mapped = executeError(err, params, claims.identity);
    if (mapped) return mapped;
    this.deps.logger.error(
      { context: toBase58(params.contextId), method: params.method, err: errorMessage(err) },
      'App API execute failed',
    );
    return { type: RpcErrorType.InternalError, data: {} };
  }

  private rpcError(res: ServerResponse, id: RpcId, error: RpcError): void {
    this.deps.metrics.appApi.requests.inc({ route: 'jsonrpc', outcome: `rpc_${error.type}` });
    this.deps.metrics.appApi.rpcErrors.inc({ type: error.type });
    sendJson(res, 200, errorBody(id, error));
  }

  private outOfScope(res: ServerResponse, message: string): void {
    this.reject('jsonrpc', AppApiRejection.OutOfScope);
    sendText(res, 403, message, { 'x-auth-error': 'token_scope' });
  }

  /** Whether a connection's token still holds (its grant not revoked, not expired). */
  private stillValid(claims: ClientTokenClaims): () => Promise<boolean> {
    return async () => {
      if (Date.now() >= claims.expiresAtMs) return false;
      return this.deps.tokens.grantHolds(claims.grantId);
    };
  }

  private connectionsFull(): boolean {
    return this.live.size >= this.deps.config.maxConnections;
  }

  private async onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const refuse = (status: number, text: string, headers: Record<string, string> = {}): void => {
      const extra = Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(text)}\r\n${extra}connection: close\r\n\r\n${text}`,
      );
    };
    try {
      const url = new URL(req.url ?? '/', 'http://app-api');
      if (url.pathname !== '/ws') {
        this.reject('other', AppApiRejection.NotFound);
        return refuse(404, 'Not found.');
      }
      const admitted = await this.admit(req, url, 'ws', true);
      if (!('claims' in admitted)) return refuse(admitted.status, admitted.text, admitted.headers);
      const { claims } = admitted;
      if (this.connectionsFull()) {
        this.reject('ws', AppApiRejection.TooManyConnections);
        return refuse(503, 'Too many connections.', { 'retry-after': '5' });
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        const session: WsSession = new WsSession(ws, claims, {
          hub: this.deps.hub,
          maxSubscriptions: this.deps.config.maxSubscriptions,
          bufferBytes: this.deps.config.connectionBufferBytes,
          stillValid: this.stillValid(claims),
          metrics: this.deps.metrics,
          logger: this.deps.logger,
          onClose: () => this.live.delete(session),
        });
        this.live.add(session);
        this.deps.metrics.appApi.requests.inc({ route: 'ws', outcome: 'ok' });
      });
    } catch (err) {
      this.deps.logger.error({ err: errorMessage(err) }, 'App API upgrade failed');
      socket.destroy();
    }
  }

  /** `GET /sse[?contextIds=a,b][&token=…]`, resumable with Last-Event-ID `<session>-<sequence>`. */
  private async openSse(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const claims = await this.authenticate(req, res, url, 'sse', true);
    if (!claims) return;
    if (this.connectionsFull()) {
      this.reject('sse', AppApiRejection.TooManyConnections);
      return sendText(res, 503, 'Too many connections.', { 'retry-after': '5' });
    }
    const grant = claims.grantId.toString('hex');
    const lastEventId = req.headers['last-event-id'];
    const resume = typeof lastEventId === 'string' ? /^(\d{1,20})-(\d{1,20})$/.exec(lastEventId) : null;
    const previous = resume ? this.sse.get(resume[1]!) : undefined;
    if (previous && previous.grant !== grant) {
      this.reject('sse', AppApiRejection.OutOfScope);
      return sendText(res, 403, 'This session belongs to another token.', { 'x-auth-error': 'token_scope' });
    }
    previous?.live?.cut('client', 'resumed elsewhere');
    const state = previous ?? this.sse.create(grant, this.deps.hub.latest);
    const requested = url.searchParams.get('contextIds');
    if (requested) {
      const change = checkSubscription(
        { contextIds: requested.split(',') },
        claims,
        state.contexts,
        this.deps.config.maxSubscriptions,
        true,
      );
      if (!change.ok) return this.refuseSubscription(res, 'sse', change.error);
      for (const id of change.contextIds) state.contexts.add(id);
    }
    let missed: ReturnType<EventHub['since']> = [];
    if (resume) {
      const after = Number(resume[2]);
      missed = previous ? this.deps.hub.since(after, state.contexts) : undefined;
      state.lastSeq = Math.min(state.lastSeq, after);
    }
    const session: SseSession = new SseSession(state, res, {
      hub: this.deps.hub,
      bufferBytes: this.deps.config.connectionBufferBytes,
      stillValid: this.stillValid(claims),
      metrics: this.deps.metrics,
      onClose: () => this.live.delete(session),
    });
    this.live.add(session);
    this.deps.metrics.appApi.requests.inc({ route: 'sse', outcome: 'ok' });
    session.open(Boolean(previous), missed);
  }

  /** A refused SSE subscription change: 403 for contexts the token does not cover, else 400. */
  private refuseSubscription(res: ServerResponse, route: Route, error: { type: string; data: unknown }): void {
    const outOfScope = error.type === 'Unauthorized';
    this.reject(route, outOfScope ? AppApiRejection.OutOfScope : AppApiRejection.BadRequest);
    sendJson(res, outOfScope ? 403 : 400, JSON.stringify({ error }));
  }

  /** `POST /sse/subscription` `{id: <session>, method: "subscribe"|"unsubscribe", params: {contextIds}}`. */
  private async sseSubscription(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const claims = await this.authenticate(req, res, url, 'sse_subscription', true);
    if (!claims) return;
    const body = await readBody(req, this.deps.config.maxBodyBytes);
    let msg: { id?: unknown; method?: unknown; params?: unknown } | null;
    try {
      msg = JSON.parse(body.toString('utf8')) as typeof msg;
    } catch {
      msg = null;
    }
    const bad = (status: number, message: string, rejection: AppApiRejection): void => {
      this.reject('sse_subscription', rejection);
      sendJson(res, status, JSON.stringify({ error: { type: 'ParseError', data: message } }));
    };
    if (!msg || typeof msg.id !== 'string' || (msg.method !== 'subscribe' && msg.method !== 'unsubscribe')) {
      return bad(
        400,
        'expected {"id": "<session>", "method": "subscribe"|"unsubscribe", "params": {"contextIds": [...]}}',
        AppApiRejection.BadRequest,
      );
    }
    const state = this.sse.get(msg.id);
    if (!state) return bad(404, 'unknown session', AppApiRejection.NotFound);
    if (state.grant !== claims.grantId.toString('hex')) {
      this.reject('sse_subscription', AppApiRejection.OutOfScope);
      return sendText(res, 403, 'This session belongs to another token.', { 'x-auth-error': 'token_scope' });
    }
    const subscribing = msg.method === 'subscribe';
    const change = checkSubscription(
      msg.params,
      claims,
      state.contexts,
      this.deps.config.maxSubscriptions,
      subscribing,
    );
    if (!change.ok) return this.refuseSubscription(res, 'sse_subscription', change.error);
    for (const id of change.contextIds) {
      if (subscribing) state.contexts.add(id);
      else state.contexts.delete(id);
    }
    this.deps.metrics.appApi.requests.inc({ route: 'sse_subscription', outcome: 'ok' });
    sendJson(
      res,
      200,
      JSON.stringify({
        result: { status: subscribing ? 'subscribed' : 'unsubscribed', contexts: change.contextIds },
      }),
    );
  }
}

function splitListen(listen: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(listen);
  if (!match) throw new Error(`APP_API_LISTEN: expected host:port, got ${listen}`);
  return { host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port: Number(match[2]) };
}
