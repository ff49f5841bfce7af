import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { bus } from '@cnode/proto';
import type { Catalog } from '@cnode/bus';
import { errorMessage, type Lifecycle, type Logger, type Startable } from '@cnode/runtime';
import type { Redis } from '@cnode/store';

/** A status key lives this many refresh intervals, so one missed refresh does not flap readiness. */
const STATUS_TTL_INTERVALS = 3;
/** Upper bound of status keys read per GetInfo: a node has a handful of replicas per service. */
const MAX_STATUS_KEYS = 1000;

export function newInstanceId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/**
 * Publishes this instance's status to Redis on a timer, under a key that expires if the instance
 * dies, and deletes it on a clean stop. Losing Redis only hides the status until it returns.
 */
export class ServiceStatusReporter implements Startable {
  readonly name = 'service-status';
  private timer: NodeJS.Timeout | undefined;
  private readonly startedAtMs = Date.now();

  constructor(
    private readonly opts: {
      service: string;
      instanceId: string;
      version: string;
      intervalMs: number;
      catalog: Catalog;
      redis: () => Redis;
      isReady: () => boolean;
      logger: Logger;
    },
  ) {}

  private get key(): string {
    return this.opts.catalog.redis.serviceStatus(this.opts.service, this.opts.instanceId);
  }

  async report(): Promise<void> {
    const status: bus.ServiceStatus = {
      service: this.opts.service,
      instanceId: this.opts.instanceId,
      version: this.opts.version,
      ready: this.opts.isReady(),
      startedAtMs: BigInt(this.startedAtMs),
      updatedAtMs: BigInt(Date.now()),
      pid: process.pid,
      host: hostname(),
    };
    const payload = Buffer.from(bus.ServiceStatus.encode(status).finish());
    await this.opts.redis().set(this.key, payload, 'PX', this.opts.intervalMs * STATUS_TTL_INTERVALS);
  }

  async start(): Promise<void> {
    await this.report();
    this.timer = setInterval(() => {
      this.report().catch((err: unknown) =>
        this.opts.logger.warn({ err: errorMessage(err) }, 'Failed to report service status'),
      );
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  /** Reports again as soon as the whole service runs, so readiness shows without waiting a tick. */
  async afterStart(): Promise<void> {
    await this.report();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    try {
      await this.opts.redis().del(this.key);
    } catch (err) {
      this.opts.logger.warn({ err: errorMessage(err) }, 'Failed to clear service status');
    }
  }
}

/** Every live instance status of the node, grouped by service. Undecodable entries are skipped. */
export async function readServiceStatuses(redis: Redis, catalog: Catalog): Promise<bus.ServiceStatus[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', catalog.redis.serviceStatusScanPattern, 'COUNT', 100);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0' && keys.length < MAX_STATUS_KEYS);
  if (keys.length === 0) return [];
  // SCAN returns absolute keys; strip the prefix because ioredis adds it back.
  const relative = keys.slice(0, MAX_STATUS_KEYS).map((k) => k.slice(catalog.redis.prefix.length));
  const values = await redis.mgetBuffer(...relative);
  const statuses: bus.ServiceStatus[] = [];
  for (const value of values) {
    if (!value) continue;
    try {
      statuses.push(bus.ServiceStatus.decode(value));
    } catch {
      // A foreign or corrupt value under our prefix: ignore it, it expires.
    }
  }
  return statuses;
}

/** Adds the status reporter as the last component, so it stops first and readiness drops at once. */
export function addStatusReporter(
  lifecycle: Lifecycle,
  opts: {
    service: string;
    version: string;
    intervalMs: number;
    catalog: Catalog;
    redis: () => Redis;
    isReady: () => boolean;
    logger: Logger;
  },
): ServiceStatusReporter {
  return lifecycle.add(new ServiceStatusReporter({ ...opts, instanceId: newInstanceId() }));
}
