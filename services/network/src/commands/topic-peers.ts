import type { bus } from '@cnode/proto';
import type { CommandContext } from './context.js';

/** `topic-peers`: mesh peers and known subscribers of a topic (upstream's `get_peers_count`). */
export function handleTopicPeers(ctx: CommandContext, req: bus.TopicPeersRequest): bus.TopicPeersResponse {
  ctx.gossip.checkTopic(req.topic);
  return { meshPeers: ctx.gossip.meshPeers(req.topic), subscribers: ctx.gossip.subscribers(req.topic) };
}
