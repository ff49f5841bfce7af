import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import { ConfigError } from './config.js';
import { errorMessage } from './errors.js';
import { HealthServer } from './http-server.js';
import type { Lifecycle } from './lifecycle.js';
import { createLogger } from './logger.js';
import { createMetricsRegistry } from './metrics.js';
import { onGracefulShutdown } from './shutdown.js';

/** What runMain needs to know of a service's configuration. */
export interface MainConfig {
  node: { name: string };
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent' };
  http: { host: string; port: number };
  shutdown: { deadlineMs: number };
}

/** A built service: its components in start order, and whether it is doing its job right now. */
export interface ServiceHandle {
  lifecycle: Lifecycle;
  isReady(): boolean;
}

export interface ServiceContext {
  logger: Logger;
  registry: Registry;
  version: string;
}

export interface MainDefinition<C extends MainConfig> {
  service: string;
  version: string;
  loadConfig(env: NodeJS.ProcessEnv): C;
  create(config: C, ctx: ServiceContext): ServiceHandle | Promise<ServiceHandle>;
}

/**
 * The whole of a service's `main`: config (exit 1 listing every bad key) → logger and metrics →
 * health server → build and start the service (exit 1 on failure) → graceful shutdown on signals.
 */
export async function runMain<C extends MainConfig>(def: MainDefinition<C>): Promise<void> {
  let config: C;
  try {
    config = def.loadConfig(process.env);
  } catch (err) {
    process.stderr.write(`${def.service}: ${err instanceof ConfigError ? err.message : errorMessage(err)}\n`);
    process.exit(1);
  }
  const logger = createLogger({
    service: def.service,
    node: config.node.name,
    level: config.log.level,
    version: def.version,
  });
  const registry = createMetricsRegistry({ service: def.service, node: config.node.name }, { version: def.version });

  let handle: ServiceHandle | undefined;
  const health = new HealthServer({
    host: config.http.host,
    port: config.http.port,
    registry,
    isReady: () => handle?.isReady() ?? false,
  });
  const stop = async (): Promise<void> => {
    await handle?.lifecycle.stop();
    await health.stop();
  };
  onGracefulShutdown(stop, logger, config.shutdown.deadlineMs);

  try {
    await health.start();
    handle = await def.create(config, { logger, registry, version: def.version });
    await handle.lifecycle.start();
  } catch (err) {
    logger.fatal({ err: errorMessage(err) }, 'Service failed to start');
    await stop().catch(() => undefined);
    process.exit(1);
  }
  logger.info({ http: `${config.http.host}:${health.address?.port ?? config.http.port}` }, 'Service started');
}
