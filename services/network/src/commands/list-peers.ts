import type { bus } from '@cnode/proto';
import type { CommandContext } from './context.js';

/**
 * `list-peers`: connected peers and where they can be dialled — the listen addresses they told us
 * (identify), else the addresses we are connected to them on (for an inbound connection, the
 * peer's ephemeral port: not dialable).
 */
export async function handleListPeers(ctx: CommandContext): Promise<bus.ListPeersResponse> {
  const libp2p = ctx.host.libp2p;
  const connections = libp2p.getConnections();
  const byPeer = new Map<string, { id: (typeof connections)[number]['remotePeer']; seen: Set<string> }>();
  for (const connection of connections) {
    const peer = connection.remotePeer.toString();
    const entry = byPeer.get(peer) ?? { id: connection.remotePeer, seen: new Set<string>() };
    entry.seen.add(connection.remoteAddr.toString());
    byPeer.set(peer, entry);
  }
  const peers: bus.PeerInfo[] = [];
  for (const [peer, { id, seen }] of byPeer) {
    const stored = await libp2p.peerStore.get(id).catch(() => undefined);
    const listening = (stored?.addresses ?? []).map((a) => a.multiaddr.toString());
    peers.push({ peer, addrs: listening.length > 0 ? listening : [...seen] });
  }
  return { peers };
}
