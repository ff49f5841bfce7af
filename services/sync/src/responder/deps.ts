import type { Catalog } from '@cnode/bus';
import type { Logger } from '@cnode/runtime';
import type { GroupStore, StateStore } from '@cnode/store';
import type { NatsConnection } from '@nats-io/nats-core';
import type { SyncMetrics } from '../metrics.js';

export interface ResponderDeps {
  states: StateStore;
  groups: GroupStore;
  nc: () => NatsConnection;
  catalog: Catalog;
  idleTimeoutMs: number;
  metrics: SyncMetrics;
  logger: Logger;
}
