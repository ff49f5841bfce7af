import { requestSync } from '@cnode/context-core';
import type { BusMetrics, Catalog } from '@cnode/bus';
import { toBase58 } from '@cnode/primitives';
import { bus } from '@cnode/proto';
import { errorMessage, type Logger } from '@cnode/runtime';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { NodeManagerMetrics } from '../metrics.js';

export interface QueueSyncDeps {
  js: () => JetStreamClient;
  busMetrics: BusMetrics;
  catalog: Catalog;
  metrics: NodeManagerMetrics;
  logger: Logger;
}

/** Queues a SyncRequest and counts it; a failure is logged and counted (the periodic tick repairs it). */
export async function queueSync(
  deps: QueueSyncDeps,
  request: { contextId: Buffer; reason: bus.SyncReason; peer?: string; forced?: boolean },
  dedupKey: string,
): Promise<boolean> {
  const reason = bus.syncReasonToJSON(request.reason).replace('SYNC_REASON_', '').toLowerCase();
  try {
    await requestSync({ js: deps.js(), metrics: deps.busMetrics, catalog: deps.catalog }, request, dedupKey);
    deps.metrics.syncRequests.inc({ reason, outcome: 'queued' });
    return true;
  } catch (err) {
    deps.metrics.syncRequests.inc({ reason, outcome: 'failed' });
    deps.logger.warn(
      { context: toBase58(request.contextId), reason, err: errorMessage(err) },
      'Sync request not queued',
    );
    return false;
  }
}
