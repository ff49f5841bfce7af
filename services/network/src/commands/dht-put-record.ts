import type { bus } from '@cnode/proto';
import { errorMessage } from '@cnode/runtime';
import { DHT_MAX_RECORD_BYTES } from '../constants.js';
import { NetworkError, NetworkErrorCode } from '../errors.js';
import type { CommandContext } from './context.js';
import { recordKey } from './dht-keys.js';

/** `dht-put-record`: stores a small record (at most 256 bytes) on the closest peers. */
export async function handleDhtPutRecord(
  ctx: CommandContext,
  req: bus.DhtPutRecordRequest,
): Promise<bus.DhtPutRecordResponse> {
  if (req.value.length > DHT_MAX_RECORD_BYTES) {
    throw new NetworkError(NetworkErrorCode.BadArgument, `a DHT record value is at most ${DHT_MAX_RECORD_BYTES} bytes`);
  }
  const key = recordKey(req.key);
  try {
    for await (const _event of ctx.host.libp2p.services.dht.put(key, req.value, {
      signal: AbortSignal.timeout(ctx.workTimeoutMs),
    })) {
      // Drain the query.
    }
  } catch (err) {
    throw new NetworkError(NetworkErrorCode.DhtFailed, `put failed: ${errorMessage(err)}`);
  }
  return {};
}
