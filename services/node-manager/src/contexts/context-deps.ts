import type { BusMetrics, Catalog, NetworkClient } from '@cnode/bus';
import type { GovernanceDeps, NodeEventOutbox } from '@cnode/context-core';
import type { HlcClock } from '@cnode/primitives';
import type { Logger } from '@cnode/runtime';
import type {
  AliasRepo,
  ApplicationRepo,
  ClientGrantRepo,
  BlobRepo,
  GcRepo,
  GroupStore,
  HandlerJobRepo,
  PrivateEntryRepo,
  HotState,
  IdentityRepo,
  Redis,
  StateStore,
  StateSyncStore,
} from '@cnode/store';
import type { ClientTokens } from '../app-api/client-tokens.js';
import type { SpecializedDeps } from '../specialized/specialized-invites.js';
import type { BlobCache } from '../blobs/blob-cache.js';
import type { BlobTransferDeps } from '../blobs/blob-transfer.js';
import type { UrlFetchLimits } from '../apps/url-fetch.js';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { NodeManagerMetrics } from '../metrics.js';
import type { TopicSubscriptions } from './topic-subscriptions.js';
import type { GroupCommitter } from './group-commit.js';
import type { HeadsClock } from './heads-clock.js';
import type { WasmCallDeps } from './wasm-calls.js';

/** What the context RPCs and gossip handlers of node-manager work with. */
export interface ContextDeps {
  /** NODE_MODE: a read-only node never writes state deltas or governance ops. */
  nodeMode: 'standard' | 'read-only';
  /** SYNC_CONVERGENCE_INTERVAL: a peer's state older than 3 of these shows as unknown. */
  convergenceIntervalMs: number;
  states: StateStore;
  stateSync: StateSyncStore;
  groups: GroupStore;
  identities: IdentityRepo;
  aliases: AliasRepo;
  /**
   * Cached context settings, our identities, group keys, governance heads, standings and aliases.
   * A call that changes one of them here invalidates it at once (other processes hear it from the
   * database).
   */
  hot: HotState;
  applications: ApplicationRepo;
  /** Applications' private storage (node-local). */
  privateEntries: PrivateEntryRepo;
  /** Handlers received deltas named, waiting to run here. */
  handlerJobs: HandlerJobRepo;
  blobs: BlobRepo;
  /** Grants of application client tokens, and the tokens' signer and checker. */
  clientGrants: ClientGrantRepo;
  clientTokens: ClientTokens;
  /** Specialized-node invites: pending ones, the invite topic, whether mock TEEs are admitted. */
  specialized: SpecializedDeps;
  blobCache: BlobCache;
  /** Serving and fetching blobs over the blob protocol. */
  blobTransfer: BlobTransferDeps;
  blobLimits: BlobLimits;
  urlFetch: UrlFetchLimits;
  network: NetworkClient;
  outbox: NodeEventOutbox;
  subscriptions: TopicSubscriptions;
  clock: HlcClock;
  /** Moves the clock past a context's heads before a local write (one read per context at a time). */
  headsClock: HeadsClock;
  /** Group commit of local writes (Execute): one transaction per context per batch. */
  committer: GroupCommitter;
  /** Installed applications' calls: the WASM runtime, prepared modules, per-context call locks. */
  wasm: WasmCallDeps;
  catalog: Catalog;
  js: () => JetStreamClient;
  nc: () => NatsConnection;
  /** GC run reports (GcService.GetGcStatus). */
  gcRuns: GcRepo;
  redis: () => Redis;
  busMetrics: BusMetrics;
  metrics: NodeManagerMetrics;
  logger: Logger;
  /** Told of ops applied here (GovernanceDeps.onApplied): drain request and subscription reconcile. */
  onApplied?: GovernanceDeps['onApplied'];
  divergences?: GovernanceDeps['divergences'];
}

/** Blob sizes the admin API and the blob protocol accept. */
export interface BlobLimits {
  /** Largest blob stored or served (BLOB_MAX_STREAM_SIZE). */
  maxBytes: number;
  /** Largest blob GetBlobBytes returns whole (BLOB_CACHE_ENTRY_MAX). */
  wholeMaxBytes: number;
}
