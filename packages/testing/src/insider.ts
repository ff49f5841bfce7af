import { generateIdentity, openKeyEnvelope, toBase58, verifyGroupOp, type Identity } from '@cnode/primitives';
import { wire } from '@cnode/proto';
import type { ProcessNode } from './process-node.js';

/** A member of a context that tests let go rogue: its own keys, the group key, the cut that admitted it. */
export interface Insider {
  identity: Identity;
  groupKey: Buffer;
  /** The governance heads its deltas cite: the op that added it. */
  governanceHeads: Buffer[];
}

/**
 * Invites a fresh identity into the context through `inviter`'s admin API, as anyone is invited, and
 * opens the group key sealed to it: its signatures verify and its deltas decrypt on every node.
 */
export async function inviteInsider(inviter: ProcessNode, contextId: string): Promise<Insider> {
  const identity = generateIdentity();
  const invitation = wire.Invitation.decode(
    (await inviter.api.inviteMember(contextId, toBase58(identity.publicKey))).invitation,
  );
  const envelope = invitation.groupOps
    .map((op) => op.op?.kind)
    .flatMap((k) => (k?.$case === 'addMember' && k.addMember.keyEnvelope ? [k.addMember.keyEnvelope] : []))
    .find((e) => Buffer.from(e.recipient).equals(identity.publicKey));
  if (!envelope) throw new Error('the invitation seals no group key to the invitee');
  return {
    identity,
    groupKey: openKeyEnvelope(envelope, identity.privateKey, identity.publicKey),
    governanceHeads: [verifyGroupOp(invitation.groupOps.at(-1)!).opId],
  };
}
