import { contextTopic, groupTopic, requestSync } from '@cnode/context-core';
import type { BusMetrics, Catalog, NetworkClient } from '@cnode/bus';
import { MAX_GROUP_OP_PARENTS, isZeroId, toBase58 } from '@cnode/primitives';
import { bus, wire } from '@cnode/proto';
import { errorMessage, type Logger, type Startable } from '@cnode/runtime';
import type { GroupStore, IdentityRepo, Redis, StateStore } from '@cnode/store';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { SyncMetrics } from '../metrics.js';

export interface TickerDeps {
  states: () => StateStore;
  groups: () => GroupStore;
  identities: () => IdentityRepo;
  network: NetworkClient;
  js: () => JetStreamClient;
  busMetrics: BusMetrics;
  redis: () => Redis;
  catalog: Catalog;
  metrics: SyncMetrics;
  logger: Logger;
  /** The periodic sync tick (SYNC_FREQUENCY). */
  frequencyMs: number;
  /** The periodic HashHeartbeat (SYNC_HEARTBEAT_INTERVAL). */
  heartbeatIntervalMs: number;
}

/**
 * The sync service's timers. Every `frequencyMs` (and right after start) each hosted context gets an
 * interval SyncRequest; the message id carries the tick number, so the ticks of several replicas
 * collapse into one request. Every `heartbeatIntervalMs` each context with state gets a HashHeartbeat
 * (root hash, DAG heads) on its topic, and each group we are a member of a GroupStateHeartbeat (its
 * governance DAG heads) on the group topic, sent by whichever replica claims it first.
 */
export class SyncTicker implements Startable {
  readonly name = 'sync-ticker';
  private timers: NodeJS.Timeout[] = [];
  private running = new Set<string>();

  constructor(private readonly deps: TickerDeps) {}

  async start(): Promise<void> {
    this.timers.push(setInterval(() => this.once('sync', () => this.syncTick()), this.deps.frequencyMs));
    this.timers.push(
      setInterval(() => this.once('heartbeat', () => this.heartbeatTick()), this.deps.heartbeatIntervalMs),
    );
  }

  afterStart(): void {
    // A restarted node catches up at once, not one period later.
    this.once('sync', () => this.syncTick());
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  /** Runs a tick unless the previous one of its kind is still running (overlaps are skipped). */
  private once(kind: string, tick: () => Promise<void>): void {
    if (this.running.has(kind)) return;
    this.running.add(kind);
    tick()
      .catch((err: unknown) => this.deps.logger.warn({ kind, err: errorMessage(err) }, 'Sync tick failed'))
      .finally(() => this.running.delete(kind));
  }

  async syncTick(): Promise<void> {
    const tick = Math.floor(Date.now() / this.deps.frequencyMs);
    for (const ctx of await this.deps.states().listContexts()) {
      await requestSync(
        { js: this.deps.js(), metrics: this.deps.busMetrics, catalog: this.deps.catalog },
        { contextId: ctx.id, reason: bus.SyncReason.SYNC_REASON_INTERVAL },
        String(tick),
      ).catch((err: unknown) =>
        this.deps.logger.debug(
          { context: toBase58(ctx.id), err: errorMessage(err) },
          'Interval sync request not queued',
        ),
      );
    }
  }

  async heartbeatTick(): Promise<void> {
    const claimMs = Math.max(1, this.deps.heartbeatIntervalMs - 1_000);
    for (const ctx of await this.deps.states().listContexts()) {
      if (!ctx.initialized || isZeroId(ctx.rootHash)) continue;
      const topic = contextTopic(ctx.id);
      const claimed = await this.deps
        .redis()
        .set(this.deps.catalog.redis.heartbeatSent(topic), '1', 'PX', claimMs, 'NX')
        .catch(() => 'OK');
      if (!claimed) {
        this.deps.metrics.heartbeats.inc({ outcome: 'skipped' });
        continue;
      }
      const data = wire.BroadcastMessage.encode({
        payload: {
          $case: 'hashHeartbeat',
          hashHeartbeat: { contextId: ctx.id, rootHash: ctx.rootHash, dagHeads: ctx.heads },
        },
      }).finish();
      await this.deps.network.publish(topic, data).then(
        () => this.deps.metrics.heartbeats.inc({ outcome: 'sent' }),
        (err: unknown) => {
          this.deps.metrics.heartbeats.inc({ outcome: 'failed' });
          this.deps.logger.debug({ context: topic, err: errorMessage(err) }, 'Heartbeat not published');
        },
      );
    }
    await this.groupHeartbeats(claimMs);
  }

  /** GroupStateHeartbeats: peers that lack some of our heads fetch the ops from us. */
  private async groupHeartbeats(claimMs: number): Promise<void> {
    for (const groupId of await this.deps.groups().groupIds()) {
      if (!(await this.deps.identities().ownedInGroup(groupId))) continue;
      const topic = groupTopic(groupId);
      const claimed = await this.deps
        .redis()
        .set(this.deps.catalog.redis.heartbeatSent(topic), '1', 'PX', claimMs, 'NX')
        .catch(() => 'OK');
      if (!claimed) {
        this.deps.metrics.groupHeartbeats.inc({ outcome: 'skipped' });
        continue;
      }
      const dagHeads = (await this.deps.groups().heads(groupId)).slice(0, MAX_GROUP_OP_PARENTS);
      const data = wire.BroadcastMessage.encode({
        payload: { $case: 'groupStateHeartbeat', groupStateHeartbeat: { groupId, dagHeads } },
      }).finish();
      await this.deps.network.publish(topic, data).then(
        () => this.deps.metrics.groupHeartbeats.inc({ outcome: 'sent' }),
        (err: unknown) => {
          this.deps.metrics.groupHeartbeats.inc({ outcome: 'failed' });
          this.deps.logger.debug({ group: topic, err: errorMessage(err) }, 'Group heartbeat not published');
        },
      );
    }
  }
}
