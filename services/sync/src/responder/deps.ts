import type { Catalog } from '@cnode/bus';
import type { wire } from '@cnode/proto';
import type { Logger } from '@cnode/runtime';
import type { GroupStore, Redis, StateStore, StateSyncStore } from '@cnode/store';
import type { NatsConnection } from '@nats-io/nats-core';
import type { SyncMetrics } from '../metrics.js';

export interface ResponderDeps {
  states: StateStore;
  stateSync: StateSyncStore;
  groups: GroupStore;
  redis: () => Redis;
  nc: () => NatsConnection;
  catalog: Catalog;
  idleTimeoutMs: number;
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
}

/** Sends one answer frame of the session (a snapshot sends several). */
export type AnswerWriter = (message: wire.SyncStreamMessage) => Promise<void>;
