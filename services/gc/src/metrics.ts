import { Counter, Gauge, Histogram, type Registry } from '@cnode/runtime';

export function createGcMetrics(registry: Registry) {
  return {
    runs: new Counter({
      name: 'gc_runs_total',
      help: 'GC task runs, by task (tombstones, pending, compaction) and outcome (ok, partial, failed, skipped)',
      labelNames: ['task', 'outcome'],
      registers: [registry],
    }),
    runsSkipped: new Counter({
      name: 'gc_runs_skipped_total',
      help: 'Scheduled runs not started, by task and reason (overlap: the previous run still runs; not_leader: another replica leads)',
      labelNames: ['task', 'reason'],
      registers: [registry],
    }),
    scanned: new Counter({
      name: 'gc_items_scanned_total',
      help: 'Items looked at, by kind (tombstone, pending_delta, delta)',
      labelNames: ['kind'],
      registers: [registry],
    }),
    deleted: new Counter({
      name: 'gc_items_deleted_total',
      help: 'Items deleted, by kind (tombstone, pending_delta, delta)',
      labelNames: ['kind'],
      registers: [registry],
    }),
    failures: new Counter({
      name: 'gc_item_failures_total',
      help: 'Items whose deletion failed (logged with the key; retried next run), by kind',
      labelNames: ['kind'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'gc_run_duration_seconds',
      help: 'Duration of GC task runs, by task',
      labelNames: ['task'],
      buckets: [0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
      registers: [registry],
    }),
    lastSuccess: new Gauge({
      name: 'gc_last_success_timestamp_seconds',
      help: 'When a run of the task last finished without failures (unix seconds), by task',
      labelNames: ['task'],
      registers: [registry],
    }),
    running: new Gauge({
      name: 'gc_runs_active',
      help: 'Task runs in progress in this replica, by task',
      labelNames: ['task'],
      registers: [registry],
    }),
    leader: new Gauge({
      name: 'gc_leader',
      help: '1 while this replica holds the gc lease (runs the tasks), else 0',
      registers: [registry],
    }),
  };
}

export type GcMetrics = ReturnType<typeof createGcMetrics>;
