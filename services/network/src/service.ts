import type { PrivateKey } from '@libp2p/interface';
import { NetEventKind } from '@cnode/bus';
import { startable, type ServiceContext, type ServiceHandle } from '@cnode/runtime';
import { ServiceBuilder } from '@cnode/service-kit';
import { SERVICE_NAME } from './constants.js';
import type { NetworkConfig } from './config.js';
import { CommandServer } from './commands/command-server.js';
import { NetEventPublisher } from './events/net-event-publisher.js';
import { Libp2pHost } from './host/libp2p-host.js';
import { IdentityRepo } from './identity/identity-repo.js';
import { loadOrCreateIdentity } from './identity/load-identity.js';
import { createNetworkMetrics } from './metrics.js';

export interface NetworkService extends ServiceHandle {
  host: Libp2pHost;
  events: NetEventPublisher;
}

/** Composition root of the network service: infra → identity → event outbox → libp2p → commands. */
export function createNetworkService(config: NetworkConfig, ctx: ServiceContext): NetworkService {
  const builder = new ServiceBuilder(SERVICE_NAME, config, ctx);
  const { lifecycle, infra } = builder;
  const metrics = createNetworkMetrics(ctx.registry);

  let privateKey: PrivateKey | undefined;
  lifecycle.add(
    startable('identity', async () => {
      privateKey = await loadOrCreateIdentity(new IdentityRepo(infra.postgres.sql), config.node.masterKeyHex);
    }),
  );

  const events = lifecycle.add(
    new NetEventPublisher({ ...infra, metrics, logger: ctx.logger.child({ module: 'network.events' }) }),
  );

  const host: Libp2pHost = lifecycle.add(
    new Libp2pHost({
      privateKey: () => {
        if (!privateKey) throw new Error('identity not loaded');
        return privateKey;
      },
      listen: config.network.listen,
      announce: config.network.announce,
      bootstrap: config.network.bootstrap,
      logger: ctx.logger.child({ module: 'network.host' }),
      onPeerConnected: (peer) => {
        metrics.connectedPeers.set(host.connectedPeerCount());
        events.emit(NetEventKind.PeerConnected, {
          event: { $case: 'peerConnected', peerConnected: { peer, remoteAddr: '' } },
        });
      },
      onPeerDisconnected: (peer) => {
        metrics.connectedPeers.set(host.connectedPeerCount());
        events.emit(NetEventKind.PeerDisconnected, {
          event: { $case: 'peerDisconnected', peerDisconnected: { peer } },
        });
      },
    }),
  );

  lifecycle.add(
    new CommandServer({ ...infra, host, metrics, logger: ctx.logger.child({ module: 'network.commands' }) }),
  );

  return { ...builder.build(() => host.isRunning), host, events };
}
