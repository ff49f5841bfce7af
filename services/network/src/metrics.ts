import { Counter, Gauge, type Registry } from '@cnode/runtime';

/** Why a network event did not reach NET_EVENTS. */
export enum NetEventDropReason {
  /** The in-process outbox was full (NATS slower than libp2p). */
  OutboxFull = 'outbox_full',
  /** The NET_EVENTS stream was at its bound. */
  StreamFull = 'stream_full',
  PublishFailed = 'publish_failed',
}

export function createNetworkMetrics(registry: Registry) {
  return {
    eventsPublished: new Counter({
      name: 'network_events_published_total',
      help: 'Network events published on NET_EVENTS, by kind',
      labelNames: ['kind'],
      registers: [registry],
    }),
    eventsDropped: new Counter({
      name: 'network_events_dropped_total',
      help: 'Network events that did not reach NET_EVENTS, by kind and reason',
      labelNames: ['kind', 'reason'],
      registers: [registry],
    }),
    connectedPeers: new Gauge({
      name: 'network_connected_peers',
      help: 'Peers with at least one open connection',
      registers: [registry],
    }),
    commands: new Counter({
      name: 'network_commands_total',
      help: 'Network commands answered, by command and outcome',
      labelNames: ['command', 'outcome'],
      registers: [registry],
    }),
  };
}

export type NetworkMetrics = ReturnType<typeof createNetworkMetrics>;
