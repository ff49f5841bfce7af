import type { Catalog } from '@cnode/bus';
import type { SyncClient } from '@cnode/context-core';
import type { wire } from '@cnode/proto';
import type { Logger } from '@cnode/runtime';
import type { GroupStore, IdentityRepo, Redis, StateStore, StateSyncStore } from '@cnode/store';
import type { NatsConnection } from '@nats-io/nats-core';
import type { SyncMetrics } from '../metrics.js';

export interface ResponderDeps {
  states: StateStore;
  stateSync: StateSyncStore;
  groups: GroupStore;
  identities: IdentityRepo;
  /** Our peer id (our proof binds to it), and governance catch-up from a requester we do not know as a member (yet). */
  sync: SyncClient;
  redis: () => Redis;
  nc: () => NatsConnection;
  catalog: Catalog;
  idleTimeoutMs: number;
  /** An inbound session is reset this long after it started, whatever it is doing. */
  sessionDeadlineMs: number;
  /** Requests one inbound session may make (SYNC_MAX_REQUESTS_PER_SESSION). */
  maxRequestsPerSession: number;
  metrics: SyncMetrics;
  logger: Logger;
}

/** What a session is about once its first request proved membership. */
export interface SessionScope {
  /** The context or group id the member proof was signed for. */
  scopeId: Buffer;
  groupId: Buffer;
  /** The proven member identity. */
  member: Buffer;
  /** The context, for context-scoped sessions. */
  contextId?: Buffer;
  /** Our own member proof, sent with the first answer (initiators use nothing a non-member says). */
  proof: wire.MemberAuth;
}

/** Sends one answer frame of the session (a snapshot sends several). */
export type AnswerWriter = (message: wire.SyncStreamMessage) => Promise<void>;
