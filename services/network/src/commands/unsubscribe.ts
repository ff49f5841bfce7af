import type { bus } from '@cnode/proto';
import type { CommandContext } from './context.js';

/** `unsubscribe`: leaves a topic and forgets it. */
export async function handleUnsubscribe(
  ctx: CommandContext,
  req: bus.UnsubscribeRequest,
): Promise<bus.UnsubscribeResponse> {
  return { changed: await ctx.gossip.unsubscribe(req.topic) };
}
