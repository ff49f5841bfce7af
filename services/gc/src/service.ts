import type { ServiceContext, ServiceHandle } from '@cnode/runtime';
import { ServiceBuilder, newInstanceId } from '@cnode/service-kit';
import { GcRepo } from '@cnode/store';
import type { GcConfig } from './config.js';
import { SERVICE_NAME } from './constants.js';
import { GcRunner } from './gc-runner.js';
import { GcScheduler } from './gc-scheduler.js';
import { RunCommandServer } from './handlers/run-command.js';
import { LeaderLease } from './leader-lease.js';
import { createGcMetrics, type GcMetrics } from './metrics.js';

export interface GcService extends ServiceHandle {
  metrics: GcMetrics;
  runner: GcRunner;
  lease: LeaderLease;
}

/**
 * Composition root of gc: infra → leader lease → timers and the run command. Every replica holds
 * a connection to everything; only the one holding the lease runs tasks.
 */
export function createGcService(config: GcConfig, ctx: ServiceContext, opts: { now?: () => number } = {}): GcService {
  const builder = new ServiceBuilder(SERVICE_NAME, config, ctx);
  const { lifecycle, infra } = builder;
  const metrics = createGcMetrics(ctx.registry);
  const log = (module: string) => ctx.logger.child({ module: `gc.${module}` });
  const instanceId = newInstanceId();

  let repo: GcRepo | undefined;
  const runner = new GcRunner({
    get gc() {
      return (repo ??= new GcRepo(infra.postgres.sql));
    },
    config: config.gc,
    metrics,
    logger: log('runner'),
    now: opts.now ?? Date.now,
    replica: instanceId,
  });
  const scheduler = new GcScheduler({
    runner,
    lease: () => lease,
    config: config.gc,
    metrics,
    logger: log('scheduler'),
  });
  const lease: LeaderLease = lifecycle.add(
    new LeaderLease({
      redis: () => infra.redis.redis,
      key: infra.catalog.redis.gcLeader,
      instanceId,
      ttlMs: config.gc.leaderTtlMs,
      metrics,
      logger: log('lease'),
      onLead: () => scheduler.onLead(),
    }),
  );
  lifecycle.add(scheduler);
  lifecycle.add(
    new RunCommandServer({
      nc: () => infra.nats.nc,
      catalog: infra.catalog,
      runner,
      lease: () => lease,
      logger: log('command'),
    }),
  );
  return { ...builder.build(), metrics, runner, lease };
}
