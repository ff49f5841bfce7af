import { createHash } from 'node:crypto';
import { errorMessage, type Logger, type Startable } from '@cnode/runtime';
import { providerCid } from '../commands/dht-keys.js';
import { DHT_MAX_PROVIDERS } from '../constants.js';
import type { Host } from '../host/libp2p-host.js';
import type { NetworkMetrics } from '../metrics.js';

/** What a discovery round did, for `network_context_discovery_total{outcome}`. */
export enum DiscoveryOutcome {
  /** Our provider record was announced to at least one peer. */
  Provided = 'provided',
  /** The announcement reached nobody (no DHT peer yet, or all failed). */
  ProvideUnreached = 'provide_unreached',
  /** A provider we were not connected to was dialled. */
  Dialed = 'dialed',
  DialFailed = 'dial_failed',
  /** The provider search failed or timed out before it ended (what it found is still used). */
  FindFailed = 'find_failed',
}

/** The first round after a subscribe waits this long; each next one twice as long, up to the interval. */
export const DISCOVERY_FIRST_DELAY_MS = 1_000;

interface Schedule {
  dueAt: number;
  delayMs: number;
}

/** The DHT key of a topic's provider records: SHA-256 of `cnode/topic/<topic>`. */
export function topicProviderKey(topic: string): Uint8Array {
  return createHash('sha256').update(`cnode/topic/${topic}`).digest();
}

/**
 * Finds the other peers of each context topic we subscribe to, so members connect to each other
 * and not only to whoever invited them. Every subscribed context topic is announced as a DHT
 * provider key, and its providers are looked up and dialled: soon after the subscribe (1 s, 2 s,
 * 4 s, … — a member that joined just before us may not have announced yet), then every
 * `NETWORK_DISCOVERY_INTERVAL`. One round runs at a time, so the DHT sees at most one query of ours
 * from here; the set of topics is the subscription set (bounded where subscriptions are).
 */
export class ContextDiscovery implements Startable {
  readonly name = 'context-discovery';
  private readonly topics = new Map<string, Schedule>();
  private host: Host | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopping = false;

  constructor(
    private readonly opts: {
      intervalMs: number;
      /** Deadline of one DHT query or dial. */
      queryTimeoutMs: number;
      metrics: NetworkMetrics;
      logger: Logger;
    },
  ) {}

  attach(host: Host): void {
    this.host = host;
  }

  async start(): Promise<void> {
    this.stopping = false;
    this.timer = setInterval(() => this.tick(), Math.min(DISCOVERY_FIRST_DELAY_MS, this.opts.intervalMs));
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    this.host = undefined;
    await this.running;
  }

  /** Starts (or restarts) the search for a topic's peers. */
  track(topic: string): void {
    const delayMs = Math.min(DISCOVERY_FIRST_DELAY_MS, this.opts.intervalMs);
    this.topics.set(topic, { dueAt: Date.now(), delayMs });
  }

  untrack(topic: string): void {
    this.topics.delete(topic);
  }

  private tick(): void {
    if (this.running || this.stopping) return;
    this.running = this.runDue()
      .catch((err: unknown) => this.opts.logger.warn({ err: errorMessage(err) }, 'Context discovery round failed'))
      .finally(() => (this.running = undefined));
  }

  private async runDue(): Promise<void> {
    const now = Date.now();
    const due = [...this.topics].filter(([, s]) => s.dueAt <= now).map(([topic]) => topic);
    for (const topic of due) {
      if (this.stopping || !this.host) return;
      await this.discover(this.host, topic);
      const schedule = this.topics.get(topic);
      if (!schedule) continue;
      schedule.dueAt = Date.now() + schedule.delayMs;
      schedule.delayMs = Math.min(schedule.delayMs * 2, this.opts.intervalMs);
    }
  }

  private async discover(host: Host, topic: string): Promise<void> {
    const cid = providerCid(topicProviderKey(topic));
    const count = (outcome: DiscoveryOutcome): void => this.opts.metrics.contextDiscovery.inc({ outcome });
    let reached = 0;
    try {
      for await (const event of host.services.dht.provide(cid, {
        signal: AbortSignal.timeout(this.opts.queryTimeoutMs),
      })) {
        if (event.name === 'PEER_RESPONSE' && event.messageName === 'ADD_PROVIDER') reached++;
      }
    } catch {
      // Nobody to announce to yet, or the deadline: the next round tries again.
    }
    count(reached > 0 ? DiscoveryOutcome.Provided : DiscoveryOutcome.ProvideUnreached);

    const self = host.peerId.toString();
    const connected = new Set(host.getPeers().map(String));
    const found = new Map<string, Parameters<Host['dial']>[0]>();
    try {
      for await (const event of host.services.dht.findProviders(cid, {
        signal: AbortSignal.timeout(this.opts.queryTimeoutMs),
      })) {
        if (event.name !== 'PROVIDER') continue;
        for (const provider of event.providers) {
          const peer = provider.id.toString();
          if (peer === self || connected.has(peer) || provider.multiaddrs.length === 0) continue;
          found.set(peer, provider.multiaddrs);
        }
        if (found.size >= DHT_MAX_PROVIDERS) break;
      }
    } catch {
      count(DiscoveryOutcome.FindFailed);
    }
    await Promise.all(
      [...found].map(async ([peer, addrs]) => {
        try {
          await host.dial(addrs, { signal: AbortSignal.timeout(this.opts.queryTimeoutMs) });
          count(DiscoveryOutcome.Dialed);
          this.opts.logger.debug({ topic, peer }, 'Dialled a peer of a context topic');
        } catch (err) {
          count(DiscoveryOutcome.DialFailed);
          this.opts.logger.debug({ topic, peer, err: errorMessage(err) }, 'Could not dial a peer of a context topic');
        }
      }),
    );
  }
}
