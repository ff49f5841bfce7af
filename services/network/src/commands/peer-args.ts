import { peerIdFromString } from '@libp2p/peer-id';
import type { PeerId } from '@libp2p/interface';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { NetworkError, NetworkErrorCode } from '../errors.js';

/** A peer id, or a multiaddr that ends in `/p2p/<peer id>`; anything else is a clear error. */
export function parseDialTarget(target: string): PeerId | Multiaddr {
  if (target.startsWith('/')) {
    let addr: Multiaddr;
    try {
      addr = multiaddr(target);
    } catch {
      throw new NetworkError(NetworkErrorCode.BadArgument, `not a multiaddr: ${target}`);
    }
    if (!addr.getComponents().some((c) => c.name === 'p2p')) {
      throw new NetworkError(NetworkErrorCode.BadArgument, `multiaddr must end in /p2p/<peer id>: ${target}`);
    }
    return addr;
  }
  try {
    return peerIdFromString(target);
  } catch {
    throw new NetworkError(NetworkErrorCode.BadArgument, `not a peer id or multiaddr: ${target}`);
  }
}
