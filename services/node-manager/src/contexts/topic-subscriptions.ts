import type { NetworkClient } from '@cnode/bus';
import { contextTopic, groupTopic } from '@cnode/context-core';
import { errorMessage, type Logger, type Startable } from '@cnode/runtime';
import type { StateStore } from '@cnode/store';

/** Most topics waiting for a retry; one per context and group hosted, so this bounds nothing real. */
const MAX_RETRY_TOPICS = 100_000;

/**
 * The Subscription lifecycle of context and group topics: subscribe on create/join, unsubscribe on
 * leave, and re-subscribe every hosted context on start. The network service persists its topic set,
 * so this is belt and braces; a topic whose (un)subscribe failed (network service down) is retried on
 * a timer until it succeeds.
 */
export class TopicSubscriptions implements Startable {
  readonly name = 'topic-subscriptions';
  private readonly retry = new Map<string, boolean>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: { network: NetworkClient; states: () => StateStore; logger: Logger; retryMs: number },
  ) {}

  async start(): Promise<void> {
    for (const ctx of await this.deps.states().listContexts()) {
      this.want(contextTopic(ctx.id), true);
      if (ctx.groupId) this.want(groupTopic(ctx.groupId), true);
    }
    this.timer = setInterval(() => void this.flush(), this.deps.retryMs);
    await this.flush();
  }

  /** Subscribes to a context's topics; resolves once tried (failures are retried in the background). */
  async join(contextId: Buffer, groupId: Buffer): Promise<void> {
    this.want(contextTopic(contextId), true);
    this.want(groupTopic(groupId), true);
    await this.flush();
  }

  async leave(contextId: Buffer): Promise<void> {
    this.want(contextTopic(contextId), false);
    await this.flush();
  }

  /** Subscribes to a topic of its own (the specialized-node invite topic of a read-only node). */
  async joinTopic(topic: string): Promise<void> {
    this.want(topic, true);
    await this.flush();
  }

  /** Subscribes to a group's topic only (a group without contexts here). */
  async joinGroup(groupId: Buffer): Promise<void> {
    this.want(groupTopic(groupId), true);
    await this.flush();
  }

  /** Leaves a group's topic (none of our identities is a member any more). */
  async leaveGroup(groupId: Buffer): Promise<void> {
    this.want(groupTopic(groupId), false);
    await this.flush();
  }

  private want(topic: string, subscribed: boolean): void {
    if (this.retry.size >= MAX_RETRY_TOPICS && !this.retry.has(topic)) return;
    this.retry.set(topic, subscribed);
  }

  private flushing: Promise<void> | undefined;

  private flush(): Promise<void> {
    this.flushing ??= this.flushOnce().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    for (const [topic, subscribed] of [...this.retry]) {
      try {
        if (subscribed) await this.deps.network.subscribe(topic);
        else await this.deps.network.unsubscribe(topic);
        if (this.retry.get(topic) === subscribed) this.retry.delete(topic);
      } catch (err) {
        this.deps.logger.warn(
          { topic, subscribed, err: errorMessage(err) },
          'Topic (un)subscription failed; retrying later',
        );
        return;
      }
    }
  }

  /** Topics still waiting for the network service. */
  get pending(): number {
    return this.retry.size;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flushing;
  }
}
