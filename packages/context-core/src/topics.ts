import { toBase58 } from '@cnode/primitives';

/** Gossip topic of a context: its base58 id. */
export function contextTopic(contextId: Uint8Array): string {
  return toBase58(contextId);
}

/** Gossip topic of a group: `group/<hex of the 32-byte id>`. */
export function groupTopic(groupId: Uint8Array): string {
  return `group/${Buffer.from(groupId).toString('hex')}`;
}
