import {
  BLOB_PROTOCOL,
  SYNC_PROTOCOL,
  isStreamFullError,
  publishToStream,
  type BusMetrics,
  type Catalog,
} from '@cnode/bus';
import { bus } from '@cnode/proto';
import type { Logger } from '@cnode/runtime';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { NodeManagerMetrics } from '../metrics.js';

/** SYNC_STREAMS subject token for `/calimero/stream/…` streams. */
export const SYNC_STREAM_KIND = 'sync';

export interface RouteStreamDeps {
  js: () => JetStreamClient;
  catalog: Catalog;
  busMetrics: BusMetrics;
  metrics: NodeManagerMetrics;
  logger: Logger;
}

/**
 * An inbound stream announced by the network service goes to the service that speaks its protocol:
 * sync streams to SYNC_STREAMS (the sync service attaches to the relay). Blob streams are served
 * once blobs land; until then they are left unattached (the network service resets them after the
 * attach timeout) and counted.
 */
export async function routeStream(deps: RouteStreamDeps, opened: bus.StreamOpened): Promise<void> {
  if (opened.protocol !== SYNC_PROTOCOL) {
    deps.metrics.streamsUnrouted.inc({
      reason: opened.protocol === BLOB_PROTOCOL ? 'blob_not_served' : 'unknown_protocol',
    });
    return;
  }
  try {
    await publishToStream(
      { js: deps.js(), metrics: deps.busMetrics },
      deps.catalog.streams.syncStreams,
      deps.catalog.subjects.syncStreamFor(SYNC_STREAM_KIND),
      bus.StreamOpened.encode(opened).finish(),
      { msgId: `stream-${opened.streamId}` },
    );
  } catch (err) {
    // Sync is saturated or NATS refused: leave the stream unattached (the peer sees a reset) rather
    // than hand it over after its attach deadline.
    const full = isStreamFullError(err);
    deps.metrics.streamsUnrouted.inc({ reason: full ? 'queue_full' : 'publish_failed' });
    deps.logger.warn({ peer: opened.peer, err: (err as Error).message }, 'Could not hand a sync stream to sync');
  }
}
