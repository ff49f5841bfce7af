import { generateIdentity, toBase58 } from '@cnode/primitives';
import type { admin } from '@cnode/proto';
import type { ContextDeps } from '../../contexts/context-deps.js';

/** ContextService.CreateIdentity: a member key pair kept by this node (private key sealed at rest). */
export async function createIdentity(deps: ContextDeps): Promise<admin.CreateIdentityResponse> {
  const identity = generateIdentity();
  await deps.identities.create(identity);
  return { publicKey: toBase58(identity.publicKey) };
}
