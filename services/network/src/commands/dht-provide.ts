import type { bus } from '@cnode/proto';
import { errorMessage } from '@cnode/runtime';
import { NetworkError, NetworkErrorCode } from '../errors.js';
import type { CommandContext } from './context.js';
import { providerCid } from './dht-keys.js';

/** `dht-provide`: announces that this node provides the key. */
export async function handleDhtProvide(
  ctx: CommandContext,
  req: bus.DhtProvideRequest,
): Promise<bus.DhtProvideResponse> {
  const cid = providerCid(req.key);
  try {
    for await (const _event of ctx.host.libp2p.services.dht.provide(cid, {
      signal: AbortSignal.timeout(ctx.workTimeoutMs),
    })) {
      // Drain the query; its completion is the announcement.
    }
  } catch (err) {
    throw new NetworkError(NetworkErrorCode.DhtFailed, `provide failed: ${errorMessage(err)}`);
  }
  return {};
}
