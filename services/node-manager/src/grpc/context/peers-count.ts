import { contextTopic } from '@cnode/context-core';
import type { admin } from '@cnode/proto';
import { requireContext } from '../../contexts/context-access.js';
import type { ContextDeps } from '../../contexts/context-deps.js';

/** ContextService.GetPeersCount (upstream's `get_peers_count`): mesh peers and known subscribers. */
export async function getPeersCount(
  deps: ContextDeps,
  req: admin.GetPeersCountRequest,
): Promise<admin.GetPeersCountResponse> {
  const ctx = await requireContext(deps, req.contextId);
  const peers = await deps.network.topicPeers(contextTopic(ctx.id));
  return { count: new Set([...peers.meshPeers, ...peers.subscribers]).size };
}
