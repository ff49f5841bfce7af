import type { bus } from '@cnode/proto';
import type { CommandContext } from './context.js';

/** `publish`: flood-publishes; no subscribed peer is reported as `noPeers`, not as an error. */
export async function handlePublish(ctx: CommandContext, req: bus.PublishRequest): Promise<bus.PublishResponse> {
  const recipients = await ctx.gossip.publish(req.topic, req.data);
  return { recipients, noPeers: recipients === 0 };
}
