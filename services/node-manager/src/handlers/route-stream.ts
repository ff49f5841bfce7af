import {
  BLOB_PROTOCOL,
  SPECIALIZED_INVITE_PROTOCOL,
  SYNC_PROTOCOL,
  isStreamFullError,
  publishToStream,
  type BusMetrics,
  type Catalog,
} from '@cnode/bus';
import { bus } from '@cnode/proto';
import { errorMessage, type Logger } from '@cnode/runtime';
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
  /** Serves an inbound blob stream here; runs detached (a transfer outlives the event's ack). */
  serveBlob: (opened: bus.StreamOpened) => Promise<void>;
  /** Serves an inbound specialized-node invite stream here (detached, like blobs). */
  serveSpecializedInvite: (opened: bus.StreamOpened) => Promise<void>;
}

/**
 * An inbound stream announced by the network service goes to the service that speaks its protocol:
 * sync streams to SYNC_STREAMS (the sync service attaches to the relay), blob streams are served by
 * node-manager itself. Anything else is left unattached (the network service resets it after the
 * attach timeout) and counted.
 */
export async function routeStream(deps: RouteStreamDeps, opened: bus.StreamOpened): Promise<void> {
  if (opened.protocol === BLOB_PROTOCOL) {
    void deps.serveBlob(opened).catch((err: unknown) => {
      deps.metrics.streamsUnrouted.inc({ reason: 'blob_serve_failed' });
      deps.logger.warn({ peer: opened.peer, err: errorMessage(err) }, 'Could not serve a blob stream');
    });
    return;
  }
  if (opened.protocol === SPECIALIZED_INVITE_PROTOCOL) {
    void deps.serveSpecializedInvite(opened).catch((err: unknown) => {
      deps.metrics.streamsUnrouted.inc({ reason: 'specialized_invite_failed' });
      deps.logger.warn({ peer: opened.peer, err: errorMessage(err) }, 'Could not serve a specialized-node invite');
    });
    return;
  }
  if (opened.protocol !== SYNC_PROTOCOL) {
    deps.metrics.streamsUnrouted.inc({ reason: 'unknown_protocol' });
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
    deps.logger.warn({ peer: opened.peer, err: errorMessage(err) }, 'Could not hand a sync stream to sync');
  }
}
