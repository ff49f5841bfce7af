import { Redis } from 'ioredis';
import type { Logger, Startable } from '@cnode/runtime';

export type { Redis } from 'ioredis';

/**
 * The process's Redis client as a lifecycle component. Every key it touches is under the node's key
 * prefix. Redis holds only coordination that may be lost, so commands fail fast rather than queue
 * forever while Redis is away.
 */
export class RedisComponent implements Startable {
  readonly name = 'redis';
  private client: Redis | undefined;

  constructor(private readonly opts: { url: string; keyPrefix: string; clientName: string; logger: Logger }) {}

  get redis(): Redis {
    if (!this.client) throw new Error('Redis is not connected');
    return this.client;
  }

  get isConnected(): boolean {
    return this.client?.status === 'ready';
  }

  async start(): Promise<void> {
    const client = new Redis(this.opts.url, {
      keyPrefix: this.opts.keyPrefix,
      connectionName: this.opts.clientName,
      lazyConnect: true,
      maxRetriesPerRequest: 3,
      enableOfflineQueue: true,
    });
    client.on('error', (err: Error) => this.opts.logger.warn({ err: err.message }, 'Redis connection error'));
    this.client = client;
    await client.connect();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    try {
      await client.quit();
    } catch {
      client.disconnect();
    }
  }
}
