import { Registry, collectDefaultMetrics } from 'prom-client';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * A process-wide Prometheus registry with `{service, node}` on every series and the default
 * process metrics (CPU, memory, event loop lag, GC).
 */
export function createMetricsRegistry(labels: { service: string; node: string }): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry });
  return registry;
}
