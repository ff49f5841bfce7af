import type { bus } from '@cnode/proto';
import type { CommandContext } from './context.js';

/** `list-peers`: connected peers and the addresses we are connected to them on. */
export function handleListPeers(ctx: CommandContext): bus.ListPeersResponse {
  const byPeer = new Map<string, Set<string>>();
  for (const connection of ctx.host.libp2p.getConnections()) {
    const peer = connection.remotePeer.toString();
    const addrs = byPeer.get(peer) ?? new Set<string>();
    addrs.add(connection.remoteAddr.toString());
    byPeer.set(peer, addrs);
  }
  return { peers: [...byPeer].map(([peer, addrs]) => ({ peer, addrs: [...addrs] })) };
}
