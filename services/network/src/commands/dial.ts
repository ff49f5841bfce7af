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
    return { peer: connection.remotePeer.toString() };
  } catch (err) {
    throw new NetworkError(NetworkErrorCode.DialFailed, `cannot dial ${req.target}: ${errorMessage(err)}`);
  }
}
