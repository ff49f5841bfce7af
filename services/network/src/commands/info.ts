import type { bus } from '@cnode/proto';
import type { CommandContext } from './context.js';

/** `info`: the node's peer id, listen addresses and connected peer count. */
export function handleInfo(ctx: CommandContext): bus.NetworkInfoResponse {
  return {
    peerId: ctx.host.libp2p.peerId.toString(),
    listenAddrs: ctx.host.listenAddrs(),
    connectedPeers: ctx.host.connectedPeerCount(),
  };
}
