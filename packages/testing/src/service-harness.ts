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

/**
 * The value of one series of a counter or gauge, or of a histogram's `_count`, `_sum` or `_bucket`;
 * 0 when the series does not exist yet.
 */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  let metric = registry.getSingleMetric(name);
  // A histogram's series are values of the histogram itself, named by `metricName`.
  let seriesName: string | undefined;
  const suffix = /_(count|sum|bucket)$/.exec(name);
  if (!metric && suffix) {
    metric = registry.getSingleMetric(name.slice(0, suffix.index));
    seriesName = name;
  }
  if (!metric) return 0;
  const data = await metric.get();
  const match = data.values.find(
    (v) =>
      (seriesName === undefined || (v as { metricName?: string }).metricName === seriesName) &&
      Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want),
  );
  return match?.value ?? 0;
}
