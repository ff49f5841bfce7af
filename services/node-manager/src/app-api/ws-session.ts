import type { RawData, WebSocket } from 'ws';
import type { Logger } from '@cnode/runtime';
import type { NodeManagerMetrics } from '../metrics.js';
import type { ClientTokenClaims } from './client-tokens.js';
import type { EventHub, EventSink, HubEvent } from './event-hub.js';
import { checkSubscription } from './subscriptions.js';

/** A received frame's text (ws hands a Buffer, an ArrayBuffer or fragments). */
function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return (Buffer.isBuffer(data) ? data : Buffer.from(new Uint8Array(data))).toString('utf8');
}

/** Close code and reason of a client cut off for reading too slowly. */
export const SLOW_CONSUMER_CLOSE = { code: 4008, reason: 'slow consumer: too many unsent events' };
/** Close code when the token expires or is revoked while connected. */
export const TOKEN_ENDED_CLOSE = { code: 4001, reason: 'token no longer valid' };
/** Pings go out this often; a connection that did not answer the previous one is closed. */
export const WS_PING_INTERVAL_MS = 30_000;

/**
 * One WebSocket client: `{id, method: "subscribe"|"unsubscribe", params: {contextIds}}` in, replies
 * with the same id, and `{"id": null, "result": <event>}` for every event of a subscribed context.
 * Unsent bytes are bounded: past `bufferBytes` the client is closed (4008) and counted. A frame that
 * is no request envelope gets no reply (it is counted), as upstream does.
 */
export class WsSession implements EventSink {
  readonly contexts = new Set<string>();
  private alive = true;
  private closed = false;
  private readonly pinger: NodeJS.Timeout;

  constructor(
    private readonly ws: WebSocket,
    private readonly claims: ClientTokenClaims,
    private readonly deps: {
      hub: EventHub;
      maxSubscriptions: number;
      bufferBytes: number;
      /** Whether the token still holds (checked on every ping). */
      stillValid: () => Promise<boolean>;
      metrics: NodeManagerMetrics;
      logger: Logger;
      onClose: () => void;
    },
  ) {
    deps.metrics.appApi.connections.inc({ kind: 'ws' });
    deps.hub.add(this);
    ws.on('message', (data, isBinary) => this.onMessage(isBinary ? undefined : rawText(data)));
    ws.on('pong', () => (this.alive = true));
    ws.on('close', () => this.end('client'));
    ws.on('error', () => this.end('error'));
    this.pinger = setInterval(() => void this.ping(), WS_PING_INTERVAL_MS);
    this.pinger.unref();
  }

  push(event: HubEvent): void {
    if (this.closed) return;
    for (const e of event.events) {
      const frame = JSON.stringify({ id: null, result: e });
      if (this.ws.bufferedAmount + frame.length > this.deps.bufferBytes) {
        this.cut('slow_consumer', SLOW_CONSUMER_CLOSE);
        return;
      }
      this.ws.send(frame);
      this.deps.metrics.appApi.eventsSent.inc({ kind: 'ws' });
    }
  }

  /** Closes the connection from our side (shutdown, slow consumer, token ended). */
  cut(reason: string, close: { code: number; reason: string } = { code: 1001, reason: 'node shutting down' }): void {
    if (this.closed) return;
    this.end(reason);
    this.ws.close(close.code, close.reason);
    // A client that reads nothing never answers the close handshake.
    setTimeout(() => this.ws.terminate(), 1_000).unref();
  }

  private end(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pinger);
    this.deps.hub.remove(this);
    this.deps.metrics.appApi.connections.dec({ kind: 'ws' });
    this.deps.metrics.appApi.disconnects.inc({ kind: 'ws', reason });
    this.deps.onClose();
  }

  private async ping(): Promise<void> {
    if (!this.alive) return void this.cut('error', { code: 1001, reason: 'no pong' });
    if (!(await this.deps.stillValid().catch(() => true))) return void this.cut('token_ended', TOKEN_ENDED_CLOSE);
    this.alive = false;
    this.ws.ping();
  }

  private reply(body: unknown): void {
    if (!this.closed) this.ws.send(JSON.stringify(body));
  }

  private onMessage(text: string | undefined): void {
    let msg: unknown;
    try {
      msg = text === undefined ? undefined : JSON.parse(text);
    } catch {
      msg = undefined;
    }
    const envelope = msg as { id?: unknown; method?: unknown; params?: unknown } | undefined;
    const id = envelope?.id ?? null;
    if (
      typeof envelope !== 'object' ||
      envelope === null ||
      typeof envelope.method !== 'string' ||
      (id !== null && !(typeof id === 'number' && Number.isSafeInteger(id) && id >= 0))
    ) {
      this.deps.metrics.appApi.requests.inc({ route: 'ws', outcome: 'bad_frame' });
      return;
    }
    if (envelope.method !== 'subscribe' && envelope.method !== 'unsubscribe') {
      this.deps.metrics.appApi.requests.inc({ route: 'ws', outcome: 'bad_method' });
      return this.reply({
        id,
        error: {
          type: 'ParseError',
          data: `unknown variant \`${envelope.method.slice(0, 64)}\`, expected \`subscribe\` or \`unsubscribe\``,
        },
      });
    }
    const subscribing = envelope.method === 'subscribe';
    const change = checkSubscription(
      envelope.params,
      this.claims,
      this.contexts,
      this.deps.maxSubscriptions,
      subscribing,
    );
    if (!change.ok) {
      this.deps.metrics.appApi.requests.inc({ route: 'ws', outcome: change.error.type });
      return this.reply({ id, error: change.error });
    }
    for (const contextId of change.contextIds) {
      if (subscribing) this.contexts.add(contextId);
      else this.contexts.delete(contextId);
    }
    this.deps.metrics.appApi.requests.inc({ route: 'ws', outcome: 'ok' });
    this.reply({ id, result: { contextIds: change.contextIds } });
  }
}
