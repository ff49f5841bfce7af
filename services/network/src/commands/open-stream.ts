import type { bus } from '@cnode/proto';
import type { CommandContext } from './context.js';

/** `open-stream`: dials a relayed protocol for an owner already listening on the stream's subject. */
export async function handleOpenStream(
  ctx: CommandContext,
  req: bus.OpenStreamRequest,
): Promise<bus.OpenStreamResponse> {
  return ctx.streams.open(req.streamId, req.peer, req.protocol);
}
