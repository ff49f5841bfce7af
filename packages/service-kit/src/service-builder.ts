import type { NodeConfig } from '@cnode/config';
import { Lifecycle, LifecycleStatus, type ServiceContext, type ServiceHandle } from '@cnode/runtime';
import { addInfra, type Infra } from './infra.js';
import { addStatusReporter } from './service-status.js';

/**
 * The common shape of every service's composition root: infrastructure first, then the service's own
 * components (added by the caller in start order), then the status reporter. Readiness is "running,
 * NATS connected, and whatever the service adds".
 */
export class ServiceBuilder {
  readonly lifecycle: Lifecycle;
  readonly infra: Infra;

  constructor(
    private readonly service: string,
    private readonly config: Readonly<NodeConfig>,
    private readonly ctx: ServiceContext,
  ) {
    this.lifecycle = new Lifecycle(ctx.logger);
    this.infra = addInfra(this.lifecycle, config, ctx);
  }

  /** Finishes the lifecycle; `ready` adds the service's own readiness conditions. */
  build(ready: () => boolean = () => true): ServiceHandle {
    const isReady = (): boolean =>
      this.lifecycle.status === LifecycleStatus.Running && this.infra.nats.isConnected && ready();
    addStatusReporter(this.lifecycle, {
      service: this.service,
      version: this.ctx.version,
      intervalMs: this.config.status.intervalMs,
      catalog: this.infra.catalog,
      redis: () => this.infra.redis.redis,
      isReady,
      logger: this.ctx.logger,
    });
    return { lifecycle: this.lifecycle, isReady };
  }
}
