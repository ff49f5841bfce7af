import type { BusMetrics, Catalog, NetworkClient } from '@cnode/bus';
import type { GovernanceDeps, NodeEventOutbox } from '@cnode/context-core';
import type { HlcClock } from '@cnode/primitives';
import type { Logger } from '@cnode/runtime';
import type { GroupStore, IdentityRepo, Redis, StateStore, StateSyncStore } from '@cnode/store';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { NodeManagerMetrics } from '../metrics.js';
import type { TopicSubscriptions } from './topic-subscriptions.js';

/** What the context RPCs and gossip handlers of node-manager work with. */
export interface ContextDeps {
  states: StateStore;
  stateSync: StateSyncStore;
  groups: GroupStore;
  identities: IdentityRepo;
  network: NetworkClient;
  outbox: NodeEventOutbox;
  subscriptions: TopicSubscriptions;
  clock: HlcClock;
  catalog: Catalog;
  js: () => JetStreamClient;
  redis: () => Redis;
  busMetrics: BusMetrics;
  metrics: NodeManagerMetrics;
  logger: Logger;
  /** Told of ops applied here (GovernanceDeps.onApplied): drain request and subscription reconcile. */
  onApplied?: GovernanceDeps['onApplied'];
  divergences?: GovernanceDeps['divergences'];
}
