/**
 * The one catalog of everything a node creates on shared infrastructure: NATS subjects, JetStream
 * streams and consumers, Redis keys and the Postgres schema. Everything is namespaced by node name so
 * several nodes can share one NATS, Postgres and Redis. No other module spells a subject or key.
 */

/** How a JetStream stream keeps messages. */
export enum StreamRetention {
  /** A mailbox: a message is removed once acked by its (single) consumer. */
  WorkQueue = 'workqueue',
  /** A log: messages stay until a limit (count, bytes, age) pushes them out. */
  Limits = 'limits',
}

export interface StreamSpec {
  /** Stream name, e.g. CNODE_NODE1_STATE_DELTA. */
  name: string;
  /** Catalog key used as a metric label. */
  label: string;
  subjects: string[];
  retention: StreamRetention;
  maxMsgs: number;
  maxBytes: number;
  maxAgeMs: number;
  /** Refuse new messages when full (mailboxes) or drop the oldest (event logs). */
  discard: 'new' | 'old';
  /** Window in which a repeated Nats-Msg-Id is ignored. */
  duplicateWindowMs: number;
}

export interface ConsumerSpec {
  stream: string;
  /** Durable name, also the metric label. */
  durable: string;
  filterSubject?: string;
  /** Server-side cap of delivered-but-unacked messages. */
  maxAckPending: number;
  /** Deliveries before the server gives up on a message. */
  maxDeliver: number;
  /** How long the server waits for an ack before redelivering. */
  ackWaitMs: number;
}

/** Sizes that come from configuration; defaults mirror the upstream mailbox capacities. */
export interface CatalogLimits {
  /** NETWORK_EVENT_CHANNEL_SIZE upstream. */
  netEventsMax: number;
  netEventsInFlight: number;
  /** STATE_DELTA_CHANNEL_CAPACITY upstream; overflow is dropped and heartbeats repair it. */
  stateDeltaMax: number;
  /** STATE_DELTA_MAX_IN_FLIGHT upstream. */
  stateDeltaInFlight: number;
  /** SYNC_SESSION_CHANNEL_CAPACITY upstream. */
  syncStreamsMax: number;
  /** Global cap of concurrent sync sessions (SyncConfig.max_concurrent). */
  syncMaxConcurrent: number;
  /** Repeated sync requests for one context inside this window collapse into one. */
  syncRequestDedupWindowMs: number;
  /** Disk each mailbox stream may use (JetStream reserves it when the stream is created). */
  mailboxMaxBytes: number;
}

export const DEFAULT_CATALOG_LIMITS: Readonly<CatalogLimits> = {
  netEventsMax: 1000,
  netEventsInFlight: 64,
  stateDeltaMax: 2048,
  stateDeltaInFlight: 256,
  syncStreamsMax: 256,
  syncMaxConcurrent: 30,
  syncRequestDedupWindowMs: 5_000,
  mailboxMaxBytes: 1024 * 1024 * 1024,
};

/** Protocol ids of the relayed stream protocols; the version suffix keeps us off Rust nodes. */
export const SYNC_PROTOCOL = '/calimero/stream/pb/1';
export const BLOB_PROTOCOL = '/calimero/blob/pb/1';
/** Specialized-node invites: a read-only node's attestation in, an invitation out (one frame each). */
export const SPECIALIZED_INVITE_PROTOCOL = '/calimero/specialized-node-invite/1.0.0';

/** Network commands answered by the network service over NATS request/reply (upstream's NetworkClient). */
export enum NetworkCommand {
  Info = 'info',
  Subscribe = 'subscribe',
  Unsubscribe = 'unsubscribe',
  Publish = 'publish',
  OpenStream = 'open-stream',
  Dial = 'dial',
  ListPeers = 'list-peers',
  TopicPeers = 'topic-peers',
  DhtProvide = 'dht-provide',
  DhtFindProviders = 'dht-find-providers',
  DhtPutRecord = 'dht-put-record',
  DhtGetRecord = 'dht-get-record',
  ReportPeer = 'report-peer',
  /** Test-only: served only when NETWORK_FAULT_INJECTION is on. */
  InjectFaults = 'inject-faults',
}

/** The gc service's tasks: what `gc.cmd.run` names, metric labels, gc_runs.task values. */
export enum GcTask {
  Tombstones = 'tombstones',
  Pending = 'pending',
  Compaction = 'compaction',
}

export const GC_TASKS: readonly GcTask[] = Object.values(GcTask);

/** Kinds of NET_EVENTS, the last subject token. */
export enum NetEventKind {
  Gossip = 'gossip',
  PeerSubscribed = 'peer-subscribed',
  PeerUnsubscribed = 'peer-unsubscribed',
  StreamOpened = 'stream-opened',
  PeerConnected = 'peer-connected',
  PeerDisconnected = 'peer-disconnected',
}

const MIB = 1024 * 1024;
const MAILBOX_MAX_AGE_MS = 24 * 3_600_000;
const ACK_WAIT_MS = 30_000;
const MAX_DELIVER = 10;

export type Catalog = ReturnType<typeof createCatalog>;

export function createCatalog(node: string, limits: Partial<CatalogLimits> = {}) {
  const l = { ...DEFAULT_CATALOG_LIMITS, ...limits };
  const root = `cnode.${node}`;
  const streamPrefix = `CNODE_${node.toUpperCase().replace(/-/g, '_')}`;

  const subjects = {
    netEvents: `${root}.net.events.>`,
    netEvent: (kind: NetEventKind) => `${root}.net.events.${kind}`,
    netCommand: (command: NetworkCommand) => `${root}.net.cmd.${command}`,
    /** Relay of one libp2p stream, network service → owner (data from the peer, credit for the owner). */
    streamToOwner: (streamId: string) => `${root}.net.stream.${streamId}.to-owner`,
    /** Relay of one libp2p stream, owner → network service (data for the peer, credit, attach). */
    streamToNetwork: (streamId: string) => `${root}.net.stream.${streamId}.to-network`,
    stateDelta: `${root}.state-delta.>`,
    /** One subject per context keeps per-context order inspectable. */
    stateDeltaFor: (contextB58: string) => `${root}.state-delta.${contextB58}`,
    syncRequests: `${root}.sync.requests.>`,
    syncRequestFor: (contextB58: string) => `${root}.sync.requests.${contextB58}`,
    syncStreams: `${root}.sync.streams.>`,
    syncStreamFor: (protocol: string) => `${root}.sync.streams.${protocol}`,
    governanceDrain: `${root}.governance.drain.>`,
    /** One subject per group: drain requests of one group stay in order. */
    governanceDrainFor: (groupHex: string) => `${root}.governance.drain.${groupHex}`,
    nodeEvents: `${root}.node.events.>`,
    nodeEventFor: (contextB58: string) => `${root}.node.events.${contextB58}`,
    /** Admin → gc: run GC tasks now (core request/reply; only the leading replica answers). */
    gcRun: `${root}.gc.cmd.run`,
  };

  const mailbox = (label: string, subject: string, maxMsgs: number, duplicateWindowMs = 120_000): StreamSpec => ({
    name: `${streamPrefix}_${label}`,
    label,
    subjects: [subject],
    retention: StreamRetention.WorkQueue,
    maxMsgs,
    // The broker's per-message cap and maxMsgs are the real bounds; this keeps disk use finite.
    maxBytes: l.mailboxMaxBytes,
    maxAgeMs: MAILBOX_MAX_AGE_MS,
    discard: 'new',
    duplicateWindowMs,
  });

  const streams = {
    netEvents: mailbox('NET_EVENTS', subjects.netEvents, l.netEventsMax),
    stateDelta: mailbox('STATE_DELTA', subjects.stateDelta, l.stateDeltaMax),
    syncRequests: mailbox('SYNC_REQUESTS', subjects.syncRequests, 4096, l.syncRequestDedupWindowMs),
    syncStreams: mailbox('SYNC_STREAMS', subjects.syncStreams, l.syncStreamsMax),
    /** Drain requests are idempotent hints (every delta receipt and interval sync drains too): a small mailbox. */
    governance: mailbox('GOVERNANCE', subjects.governanceDrain, 1024, 1_000),
    nodeEvents: {
      name: `${streamPrefix}_NODE_EVENTS`,
      label: 'NODE_EVENTS',
      subjects: [subjects.nodeEvents],
      retention: StreamRetention.Limits,
      maxMsgs: 100_000,
      maxBytes: Math.min(256 * MIB, l.mailboxMaxBytes),
      maxAgeMs: 3_600_000,
      discard: 'old',
      duplicateWindowMs: 120_000,
    } satisfies StreamSpec,
  };

  const consumer = (stream: StreamSpec, durable: string, maxAckPending: number): ConsumerSpec => ({
    stream: stream.name,
    durable,
    maxAckPending,
    maxDeliver: MAX_DELIVER,
    ackWaitMs: ACK_WAIT_MS,
  });

  const consumers = {
    netEvents: consumer(streams.netEvents, 'node-manager', l.netEventsInFlight),
    stateDelta: consumer(streams.stateDelta, 'state-delta', l.stateDeltaInFlight),
    syncRequests: consumer(streams.syncRequests, 'sync-requests', l.syncMaxConcurrent),
    syncStreams: consumer(streams.syncStreams, 'sync-streams', l.syncMaxConcurrent),
    governance: consumer(streams.governance, 'state-delta-governance', 16),
  };

  const redisPrefix = `cnode:${node}:`;
  const redis = {
    /** ioredis keyPrefix: every key below is relative to it. */
    prefix: redisPrefix,
    /** One key per service instance, refreshed on a timer, expiring when the instance dies. */
    serviceStatus: (service: string, instanceId: string) => `svc:${service}:${instanceId}`,
    /** Held by the one sync replica running an initiator session for the context (PX = deadline). */
    syncLock: (contextB58: string) => `sync:lock:${contextB58}`,
    /** Sorted set of running initiator sessions (member token, score expiry): the global cap. */
    syncPermits: 'sync:permits',
    /** Hash of the context's sync bookkeeping and status (last sync, failures, backoff, state). */
    syncState: (contextB58: string) => `sync:state:${contextB58}`,
    /** Present while "peer has heads we lack" syncs of the context are debounced. */
    syncBehindDebounce: (contextB58: string) => `sync:behind:${contextB58}`,
    /** Root-divergence streak of one peer for one context: `ours:theirs:count` (TTL). */
    syncDivergence: (contextB58: string, peer: string) => `sync:divergence:${contextB58}:${peer}`,
    /** Hash of what each peer last told about the context (`<peer>|state`, `<peer>|session`, `<peer>|failure`). */
    convergencePeers: (contextB58: string) => `sync:convergence:peers:${contextB58}`,
    /** Hash of the context's convergence history (converged at, diverged since, episodes). */
    convergenceBook: (contextB58: string) => `sync:convergence:book:${contextB58}`,
    /** Held by the sync replica running this period's convergence probe round (PX = the period). */
    convergenceRound: 'sync:convergence:round',
    /** Present while the periodic HashHeartbeat of the context was sent by some replica. */
    heartbeatSent: (contextB58: string) => `sync:heartbeat:${contextB58}`,
    /** Sorted set of peers seen proving membership of the group (score: last seen ms). */
    memberPeers: (groupHex: string) => `sync:member-peers:${groupHex}`,
    /** One governance-pending drain per context at a time, across state-delta replicas. */
    governanceDrainLock: (contextB58: string) => `governance:drain-lock:${contextB58}`,
    /** One lane per context at a time across state-delta replicas (held while a batch runs). */
    stateDeltaLane: (contextB58: string) => `state-delta:lane:${contextB58}`,
    /** The live state-delta replicas (sorted set: instance id → last refresh); lanes lock only when several are. */
    stateDeltaReplicas: 'state-delta:replicas',
    /** One parent fetch per context at a time, across state-delta replicas. */
    parentFetchLock: (contextB58: string) => `parent-fetch:lock:${contextB58}`,
    /** Consecutive failed parent fetches from one peer for one context (TTL). */
    parentFetchFailures: (contextB58: string, peer: string) => `parent-fetch:failures:${contextB58}:${peer}`,
    /** Present while fetches from this peer for this context back off (PX = the backoff). */
    parentFetchBackoff: (contextB58: string, peer: string) => `parent-fetch:backoff:${contextB58}:${peer}`,
    /** Hot blob cache (node-manager replicas share it): bytes of one blob (PX backstop TTL). */
    blobCacheData: (blobHex: string) => `blob-cache:data:${blobHex}`,
    /** Sorted set of cached blobs, score = last access (ms): the LRU order. */
    blobCacheIndex: 'blob-cache:index',
    /** Hash of cached blob → size in bytes: the byte total without reading the bytes. */
    blobCacheSizes: 'blob-cache:sizes',
    /** Held by the one process of the node moving node events from the outbox to NODE_EVENTS. */
    eventOutboxLock: 'node-events:outbox-lock',
    /** The lease of the one gc replica that runs GC tasks (value: its instance id, PX = GC_LEADER_TTL). */
    gcLeader: 'gc:leader',
    /** Hash of one pending specialized-node invite (context, state, member, times; PX = its expiry). */
    specializedInvite: (nonceHex: string) => `specialized:invite:${nonceHex}`,
    /** Sorted set of pending specialized-node invites (nonce hex, score = expiry ms): the bound. */
    specializedInvites: 'specialized:invites',
    /** Present once a TEE quote admitted a member (value: the member): a quote admits once. */
    teeQuoteUsed: (quoteHashHex: string) => `specialized:quote:${quoteHashHex}`,
    /** SCAN patterns are not prefixed by ioredis: this one is absolute. */
    serviceStatusScanPattern: `${redisPrefix}svc:*`,
  };

  const postgres = { schema: `cnode_${node.replace(/-/g, '_')}` };

  return { node, subjects, streams, consumers, redis, postgres };
}
