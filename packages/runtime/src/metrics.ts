import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { buildCommit } from './build-info.js';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * A process-wide Prometheus registry with `{service, node}` on every series, the default process
 * metrics (CPU, memory, event loop lag, GC) and `cnode_build_info{version, commit}` = 1.
 */
export function createMetricsRegistry(
  labels: { service: string; node: string },
  build: { version: string; commit?: string } = { version: '0.0.0' },
): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'cnode_build_info',
    help: 'Always 1: the version and commit this process runs',
    labelNames: ['version', 'commit'],
    registers: [registry],
  }).set({ version: build.version, commit: build.commit ?? buildCommit() }, 1);
  return registry;
}
