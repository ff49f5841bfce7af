import { type bus } from '@cnode/proto';
import type { Libp2pHost } from '../host/libp2p-host.js';

/** `info`: the node's peer id, listen addresses and connected peer count. */
export function handleInfo(host: Libp2pHost): bus.NetworkInfoResponse {
  return {
    peerId: host.libp2p.peerId.toString(),
    listenAddrs: host.listenAddrs(),
    connectedPeers: host.connectedPeerCount(),
  };
}
