import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { ServiceContext, ServiceHandle } from '@cnode/runtime';

/** A silent logger for tests; LOG_LEVEL=debug shows service logs while debugging a test. */
export function testLogger(): ServiceContext['logger'] {
  return pino({ level: process.env.LOG_LEVEL ?? 'silent' });
}

export interface RunningService<H extends ServiceHandle> {
  handle: H;
  registry: Registry;
  stop(): Promise<void>;
}

/** Builds and starts a service in this process, with its own metrics registry. */
export async function startInProcess<C, H extends ServiceHandle>(
  create: (config: C, ctx: ServiceContext) => H,
  config: C,
): Promise<RunningService<H>> {
  const registry = new Registry();
  const handle = create(config, { logger: testLogger(), registry, version: '0.0.0-test' });
  await handle.lifecycle.start();
  return { handle, registry, stop: () => handle.lifecycle.stop() };
}

/** The value of one series of a counter or gauge, 0 when the series does not exist yet. */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  // A histogram's series (`_count`, `_sum`, `_bucket`) are values of the histogram itself.
  const series = /_(count|sum|bucket)$/.exec(name);
  const metric =
    registry.getSingleMetric(name) ?? (series ? registry.getSingleMetric(name.slice(0, series.index)) : undefined);
  if (!metric) return 0;
  const data = await metric.get();
  const match = data.values.find(
    (v) =>
      (!series || registry.getSingleMetric(name) || (v as { metricName?: string }).metricName === name) &&
      Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want),
  );
  return match?.value ?? 0;
}
