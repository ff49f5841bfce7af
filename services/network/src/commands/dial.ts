import type { bus } from '@cnode/proto';
import { errorMessage } from '@cnode/runtime';
import { NetworkError, NetworkErrorCode } from '../errors.js';
import type { CommandContext } from './context.js';
import { parseDialTarget } from './peer-args.js';

/** `dial`: connects to a peer. */
export async function handleDial(ctx: CommandContext, req: bus.DialRequest): Promise<bus.DialResponse> {
  const target = parseDialTarget(req.target);
  try {
    const connection = await ctx.host.libp2p.dial(target, { signal: AbortSignal.timeout(ctx.workTimeoutMs) });
    lookUpSelf(ctx);
    return { peer: connection.remotePeer.toString() };
  } catch (err) {
    throw new NetworkError(NetworkErrorCode.DialFailed, `cannot dial ${req.target}: ${errorMessage(err)}`);
  }
}

/**
 * Looks up our own id in the background once a dial succeeded: the peer we reached answers with its
 * neighbours, and contacting them connects us to them — the other members of a context just joined
 * through one inviter, say. The DHT's own first self-lookup may have run before we knew this peer,
 * and the next comes minutes later.
 */
function lookUpSelf(ctx: CommandContext): void {
  const libp2p = ctx.host.libp2p;
  const signal = AbortSignal.timeout(ctx.workTimeoutMs);
  void (async () => {
    for await (const _event of libp2p.services.dht.getClosestPeers(libp2p.peerId.toMultihash().bytes, { signal })) {
      // Contacting the peers is the point; the answers are not needed.
    }
  })().catch(() => undefined);
}
