import type { Catalog, NetworkClient } from '@cnode/bus';
import type { SyncClient } from '@cnode/context-core';
import type { BoundedCache, Logger } from '@cnode/runtime';
import type {
  DeltaBufferRepo,
  GovernancePendingRepo,
  GroupStore,
  HotState,
  IdentityRepo,
  Redis,
  ReplicaPresence,
  StateStore,
} from '@cnode/store';

import type { StateDeltaMetrics } from '../metrics.js';
import type { HeartbeatPublisher } from './heartbeat.js';

/** What the StateDelta pipeline works with. */
export interface PipelineDeps {
  states: StateStore;
  groups: GroupStore;
  identities: IdentityRepo;
  buffers: DeltaBufferRepo;
  pending: GovernancePendingRepo;
  /** Cached context settings, identities, group keys and standings (invalidated by Postgres notifications). */
  hot: HotState;
  redis: Redis;
  /** The live state-delta replicas: a lane takes its lock only when this one is not alone. */
  presence: Pick<ReplicaPresence, 'alone'>;
  catalog: Catalog;
  /** Strikes against peers that sent what only a protocol breaker sends. */
  network: Pick<NetworkClient, 'reportPeer'>;
  sync: SyncClient;
  heartbeat: HeartbeatPublisher;
  metrics: StateDeltaMetrics;
  logger: Logger;
  /** Contexts whose missing parents wait to be fetched once their lane has nothing queued: context hex → source peer. */
  deferredFetches: BoundedCache<string, string>;
}
