import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { NodeManagerMetrics } from '../metrics.js';
import type { EventHub, EventSink, HubEvent } from './event-hub.js';

/** How long a closed SSE session can be resumed (Last-Event-ID), and how many closed ones are kept. */
export const SSE_SESSION_KEEP_MS = 300_000;
export const SSE_SESSIONS_KEPT_MAX = 1024;
/** A comment line goes out this often, so proxies keep an idle stream open. */
export const SSE_KEEPALIVE_MS = 15_000;
/** What the browser waits before reconnecting (the `retry` field). */
export const SSE_RETRY_MS = 2_000;

/** An SSE session: who owns it, what it subscribes to, where it stands in the event stream. */
export interface SseSessionState {
  id: string;
  /** The grant (hex) whose tokens may use and resume it. */
  grant: string;
  contexts: Set<string>;
  lastSeq: number;
  closedAt?: number;
  live?: SseSession;
}

/** Open and recently closed SSE sessions, bounded. */
export class SseSessions {
  private readonly sessions = new Map<string, SseSessionState>();

  create(grant: string, lastSeq: number): SseSessionState {
    this.prune();
    const state: SseSessionState = {
      id: BigInt(`0x${randomBytes(8).toString('hex')}`).toString(),
      grant,
      contexts: new Set(),
      lastSeq,
    };
    this.sessions.set(state.id, state);
    return state;
  }

  get(id: string): SseSessionState | undefined {
    return this.sessions.get(id);
  }

  private prune(): void {
    const now = Date.now();
    let closed = 0;
    for (const s of this.sessions.values()) if (s.closedAt !== undefined) closed++;
    for (const [id, s] of this.sessions) {
      if (s.closedAt === undefined) continue;
      if (now - s.closedAt > SSE_SESSION_KEEP_MS || closed > SSE_SESSIONS_KEPT_MAX) {
        this.sessions.delete(id);
        closed--;
      }
    }
  }
}

/**
 * One Server-Sent Events stream. Every event is `event: message`, `id: <session>-<sequence>`,
 * `data: {"result": <event>}`; the first is `{"type":"connect","session_id","reconnect"}` and a
 * cut-off sends `{"type":"close","reason"}` when it still can. Unsent bytes are bounded like a
 * WebSocket's.
 */
export class SseSession implements EventSink {
  private closed = false;
  private readonly keepalive: NodeJS.Timeout;

  constructor(
    readonly state: SseSessionState,
    private readonly res: ServerResponse,
    private readonly deps: {
      hub: EventHub;
      bufferBytes: number;
      /** Whether the token still holds (checked with every keepalive). */
      stillValid: () => Promise<boolean>;
      metrics: NodeManagerMetrics;
      onClose: () => void;
    },
  ) {
    state.live = this;
    state.closedAt = undefined;
    deps.metrics.appApi.connections.inc({ kind: 'sse' });
    res.on('close', () => this.end('client'));
    this.keepalive = setInterval(() => void this.keepAlive(), SSE_KEEPALIVE_MS);
    this.keepalive.unref();
  }

  get contexts(): ReadonlySet<string> {
    return this.state.contexts;
  }

  /** Sends the connect event and what the client missed, then joins the live stream. */
  open(reconnect: boolean, missed: HubEvent[] | undefined): void {
    this.res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    this.write(
      `retry: ${SSE_RETRY_MS}\nevent: message\nid: ${this.state.id}-${this.state.lastSeq}\ndata: ${JSON.stringify({
        type: 'connect',
        session_id: this.state.id,
        reconnect,
      })}\n\n`,
    );
    if (missed === undefined) {
      // Events since the client's last one are no longer held: it must read the state again.
      this.write(`event: message\ndata: ${JSON.stringify({ type: 'resync', reason: 'events were missed' })}\n\n`);
    } else {
      for (const event of missed) this.push(event);
    }
    this.deps.hub.add(this);
  }

  push(event: HubEvent): void {
    if (this.closed || event.seq <= this.state.lastSeq) return;
    this.state.lastSeq = event.seq;
    for (const e of event.events) {
      const frame = `event: message\nid: ${this.state.id}-${event.seq}\ndata: ${JSON.stringify({ result: e })}\n\n`;
      if (this.res.writableLength + frame.length > this.deps.bufferBytes) {
        this.cut('slow_consumer', 'slow consumer: too many unsent events');
        return;
      }
      this.write(frame);
      this.deps.metrics.appApi.eventsSent.inc({ kind: 'sse' });
    }
  }

  cut(reason: string, message: string): void {
    if (this.closed) return;
    if (this.res.writableLength < this.deps.bufferBytes) {
      this.write(`event: message\ndata: ${JSON.stringify({ type: 'close', reason: message })}\n\n`);
    }
    this.end(reason);
    this.res.end();
    setTimeout(() => this.res.destroy(), 1_000).unref();
  }

  private async keepAlive(): Promise<void> {
    if (!(await this.deps.stillValid().catch(() => true))) return this.cut('token_ended', 'token no longer valid');
    this.write(': keepalive\n\n');
  }

  private write(text: string): void {
    if (!this.closed) this.res.write(text);
  }

  private end(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepalive);
    this.deps.hub.remove(this);
    this.state.live = undefined;
    this.state.closedAt = Date.now();
    this.deps.metrics.appApi.connections.dec({ kind: 'sse' });
    this.deps.metrics.appApi.disconnects.inc({ kind: 'sse', reason });
    this.deps.onClose();
  }
}
