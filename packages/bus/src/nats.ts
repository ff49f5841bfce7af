import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger, Startable } from '@cnode/runtime';

/**
 * The process's NATS connection as a lifecycle component. Stopping drains: pending publishes are
 * flushed and subscriptions finish their in-flight messages before the socket closes.
 */
export class NatsComponent implements Startable {
  readonly name = 'nats';
  private connection: NatsConnection | undefined;
  private jsClient: JetStreamClient | undefined;
  private jsManager: JetStreamManager | undefined;

  constructor(private readonly opts: { url: string; clientName: string; logger: Logger }) {}

  get nc(): NatsConnection {
    if (!this.connection) throw new Error('NATS is not connected');
    return this.connection;
  }

  get js(): JetStreamClient {
    if (!this.jsClient) throw new Error('NATS is not connected');
    return this.jsClient;
  }

  get jsm(): JetStreamManager {
    if (!this.jsManager) throw new Error('NATS is not connected');
    return this.jsManager;
  }

  /** The broker's per-message limit (payload plus headers), as the server announced it. */
  get maxPayload(): number {
    return this.connection?.info?.max_payload ?? 1024 * 1024;
  }

  /** False while disconnected or closed; the client reconnects on its own. */
  get isConnected(): boolean {
    return this.connection !== undefined && !this.connection.isClosed() && this.connected;
  }

  private connected = false;

  async start(): Promise<void> {
    const nc = await connect({
      servers: this.opts.url,
      name: this.opts.clientName,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      // Without this, every request (each JetStream publish and ack wait) captures two stack
      // traces up front for an error it almost never throws: a measurable share of a delta's CPU.
      noAsyncTraces: true,
    });
    this.connection = nc;
    this.connected = true;
    void this.watchStatus(nc);
    this.jsManager = await jetstreamManager(nc);
    this.jsClient = jetstream(nc);
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') {
        this.connected = false;
        this.opts.logger.warn({ server: status.server }, 'NATS disconnected');
      } else if (status.type === 'reconnect') {
        this.connected = true;
        this.opts.logger.info({ server: status.server }, 'NATS reconnected');
      }
    }
  }

  async stop(): Promise<void> {
    const nc = this.connection;
    if (!nc || nc.isClosed()) return;
    this.connected = false;
    await nc.drain();
  }
}
