import { Counter, Gauge, type Registry } from '@cnode/runtime';

/** Why a network event did not reach NET_EVENTS. */
/** What became of a gossiped state delta on its way to STATE_DELTA. Metric label values. */
export enum StateDeltaForwardOutcome {
  Published = 'published',
  /** The in-process queue was full (NATS slower than gossip). */
  QueueFull = 'queue_full',
  /** The STATE_DELTA mailbox was at its bound. */
  MailboxFull = 'mailbox_full',
  PublishFailed = 'publish_failed',
  /** Its context or delta id is not 32 bytes. */
  Malformed = 'malformed',
}

export enum NetEventDropReason {
  /** The in-process outbox was full (NATS slower than libp2p). */
  OutboxFull = 'outbox_full',
  /** The NET_EVENTS stream was at its bound. */
  StreamFull = 'stream_full',
  /** The event is larger than the NATS server's max_payload allows. */
  TooLargeForBus = 'too_large_for_bus',
  PublishFailed = 'publish_failed',
}

/** Why a gossip message was refused (inbound by the validator, outbound by the publish command). */
export enum GossipRejectReason {
  Oversize = 'oversize',
  BadTopic = 'bad_topic',
  /** Bytes that are no BroadcastMessage. */
  Malformed = 'malformed',
  /** A BroadcastMessage of no variant we know. */
  UnknownVariant = 'unknown_variant',
  /** Past the sending peer's rate (NETWORK_GOSSIP_PEER_RATE): ignored, not forwarded. */
  PeerRate = 'peer_rate',
  /** From a peer banned for invalid gossip (what was in flight when the ban began). */
  Banned = 'banned',
}

/** Why a stream was refused before it was relayed. */
export enum StreamRefusalReason {
  TooManyStreams = 'too_many_streams',
  ProtocolNotAllowed = 'protocol_not_allowed',
  BadStreamId = 'bad_stream_id',
  DialFailed = 'dial_failed',
}

/** Gauges filled at scrape time by the component that owns the numbers. */
export interface ScrapeHooks {
  gossip?: () => void;
  /** Outbound gossipsub streams re-opened so far (see scripts/patch-dependencies.mjs). */
  gossipRepairs?: () => number;
  relay?: () => void;
}

export function createNetworkMetrics(registry: Registry) {
  const hooks: ScrapeHooks = {};
  return {
    hooks,
    eventsPublished: new Counter({
      name: 'network_events_published_total',
      help: 'Network events published on NET_EVENTS, by kind',
      labelNames: ['kind'],
      registers: [registry],
    }),
    stateDeltasForwarded: new Counter({
      name: 'network_state_deltas_forwarded_total',
      help: 'Gossiped state deltas sent straight to STATE_DELTA, by outcome (published, queue_full, mailbox_full, publish_failed, malformed)',
      labelNames: ['outcome'],
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
    peerBookPeers: new Gauge({
      name: 'network_peer_book_peers',
      help: 'Peers remembered in the peer book (dialed again after a restart)',
      registers: [registry],
    }),
    peerBookDropped: new Counter({
      name: 'network_peer_book_dropped_total',
      help: 'Identified peers not written to the peer book, by reason (no_dialable_address, pending_full, write_failed)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    contextDiscovery: new Counter({
      name: 'network_context_discovery_total',
      help: 'Context peer discovery steps, by outcome (provided, provide_unreached, dialed, dial_failed, find_failed)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    commands: new Counter({
      name: 'network_commands_total',
      help: 'Network commands answered, by command and outcome',
      labelNames: ['command', 'outcome'],
      registers: [registry],
    }),
    gossipMessages: new Counter({
      name: 'network_gossip_messages_total',
      help: 'Gossip messages delivered to us (in) or published by us (out), by topic kind',
      labelNames: ['direction', 'topic_kind'],
      registers: [registry],
    }),
    gossipBytes: new Counter({
      name: 'network_gossip_bytes_total',
      help: 'Gossip payload bytes, by direction and topic kind',
      labelNames: ['direction', 'topic_kind'],
      registers: [registry],
    }),
    injectedFaults: new Counter({
      name: 'network_injected_faults_total',
      help: 'Test-only faults injected (NETWORK_FAULT_INJECTION), by kind (gossip_lost, gossip_duplicated, gossip_delayed, gossip_delay_skipped_full: 10 000 held already, peer_blocked); always 0 in production',
      labelNames: ['kind'],
      registers: [registry],
    }),
    peersBanned: new Counter({
      name: 'network_peers_banned_total',
      help: 'Peers banned (disconnected, refused for NETWORK_PEER_BAN) after NETWORK_PEER_STRIKES invalid gossip messages within a minute, by the reason of the last one (reported_<reason> when another service reported it)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    peerReports: new Counter({
      name: 'network_peer_reports_total',
      help: 'Strikes other services reported against peers whose gossip they refused, by reason (not_member, bad_signature, id_mismatch, malformed, other)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    gossipRejected: new Counter({
      name: 'network_gossip_rejected_total',
      help: 'Gossip messages refused, by direction and reason',
      labelNames: ['direction', 'reason'],
      registers: [registry],
    }),
    meshPeers: new Gauge({
      name: 'network_gossip_mesh_peers',
      help: 'Gossipsub mesh peers summed over subscribed topics, by topic kind',
      labelNames: ['topic_kind'],
      registers: [registry],
      collect: () => hooks.gossip?.(),
    }),
    gossipOutboundRepairs: new Counter({
      name: 'network_gossip_outbound_repairs_total',
      help: 'Outbound gossipsub streams re-opened to a connected peer that had none for 3 s (else our subscriptions and messages would never reach it)',
      registers: [registry],
      collect() {
        const repairs = hooks.gossipRepairs?.() ?? 0;
        this.reset();
        if (repairs > 0) this.inc(repairs);
      },
    }),
    subscribedTopics: new Gauge({
      name: 'network_gossip_subscribed_topics',
      help: 'Topics this node subscribes to, by topic kind',
      labelNames: ['topic_kind'],
      registers: [registry],
    }),
    streamsRefused: new Counter({
      name: 'network_streams_refused_total',
      help: 'Streams refused before relaying, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    streamsOpened: new Counter({
      name: 'network_streams_opened_total',
      help: 'Relayed streams opened, by direction and protocol kind',
      labelNames: ['direction', 'protocol_kind'],
      registers: [registry],
    }),
    streamsClosed: new Counter({
      name: 'network_streams_closed_total',
      help: 'Relayed streams ended, by reason (completed or a reset reason)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    streamsActive: new Gauge({
      name: 'network_streams_relayed_active',
      help: 'Streams being relayed right now',
      registers: [registry],
    }),
    relayBytes: new Counter({
      name: 'network_stream_relay_bytes_total',
      help: 'Payload bytes relayed, by direction (inbound: peer to owner; outbound: owner to peer)',
      labelNames: ['direction'],
      registers: [registry],
    }),
    relayBuffered: new Gauge({
      name: 'network_stream_relay_buffered_bytes',
      help: 'Bytes held by the relay for all streams right now (read from peers, not yet forwarded)',
      registers: [registry],
      collect: () => hooks.relay?.(),
    }),
    relayBufferedMax: new Gauge({
      name: 'network_stream_relay_buffered_bytes_max',
      help: 'Most bytes the relay ever held for one stream since start: the per-stream memory bound in practice',
      registers: [registry],
      collect: () => hooks.relay?.(),
    }),
  };
}

export type NetworkMetrics = ReturnType<typeof createNetworkMetrics>;
