import type { Catalog, NetworkClient, RelayOwnerOptions } from '@cnode/bus';
import type { SyncClient } from '@cnode/context-core';
import type { Logger } from '@cnode/runtime';
import type { ApplicationRepo, BlobRepo, GroupStore, IdentityRepo, StateStore } from '@cnode/store';
import type { NatsConnection } from '@nats-io/nats-core';
import type { NodeManagerMetrics } from '../metrics.js';

/** What serving and fetching blobs over `/calimero/blob/pb/1` work with. */
export interface BlobTransferDeps {
  blobs: BlobRepo;
  states: StateStore;
  applications: ApplicationRepo;
  identities: IdentityRepo;
  groups: GroupStore;
  /** Our libp2p peer id, and governance catch-up from a requester we do not know as a member. */
  sync: SyncClient;
  network: NetworkClient;
  nc: () => NatsConnection;
  catalog: Catalog;
  /** The relay resets a stream idle this long. */
  idleTimeoutMs: number;
  limits: {
    /** Largest blob served or fetched (BLOB_MAX_STREAM_SIZE). */
    maxBytes: number;
    /** Whole-transfer deadline of one download (BLOB_FETCH_DEADLINE). */
    fetchDeadlineMs: number;
    /** Blob streams served at once (BLOB_SERVE_MAX_CONCURRENT). */
    serveMaxConcurrent: number;
  };
  metrics: NodeManagerMetrics;
  meters: TransferMeters;
  logger: Logger;
}

export type TransferDirection = 'serve' | 'fetch';

export function relayOptions(deps: BlobTransferDeps): RelayOwnerOptions {
  return { nc: deps.nc(), catalog: deps.catalog, idleTimeoutMs: deps.idleTimeoutMs };
}

/**
 * Per-transfer accounting of the blob protocol: bytes moved, transfers active, and the most bytes
 * one transfer ever held in this process (blob_transfer_buffered_bytes_max), so a test or an
 * operator sees the memory bound hold whatever the blob size.
 */
export class TransferMeters {
  private readonly highest: Record<TransferDirection, number> = { serve: 0, fetch: 0 };
  private readonly running: Record<TransferDirection, number> = { serve: 0, fetch: 0 };

  constructor(private readonly metrics: NodeManagerMetrics) {}

  /** Transfers in this direction running now. */
  active(direction: TransferDirection): number {
    return this.running[direction];
  }

  start(direction: TransferDirection): TransferMeter {
    this.running[direction]++;
    this.metrics.blobTransfersActive.inc({ direction });
    return {
      holding: (bytes) => {
        if (bytes <= this.highest[direction]) return;
        this.highest[direction] = bytes;
        this.metrics.blobTransferBufferedMax.set({ direction }, bytes);
      },
      moved: (bytes) => this.metrics.blobTransferBytes.inc({ direction }, bytes),
      done: () => {
        this.running[direction]--;
        this.metrics.blobTransfersActive.dec({ direction });
      },
    };
  }
}

export interface TransferMeter {
  /** Bytes the transfer holds right now (the caller sums what it holds). */
  holding(bytes: number): void;
  /** Content bytes sent or stored. */
  moved(bytes: number): void;
  done(): void;
}
