import type { Catalog, NetworkClient } from '@cnode/bus';
import type { HostedContext, NodeEventOutbox, SyncClient, SyncSession } from '@cnode/context-core';
import type { Identity } from '@cnode/primitives';
import type { Logger } from '@cnode/runtime';
import type {
  DeltaBufferRepo,
  GovernancePendingRepo,
  GroupStore,
  IdentityRepo,
  Redis,
  StateStore,
  StateSyncStore,
} from '@cnode/store';
import type { SyncMetrics } from '../metrics.js';
import type { StatusBoard } from '../driver/status-board.js';
import type { ConvergenceRecorder } from '../convergence/recorder.js';

/** What initiator sessions work with. */
export interface InitiatorDeps {
  states: StateStore;
  stateSync: StateSyncStore;
  groups: GroupStore;
  identities: IdentityRepo;
  buffers: DeltaBufferRepo;
  pending: GovernancePendingRepo;
  outbox: Pick<NodeEventOutbox, 'kick'>;
  sync: SyncClient;
  /** Who follows a context's topic (the peers to sync with). */
  network: Pick<NetworkClient, 'topicPeers'>;
  redis: () => Redis;
  catalog: Catalog;
  status: StatusBoard;
  /** What sessions learn about each peer (its state, the session's outcome) for convergence status. */
  convergence: ConvergenceRecorder;
  metrics: SyncMetrics;
  logger: Logger;
  limits: {
    /** Whole-session budget: a session past it is reset. */
    sessionDeadlineMs: number;
    /** Most deltas one catch-up session fetches before handing over to a tree protocol. */
    maxCatchupDeltas: number;
    /** Peers probed at once by a node without state looking for one with state. */
    probeConcurrency: number;
    /** Uncompressed bytes per snapshot page asked for. */
    snapshotPageBytes: number;
  };
}

/** One running session: the context, our member identity, the peer session. */
export interface SessionContext {
  ctx: HostedContext;
  me: Identity;
  session: SyncSession;
  /** Keys were already asked of this peer in this session (asked at most once). */
  keysAsked?: boolean;
}
