import type { NetworkClient } from '@cnode/bus';
import { sha256 } from '@cnode/primitives';

const PROVIDER_KEY_DOMAIN = Buffer.from('cnode/blob-provider/v1');
/** How many providers one lookup asks the DHT for. */
export const BLOB_PROVIDER_LOOKUP_LIMIT = 8;

/**
 * The DHT key this node is a provider under for a blob of a context. Kademlia provider records name the peer that announced them, so a
 * peer cannot announce someone else.
 */
export function blobProviderKey(contextId: Uint8Array, blobId: Uint8Array): Buffer {
  return sha256(PROVIDER_KEY_DOMAIN, contextId, blobId);
}

/** Upstream's `announce_blob_to_network`. */
export async function announceBlob(network: NetworkClient, contextId: Buffer, blobId: Buffer): Promise<void> {
  await network.dhtProvide(blobProviderKey(contextId, blobId));
}

/** Upstream's `find_blob_providers`: peer ids, excluding none (the caller skips itself). */
export async function findBlobProviders(network: NetworkClient, contextId: Buffer, blobId: Buffer): Promise<string[]> {
  const res = await network.dhtFindProviders(blobProviderKey(contextId, blobId), BLOB_PROVIDER_LOOKUP_LIMIT);
  return res.providers.map((p) => p.peer);
}
