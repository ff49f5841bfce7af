import { toBase58 } from '@cnode/primitives';
import type { Logger } from '@cnode/runtime';
import type { GroupStore } from '@cnode/store';

/** Where the projection and the live membership disagreed (the `plane` of unified_projection_divergence). */
export enum DivergencePlane {
  /** The projection at the cited cut refused a delta the live view would accept (drain path). */
  MembershipCut = 'membership-cut',
  /** The projection at the cited cut accepted a delta the live view would refuse. */
  MembershipCutGrant = 'membership-cut-grant',
  /** Inbound-sync authorisation: the projection at our heads and the live view disagree on a peer. */
  MembershipSync = 'membership-sync',
}

/** The log message (and `event` field) operators grep for. */
export const DIVERGENCE_EVENT = 'unified_projection_divergence';

export interface DivergenceReport {
  plane: DivergencePlane;
  groupId: Buffer;
  contextId?: Buffer;
  identity: Buffer;
  /** The projection's verdict. */
  projection: boolean;
  /** The live view: member, removed or never_member. */
  live: string;
  peer?: string;
  deltaId?: Buffer;
}

/** Logs (warn) and counts one disagreement between the projection and the live membership. */
export function reportDivergence(
  logger: Logger,
  counter: { inc(labels: { plane: string }): void } | undefined,
  r: DivergenceReport,
): void {
  counter?.inc({ plane: r.plane });
  logger.warn(
    {
      event: DIVERGENCE_EVENT,
      plane: r.plane,
      group: r.groupId.toString('hex'),
      context: r.contextId && toBase58(r.contextId),
      identity: toBase58(r.identity),
      delta: r.deltaId && toBase58(r.deltaId),
      peer: r.peer,
      projection: r.projection ? 'member' : 'not_member',
      live: r.live,
    },
    DIVERGENCE_EVENT,
  );
}

/** An author's standing at the governance cut its delta cites. */
export enum CutVerdict {
  /** A member (or admin) at the cut: the delta may apply. */
  Member = 'member',
  /** A read-only member at the cut: it may not write. */
  ReadOnly = 'read_only',
  /** The cut is known and does not name the author. */
  NotMember = 'not_member',
  /** The delta cites no governance heads ("before any op"): nobody was a member there. */
  NoPosition = 'no_governance_position',
  /** Some cited op is not applied here: park the delta until governance catches up. */
  Unknown = 'unknown',
}

/** membership of `author` at `heads` (the projection: the same on every node that knows the cut). */
export async function authorAtCut(
  groups: GroupStore,
  groupId: Buffer,
  author: Buffer,
  heads: readonly Buffer[],
): Promise<CutVerdict> {
  if (heads.length === 0) return CutVerdict.NoPosition;
  const cut = await groups.projection(groupId, heads);
  if (!cut) return CutVerdict.Unknown;
  if (cut.canWrite(author)) return CutVerdict.Member;
  return cut.isMember(author) ? CutVerdict.ReadOnly : CutVerdict.NotMember;
}

/**
 * Whether `identity` is a member of the group now, for sync authorisation: the projection at our
 * governance heads decides; when it cannot (no ops of the group here), the live view does. A
 * disagreement is reported on the membership-sync plane.
 */
export async function isGroupMemberNow(
  deps: { groups: GroupStore; logger: Logger; divergences?: { inc(labels: { plane: string }): void } },
  groupId: Buffer,
  identity: Buffer,
  peer?: string,
): Promise<boolean> {
  const live = await deps.groups.isMember(groupId, identity);
  const cut = await deps.groups.currentProjection(groupId);
  if (!cut) return live;
  const projected = cut.isMember(identity);
  if (projected !== live) {
    reportDivergence(deps.logger, deps.divergences, {
      plane: DivergencePlane.MembershipSync,
      groupId,
      identity,
      projection: projected,
      live: await deps.groups.liveStanding(groupId, identity),
      peer,
    });
  }
  return projected;
}
