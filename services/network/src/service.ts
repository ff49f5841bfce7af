import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { NetEventKind } from '@cnode/bus';
import { errorMessage, startable, type ServiceContext, type ServiceHandle } from '@cnode/runtime';
import { ServiceBuilder } from '@cnode/service-kit';
import { SERVICE_NAME } from './constants.js';
import type { NetworkConfig } from './config.js';
import { CommandServer } from './commands/command-server.js';
import { NetEventPublisher } from './events/net-event-publisher.js';
import { FaultInjector } from './faults/fault-injector.js';
import { GossipBridge } from './gossip/gossip-bridge.js';
import { GossipGuard } from './gossip/gossip-guard.js';
import { StateDeltaForwarder } from './gossip/state-delta-forwarder.js';
import { TopicRepo } from './gossip/topic-repo.js';
import { Libp2pHost } from './host/libp2p-host.js';
import { IdentityRepo } from './identity/identity-repo.js';
import { loadOrCreateIdentity } from './identity/load-identity.js';
import { createNetworkMetrics, type NetworkMetrics } from './metrics.js';
import { PeerBook } from './peers/peer-book.js';
import { PeerBookRepo } from './peers/peer-book-repo.js';
import { ContextDiscovery } from './peers/context-discovery.js';
import { Redialer } from './peers/redialer.js';
import { StreamRelays } from './streams/stream-relays.js';

export interface NetworkService extends ServiceHandle {
  host: Libp2pHost;
  events: NetEventPublisher;
  gossip: GossipBridge;
  streams: StreamRelays;
  metrics: NetworkMetrics;
}

/**
 * Composition root of the network service: infra → identity → event outbox → stream relays and
 * gossip bridge (ready before libp2p so no early event is missed) → libp2p → stored subscriptions →
 * peer book and redialer (bootstrap and known peers) → commands. Stop runs in reverse: commands go first, the outbox drains last.
 */
export function createNetworkService(config: NetworkConfig, ctx: ServiceContext): NetworkService {
  const builder = new ServiceBuilder(SERVICE_NAME, config, ctx);
  const { lifecycle, infra } = builder;
  const metrics = createNetworkMetrics(ctx.registry);
  const log = (module: string): ServiceContext['logger'] => ctx.logger.child({ module: `network.${module}` });

  let privateKey: PrivateKey | undefined;
  lifecycle.add(
    startable('identity', async () => {
      privateKey = await loadOrCreateIdentity(new IdentityRepo(infra.postgres.sql), config.node.masterKeyHex);
    }),
  );

  const events = lifecycle.add(new NetEventPublisher({ ...infra, metrics, logger: log('events') }));
  const streams = new StreamRelays(
    {
      maxStreams: config.network.maxRelayedStreams,
      windowBytes: config.network.streamWindowBytes,
      idleTimeoutMs: config.network.streamIdleTimeoutMs,
      attachTimeoutMs: config.network.streamAttachTimeoutMs,
      openTimeoutMs: config.sync.openStreamTimeoutMs,
    },
    { ...infra, events, metrics, logger: log('streams') },
  );
  const stateDeltas = lifecycle.add(new StateDeltaForwarder({ ...infra, metrics, logger: log('state-deltas') }));
  const discovery = new ContextDiscovery({
    intervalMs: config.network.discoveryIntervalMs,
    queryTimeoutMs: config.network.commandTimeoutMs,
    metrics,
    logger: log('discovery'),
  });
  // Declared before the host exists: a ban hangs up through it once it runs.
  let hostRef: Libp2pHost | undefined;
  /** Closes every connection to a peer (a banned one, or a blocked one under fault injection). */
  const hangUp = async (peer: string): Promise<void> => {
    if (!hostRef?.isRunning) return;
    await hostRef.libp2p
      .hangUp(peerIdFromString(peer))
      .catch((err: unknown) => log('peers').debug({ peer, err: errorMessage(err) }, 'Hang-up failed'));
  };
  const guard = new GossipGuard(
    {
      peerRate: config.network.gossipPeerRate,
      strikes: config.network.peerStrikes,
      banMs: config.network.peerBanMs,
    },
    {
      metrics,
      registry: ctx.registry,
      logger: log('gossip-guard'),
      hangUp: (peer) => void hangUp(peer),
    },
  );
  const faults = config.network.faultInjection
    ? new FaultInjector({
        metrics,
        logger: log('faults'),
        hangUp,
        connectedPeers: () => (hostRef?.isRunning ? hostRef.libp2p.getPeers().map(String) : []),
      })
    : undefined;
  const gossip = new GossipBridge({
    guard,
    discovery,
    faults,
    topics: () => new TopicRepo(infra.postgres.sql),
    events,
    metrics,
    logger: log('gossip'),
    busMaxPayload: () => infra.nats.maxPayload,
    stateDeltas,
  });
  let peerBookRepo: PeerBookRepo | undefined;
  const book = (): PeerBookRepo => (peerBookRepo ??= new PeerBookRepo(infra.postgres.sql, config.network.peerBookMax));
  const peerBook = new PeerBook(book, { metrics, logger: log('peers') });
  const redialer = new Redialer(config.network.bootstrap, {
    book,
    knownPeers: config.network.redialPeers,
    intervalMs: config.network.bootstrapIntervalMs,
    dialTimeoutMs: config.network.commandTimeoutMs,
    metrics,
    logger: log('peers'),
  });

  const host: Libp2pHost = (hostRef = lifecycle.add(
    new Libp2pHost({
      privateKey: () => {
        if (!privateKey) throw new Error('identity not loaded');
        return privateKey;
      },
      listen: config.network.listen,
      announce: config.network.announce,
      mdns: config.network.mdns,
      maxInboundStreams: config.network.maxRelayedStreams,
      home: config.node.home,
      logger: log('host'),
      onInboundStream: streams.onInbound,
      isBanned: (peer) => guard.isBanned(peer) || (faults?.isBlocked(peer) ?? false),
      onStarted: (node) => {
        gossip.attach(node);
        streams.attach(node);
        redialer.attach(node);
        discovery.attach(node);
        node.addEventListener('peer:identify', (evt) => peerBook.onIdentify(evt.detail));
        const peerEvent = (kind: NetEventKind.PeerConnected | NetEventKind.PeerDisconnected, peer: string): void => {
          metrics.connectedPeers.set(node.getPeers().length);
          events.emit(
            kind,
            kind === NetEventKind.PeerConnected
              ? { event: { $case: 'peerConnected', peerConnected: { peer, remoteAddr: '' } } }
              : { event: { $case: 'peerDisconnected', peerDisconnected: { peer } } },
          );
        };
        node.addEventListener('peer:connect', (evt) => peerEvent(NetEventKind.PeerConnected, evt.detail.toString()));
        node.addEventListener('peer:disconnect', (evt) =>
          peerEvent(NetEventKind.PeerDisconnected, evt.detail.toString()),
        );
      },
    }),
  ));
  lifecycle.add(streams);
  lifecycle.add(gossip);
  lifecycle.add(peerBook);
  lifecycle.add(redialer);
  lifecycle.add(discovery);
  lifecycle.add(
    new CommandServer(
      { host, gossip, guard, streams, faults, workTimeoutMs: Math.max(100, config.network.commandTimeoutMs - 500) },
      { ...infra, metrics, logger: log('commands') },
    ),
  );

  return { ...builder.build(() => host.isRunning), host, events, gossip, streams, metrics };
}
