import { createHash, randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { RelayedStream, SPECIALIZED_INVITE_PROTOCOL, type RelayOwnerOptions } from '@cnode/bus';
import { contextTopic } from '@cnode/context-core';
import { generateIdentity, toBase58 } from '@cnode/primitives';
import { type admin, wire, type bus } from '@cnode/proto';
import { errorMessage, withTimeout } from '@cnode/runtime';
import { actingMember, requireContext, requireWritableNode } from '../contexts/context-access.js';
import type { ContextDeps } from '../contexts/context-deps.js';
import { AdminCallError, AdminErrorCode } from '../grpc/admin-errors.js';
import { admitMember } from '../grpc/context/invite-member.js';
import { joinContext } from '../grpc/context/join-context.js';
import { mockQuote, verifyAttestation } from './mock-quote.js';
import { TooManyInvites, type PendingInvite, type PendingInvites } from './pending-invites.js';

/** What the specialized-invite code needs besides the context deps. */
export interface SpecializedDeps {
  invites: PendingInvites;
  inviteTopic: string;
  acceptMockTee: boolean;
  relay: () => RelayOwnerOptions;
}

/** How long each side waits for the other's frame. */
export const INVITE_FRAME_TIMEOUT_MS = 30_000;
/** Answers a read-only node runs at once; further discoveries meanwhile are ignored and counted. */
export const MAX_CONCURRENT_ANSWERS = 4;
/** A quote that admitted a member is remembered this long (a quote admits once). */
export const QUOTE_MEMORY_MS = 30 * 24 * 3600_000;

/** Outcomes of `node_manager_specialized_invites_total` (the inviter's side). */
export enum InviteOutcome {
  Issued = 'issued',
  Admitted = 'admitted',
  Confirmed = 'confirmed',
  UnknownNonce = 'unknown_nonce',
  QuoteReplayed = 'quote_replayed',
  Malformed = 'malformed',
  ContextGone = 'context_gone',
  Failed = 'failed',
}

/** Outcomes of `node_manager_specialized_answers_total` (the read-only node's side). */
export enum AnswerOutcome {
  Joined = 'joined',
  Refused = 'refused',
  NotReadOnly = 'not_read_only',
  Malformed = 'malformed',
  Busy = 'busy',
  Failed = 'failed',
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function inviteView(invite: PendingInvite): admin.SpecializedInvite {
  return {
    nonce: invite.nonceHex,
    contextId: toBase58(invite.contextId),
    state: invite.state,
    member: invite.member ? toBase58(Buffer.from(invite.member, 'hex')) : '',
    createdAtMs: BigInt(invite.createdAtMs),
    expiresAtMs: BigInt(invite.expiresAtMs),
  };
}

async function refreshGauge(deps: ContextDeps): Promise<void> {
  deps.metrics.specializedInvitesPending.set(await deps.specialized.invites.count());
}

/**
 * ContextService.InviteSpecializedNode: records an open invite under a fresh nonce and gossips the
 * discovery on the invite topic. Only a node that may write and holds an admin identity of the
 * context's group can admit anyone, so both are checked first.
 */
export async function inviteSpecializedNode(
  deps: ContextDeps,
  req: admin.InviteSpecializedNodeRequest,
): Promise<admin.InviteSpecializedNodeResponse> {
  const ctx = await requireContext(deps, req.contextId);
  requireWritableNode(deps, 'inviting a specialized node');
  await actingMember(deps, ctx, '', { admin: true });
  const nonce = randomBytes(32);
  let invite: PendingInvite;
  try {
    invite = await deps.specialized.invites.open(hex(nonce), ctx.id);
  } catch (err) {
    if (!(err instanceof TooManyInvites)) throw err;
    throw new AdminCallError(status.RESOURCE_EXHAUSTED, AdminErrorCode.TooManyInvites, err.message);
  }
  const discovery = wire.BroadcastMessage.encode({
    payload: {
      $case: 'specializedNodeDiscovery',
      specializedNodeDiscovery: { nonce, nodeType: wire.SpecializedNodeType.SPECIALIZED_NODE_TYPE_READ_ONLY },
    },
  }).finish();
  const published = await deps.network.publish(deps.specialized.inviteTopic, discovery);
  deps.metrics.specializedInvites.inc({ outcome: InviteOutcome.Issued });
  await refreshGauge(deps);
  deps.logger.info(
    { context: toBase58(ctx.id), nonce: invite.nonceHex, recipients: published.recipients },
    'Looking for a specialized node',
  );
  return { invite: inviteView(invite), recipients: published.recipients };
}

/** ContextService.ListSpecializedInvites. */
export async function listSpecializedInvites(deps: ContextDeps): Promise<admin.ListSpecializedInvitesResponse> {
  return { invites: (await deps.specialized.invites.list()).map(inviteView) };
}

/**
 * The inviter's side of `/calimero/specialized-node-invite/1.0.0`: reads the node's attestation,
 * claims the nonce (once: a second answer, a replay or a late one finds nothing), verifies the
 * quote (mock only with ACCEPT_MOCK_TEE; TDX is refused as unsupported), refuses a quote that
 * already admitted someone, admits the key as a read_only_tee member and answers with the
 * invitation. A refused answer consumes the nonce. Every outcome is counted.
 */
export async function serveSpecializedInvite(deps: ContextDeps, opened: bus.StreamOpened): Promise<void> {
  const stream = RelayedStream.accept(deps.specialized.relay(), opened);
  const count = (outcome: string): void => deps.metrics.specializedInvites.inc({ outcome });
  let nonce = Buffer.alloc(0);
  const answer = async (response: Partial<wire.SpecializedNodeInvitationResponse>): Promise<void> => {
    await stream.writeFrame(
      wire.SpecializedNodeInvitationResponse.encode(
        wire.SpecializedNodeInvitationResponse.fromPartial({ nonce, ...response }),
      ).finish(),
    );
    await stream.closeWrite();
  };
  const refuse = async (outcome: string, error: string): Promise<void> => {
    count(outcome);
    deps.logger.warn({ peer: opened.peer, nonce: hex(nonce), outcome, error }, 'Refused a specialized node');
    await answer({ error });
  };
  try {
    const frame = await withTimeout(stream.readFrame(), INVITE_FRAME_TIMEOUT_MS, () => new Error('no request in time'));
    if (!frame) return await refuse(InviteOutcome.Malformed, 'no verification request');
    let request: wire.SpecializedNodeVerificationRequest;
    try {
      request = wire.SpecializedNodeVerificationRequest.decode(frame);
    } catch {
      return await refuse(InviteOutcome.Malformed, 'not a verification request');
    }
    nonce = Buffer.from(request.nonce);
    if (request.nonce.length !== 32 || request.publicKey.length !== 32) {
      return await refuse(InviteOutcome.Malformed, 'nonce and public key must be 32 bytes each');
    }
    const nonceHex = hex(request.nonce);
    const contextId = await deps.specialized.invites.claim(nonceHex);
    if (!contextId) return await refuse(InviteOutcome.UnknownNonce, 'unknown, expired or already claimed nonce');
    let admitted = false;
    try {
      const verdict = verifyAttestation(
        request.quote,
        request.nonce,
        request.publicKey,
        deps.specialized.acceptMockTee,
      );
      if (!verdict.ok) return await refuse(verdict.refusal, verdict.message);
      const quoteHash = createHash('sha256').update(request.quote).digest();
      const first = await deps
        .redis()
        .set(deps.catalog.redis.teeQuoteUsed(hex(quoteHash)), hex(request.publicKey), 'PX', QUOTE_MEMORY_MS, 'NX');
      if (first !== 'OK') return await refuse(InviteOutcome.QuoteReplayed, 'this quote already admitted a member');
      const ctx = await requireContext(deps, toBase58(contextId)).catch(() => undefined);
      if (!ctx) return await refuse(InviteOutcome.ContextGone, 'the context is no longer hosted here');
      const invitation = await admitMember(deps, ctx, Buffer.from(request.publicKey), {
        role: wire.GroupRole.GROUP_ROLE_READ_ONLY_TEE,
        tee: { quoteHash, tcbStatus: verdict.tcbStatus },
      });
      await deps.specialized.invites.admitted(nonceHex, hex(request.publicKey));
      admitted = true;
      await answer({ invitation });
      count(InviteOutcome.Admitted);
      deps.logger.info(
        { context: toBase58(contextId), member: toBase58(request.publicKey), peer: opened.peer },
        'Admitted a specialized node',
      );
    } finally {
      // A refused or failed answer consumes the invite; an admitted one waits for its confirmation.
      if (!admitted) await deps.specialized.invites.drop(nonceHex);
      await refreshGauge(deps);
    }
  } catch (err) {
    count(InviteOutcome.Failed);
    deps.logger.warn({ peer: opened.peer, err: errorMessage(err) }, 'Specialized invite stream failed');
    stream.reset('failed');
  }
}

/** The inviter hears the admitted node's join confirmation on the context topic: the invite is done. */
export async function confirmSpecializedJoin(
  deps: ContextDeps,
  confirmation: wire.SpecializedNodeJoinConfirmation,
): Promise<void> {
  if (confirmation.nonce.length !== 32) return;
  if (await deps.specialized.invites.confirm(hex(confirmation.nonce))) {
    deps.metrics.specializedInvites.inc({ outcome: InviteOutcome.Confirmed });
    await refreshGauge(deps);
  }
}

let answering = 0;

/**
 * A read-only node hears a discovery: it answers the discovery's origin with a fresh identity and
 * an attestation bound to the nonce and that key (a mock quote: this node has no TDX hardware),
 * joins with the invitation it gets back, and confirms on the context topic. A standard node
 * ignores discoveries. Runs detached from the event that carried the discovery; at most
 * MAX_CONCURRENT_ANSWERS at once.
 */
export function answerDiscovery(
  deps: ContextDeps,
  discovery: wire.SpecializedNodeDiscovery,
  gossip: bus.GossipMessage,
): void {
  const count = (outcome: AnswerOutcome): void => deps.metrics.specializedAnswers.inc({ outcome });
  if (deps.nodeMode !== 'read-only') return count(AnswerOutcome.NotReadOnly);
  if (
    gossip.topic !== deps.specialized.inviteTopic ||
    discovery.nonce.length !== 32 ||
    discovery.nodeType !== wire.SpecializedNodeType.SPECIALIZED_NODE_TYPE_READ_ONLY
  ) {
    return count(AnswerOutcome.Malformed);
  }
  if (answering >= MAX_CONCURRENT_ANSWERS) return count(AnswerOutcome.Busy);
  answering++;
  void answer(deps, discovery.nonce, gossip.sourcePeer)
    .then(count, (err: unknown) => {
      count(AnswerOutcome.Failed);
      deps.logger.warn(
        { peer: gossip.sourcePeer, err: errorMessage(err) },
        'Could not answer a specialized-node discovery',
      );
    })
    .finally(() => answering--);
}

async function answer(deps: ContextDeps, nonceBytes: Uint8Array, inviter: string): Promise<AnswerOutcome> {
  const nonce = Buffer.from(nonceBytes);
  const identity = generateIdentity();
  const stream = await RelayedStream.open(deps.network, deps.specialized.relay(), inviter, SPECIALIZED_INVITE_PROTOCOL);
  let response: wire.SpecializedNodeInvitationResponse;
  try {
    await stream.writeFrame(
      wire.SpecializedNodeVerificationRequest.encode({
        nonce,
        quote: mockQuote(nonce, identity.publicKey),
        publicKey: identity.publicKey,
      }).finish(),
    );
    await stream.closeWrite();
    const frame = await withTimeout(stream.readFrame(), INVITE_FRAME_TIMEOUT_MS, () => new Error('no answer in time'));
    if (!frame) throw new Error('the inviter closed the stream without an answer');
    response = wire.SpecializedNodeInvitationResponse.decode(frame);
  } catch (err) {
    stream.reset('failed');
    throw err;
  }
  if (response.invitation.length === 0) {
    deps.logger.warn({ inviter, error: response.error }, 'A specialized-node invite refused us');
    return AnswerOutcome.Refused;
  }
  await deps.identities.create(identity);
  const joined = await joinContext(deps, { invitation: response.invitation, invitationText: '' });
  const contextId = Buffer.from(wire.Invitation.decode(response.invitation).contextId);
  const confirmation = wire.BroadcastMessage.encode({
    payload: { $case: 'specializedNodeJoinConfirmation', specializedNodeJoinConfirmation: { nonce } },
  }).finish();
  await deps.network.publish(contextTopic(contextId), confirmation);
  deps.logger.info(
    { context: joined.contextId, member: toBase58(identity.publicKey), inviter },
    'Joined a context as a specialized node',
  );
  return AnswerOutcome.Joined;
}
