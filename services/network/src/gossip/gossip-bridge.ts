import type { GossipsubMessage, SubscriptionChangeData, TopicValidatorResult } from '@libp2p/gossipsub';
import type { Message } from '@libp2p/gossipsub';
import type { PeerId } from '@libp2p/interface';
import { NetEventKind } from '@cnode/bus';
import type { Logger, Startable } from '@cnode/runtime';
import { BUS_ENVELOPE_MARGIN_BYTES, GOSSIP_MAX_MESSAGE_BYTES, TOPIC_PATTERN } from '../constants.js';
import { NetworkError, NetworkErrorCode } from '../errors.js';
import type { NetEventPublisher } from '../events/net-event-publisher.js';
import type { Host } from '../host/libp2p-host.js';
import { GossipRejectReason, NetEventDropReason, type NetworkMetrics } from '../metrics.js';
import { topicKind, TopicKind } from './topic-kind.js';
import type { TopicRepo } from './topic-repo.js';
import type { StateDeltaForwarder } from './state-delta-forwarder.js';
import type { GossipGuard } from './gossip-guard.js';
import type { FaultInjector } from '../faults/fault-injector.js';
import { wire } from '@cnode/proto';

/** gossipsub keeps this on the class but not on its exported interface. */
interface MeshView {
  getMeshPeers(topic: string): string[];
}

/**
 * Gossip between libp2p and the bus: validates what arrives (the guard: size, shape, sender's rate
 * and strikes; counted), sends state deltas
 * straight to STATE_DELTA and other accepted messages and peer subscription changes to NET_EVENTS, keeps the subscription set in Postgres so a
 * restart re-subscribes, and publishes for the publish command.
 */
export class GossipBridge implements Startable {
  readonly name = 'gossip';
  private host: Host | undefined;

  constructor(
    private readonly deps: {
      topics: () => TopicRepo;
      events: NetEventPublisher;
      metrics: NetworkMetrics;
      logger: Logger;
      /** The bus's per-message limit: gossip that cannot fit in a NetworkEvent is dropped and counted. */
      busMaxPayload: () => number;
      /** Where state deltas received on context topics go (STATE_DELTA, not NET_EVENTS). */
      stateDeltas: StateDeltaForwarder;
      /** Judges each received message (size, shape, the sender's rate and strikes). */
      guard: GossipGuard;
      /** Told of every context topic we subscribe to and leave (it looks for the topic's peers). */
      discovery: { track(topic: string): void; untrack(topic: string): void };
      /** Test-only faults on inbound gossip (NETWORK_FAULT_INJECTION). */
      faults?: FaultInjector;
    },
  ) {
    deps.metrics.hooks.gossip = () => this.collectMesh();
    // Kept by our gossipsub patch on the instance (not part of its API).
    deps.metrics.hooks.gossipRepairs = () =>
      (this.host?.services.pubsub as { outboundRepairs?: number } | undefined)?.outboundRepairs ?? 0;
  }

  /** Called by the host as soon as libp2p runs, before any peer can talk to us. */
  attach(host: Host): void {
    this.host = host;
    host.services.pubsub.addEventListener('gossipsub:message', this.onMessage);
    host.services.pubsub.addEventListener('subscription-change', this.onSubscriptionChange);
  }

  /** Re-subscribes every stored topic. */
  async start(): Promise<void> {
    const topics = await this.deps.topics().all();
    for (const topic of topics) this.subscribeLocally(topic);
    if (topics.length > 0) this.deps.logger.info({ topics: topics.length }, 'Re-subscribed stored topics');
    const busLimit = this.deps.busMaxPayload() - BUS_ENVELOPE_MARGIN_BYTES;
    if (busLimit < GOSSIP_MAX_MESSAGE_BYTES) {
      this.deps.logger.warn(
        { busMaxPayload: this.deps.busMaxPayload(), largestGossip: busLimit },
        'NATS max_payload is below what a 1 MiB gossip message needs: larger ones will be dropped and counted; set max_payload to 8MB',
      );
    }
  }

  async stop(): Promise<void> {
    const pubsub = this.host?.services.pubsub;
    pubsub?.removeEventListener('gossipsub:message', this.onMessage);
    pubsub?.removeEventListener('subscription-change', this.onSubscriptionChange);
    this.host = undefined;
  }

  private get pubsub(): Host['services']['pubsub'] {
    if (!this.host) throw new NetworkError(NetworkErrorCode.NotRunning, 'libp2p is not running');
    return this.host.services.pubsub;
  }

  checkTopic(topic: string): void {
    if (!TOPIC_PATTERN.test(topic)) {
      this.deps.metrics.gossipRejected.inc({ direction: 'out', reason: GossipRejectReason.BadTopic });
      throw new NetworkError(NetworkErrorCode.BadTopic, 'a topic is 1 to 256 printable ASCII characters');
    }
  }

  /** Subscribes and remembers it; returns false when already subscribed. */
  async subscribe(topic: string): Promise<boolean> {
    this.checkTopic(topic);
    const changed = await this.deps.topics().add(topic);
    this.subscribeLocally(topic);
    return changed;
  }

  async unsubscribe(topic: string): Promise<boolean> {
    this.checkTopic(topic);
    const changed = await this.deps.topics().remove(topic);
    this.pubsub.unsubscribe(topic);
    this.pubsub.topicValidators.delete(topic);
    this.deps.discovery.untrack(topic);
    return changed;
  }

  private subscribeLocally(topic: string): void {
    this.pubsub.topicValidators.set(topic, this.validate);
    this.pubsub.subscribe(topic);
    if (topicKind(topic) === TopicKind.Context) this.deps.discovery.track(topic);
  }

  /** Publishes to every subscriber (flood publish); zero recipients means nobody subscribes. */
  async publish(topic: string, data: Uint8Array): Promise<number> {
    this.checkTopic(topic);
    if (data.length > GOSSIP_MAX_MESSAGE_BYTES) {
      this.deps.metrics.gossipRejected.inc({ direction: 'out', reason: GossipRejectReason.Oversize });
      throw new NetworkError(
        NetworkErrorCode.MessageTooLarge,
        `gossip message of ${data.length} bytes exceeds ${GOSSIP_MAX_MESSAGE_BYTES}`,
      );
    }
    // gossipsub signs and encodes asynchronously: hand it a buffer nobody else will touch.
    const result = await this.pubsub.publish(topic, Uint8Array.from(data));
    const kind = topicKind(topic);
    this.deps.metrics.gossipMessages.inc({ direction: 'out', topic_kind: kind });
    this.deps.metrics.gossipBytes.inc({ direction: 'out', topic_kind: kind }, data.length);
    return result.recipients.length;
  }

  meshPeers(topic: string): string[] {
    return (this.pubsub as unknown as MeshView).getMeshPeers(topic);
  }

  subscribers(topic: string): string[] {
    return this.pubsub.getSubscribers(topic).map(String);
  }

  private readonly validate = (peer: PeerId, message: Message): TopicValidatorResult =>
    this.deps.guard.check(peer.toString(), message.topic, message.data);

  private readonly onMessage = (evt: CustomEvent<GossipsubMessage>): void => {
    const faults = this.deps.faults;
    if (faults) faults.gossip(() => this.handleMessage(evt.detail));
    else this.handleMessage(evt.detail);
  };

  private handleMessage(detail: GossipsubMessage): void {
    const { msg, msgId, propagationSource } = detail;
    const kind = topicKind(msg.topic);
    this.deps.metrics.gossipMessages.inc({ direction: 'in', topic_kind: kind });
    this.deps.metrics.gossipBytes.inc({ direction: 'in', topic_kind: kind }, msg.data.length);
    if (msg.data.length + BUS_ENVELOPE_MARGIN_BYTES > this.deps.busMaxPayload()) {
      this.deps.metrics.eventsDropped.inc({ kind: NetEventKind.Gossip, reason: NetEventDropReason.TooLargeForBus });
      return;
    }
    const source = msg.type === 'signed' ? msg.from.toString() : propagationSource.toString();
    if (kind === TopicKind.Context && this.forwardStateDelta(msg.data, source, msgId)) return;
    this.deps.events.emit(
      NetEventKind.Gossip,
      {
        event: {
          $case: 'gossipMessage',
          gossipMessage: { topic: msg.topic, sourcePeer: source, messageId: msgId, data: Buffer.from(msg.data) },
        },
      },
      // The gossip message id doubles as Nats-Msg-Id: a message is stored on NET_EVENTS once.
      `gossip:${msgId}`,
    );
  }

  /**
   * A state delta on a context topic goes straight to STATE_DELTA, and so does a batch, as one
   * message (each delta is checked alone downstream: the batch carries no authority). False for
   * anything else (other variants, and bytes that do not decode, which node-manager refuses and
   * counts as usual).
   */
  private forwardStateDelta(data: Uint8Array, source: string, msgId: string): boolean {
    let broadcast: wire.BroadcastMessage;
    try {
      broadcast = wire.BroadcastMessage.decode(data);
    } catch {
      return false;
    }
    const payload = broadcast.payload;
    if (payload?.$case === 'stateDelta') {
      this.deps.stateDeltas.forward([payload.stateDelta], source, msgId);
      return true;
    }
    if (payload?.$case === 'stateDeltaBatch') {
      this.deps.stateDeltas.forward(payload.stateDeltaBatch.deltas, source, msgId);
      return true;
    }
    return false;
  }

  private readonly onSubscriptionChange = (evt: CustomEvent<SubscriptionChangeData>): void => {
    const peer = evt.detail.peerId.toString();
    for (const { topic, subscribe } of evt.detail.subscriptions) {
      if (!TOPIC_PATTERN.test(topic)) continue;
      if (subscribe) {
        this.deps.events.emit(NetEventKind.PeerSubscribed, {
          event: { $case: 'peerSubscribed', peerSubscribed: { peer, topic } },
        });
      } else {
        this.deps.events.emit(NetEventKind.PeerUnsubscribed, {
          event: { $case: 'peerUnsubscribed', peerUnsubscribed: { peer, topic } },
        });
      }
    }
  };

  private collectMesh(): void {
    const totals = new Map<TopicKind, { mesh: number; topics: number }>(
      Object.values(TopicKind).map((k) => [k, { mesh: 0, topics: 0 }]),
    );
    if (this.host) {
      for (const topic of this.pubsub.getTopics()) {
        const entry = totals.get(topicKind(topic))!;
        entry.mesh += this.meshPeers(topic).length;
        entry.topics += 1;
      }
    }
    for (const [kind, { mesh, topics }] of totals) {
      this.deps.metrics.meshPeers.set({ topic_kind: kind }, mesh);
      this.deps.metrics.subscribedTopics.set({ topic_kind: kind }, topics);
    }
  }
}
