import type { bus } from '@cnode/proto';
import type { CommandContext } from './context.js';

/** `subscribe`: joins a topic; remembered across restarts. */
export async function handleSubscribe(ctx: CommandContext, req: bus.SubscribeRequest): Promise<bus.SubscribeResponse> {
  return { changed: await ctx.gossip.subscribe(req.topic) };
}
