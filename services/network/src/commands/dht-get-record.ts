import type { bus } from '@cnode/proto';
import type { CommandContext } from './context.js';
import { recordKey } from './dht-keys.js';

/** `dht-get-record`: the record's value, from our store or the network, or `found: false`. */
export async function handleDhtGetRecord(
  ctx: CommandContext,
  req: bus.DhtGetRecordRequest,
): Promise<bus.DhtGetRecordResponse> {
  const key = recordKey(req.key);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ctx.workTimeoutMs);
  try {
    for await (const event of ctx.host.libp2p.services.dht.get(key, { signal: controller.signal })) {
      if (event.name === 'VALUE') return { found: true, value: Buffer.from(event.value) };
    }
  } catch {
    // Not found before the deadline.
  } finally {
    clearTimeout(timer);
  }
  return { found: false, value: Buffer.alloc(0) };
}
