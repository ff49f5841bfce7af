import type { bus } from '@cnode/proto';
import type { CommandContext } from './context.js';

/** `report-peer`: strikes against a peer whose gossip another service refused (the gossip guard). */
export function handleReportPeer(ctx: CommandContext, req: bus.ReportPeerRequest): bus.ReportPeerResponse {
  return { banned: ctx.guard.report(req.peer, req.reason, req.count) };
}
