import type { bus } from '@cnode/proto';
import { DHT_MAX_PROVIDERS } from '../constants.js';
import type { CommandContext } from './context.js';
import { providerCid } from './dht-keys.js';

/** `dht-find-providers`: up to `limit` (at most 20) peers providing the key, found before the deadline. */
export async function handleDhtFindProviders(
  ctx: CommandContext,
  req: bus.DhtFindProvidersRequest,
): Promise<bus.DhtFindProvidersResponse> {
  const cid = providerCid(req.key);
  const limit = Math.min(Math.max(req.limit, 1), DHT_MAX_PROVIDERS);
  const found = new Map<string, string[]>();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ctx.workTimeoutMs);
  try {
    for await (const event of ctx.host.libp2p.services.dht.findProviders(cid, { signal: controller.signal })) {
      if (event.name !== 'PROVIDER') continue;
      for (const provider of event.providers) {
        found.set(provider.id.toString(), provider.multiaddrs.map(String));
      }
      if (found.size >= limit) break;
    }
  } catch {
    // The deadline ends the search; what was found so far is the answer.
  } finally {
    clearTimeout(timer);
  }
  return { providers: [...found].slice(0, limit).map(([peer, addrs]) => ({ peer, addrs })) };
}
