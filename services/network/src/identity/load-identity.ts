import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { PrivateKey } from '@libp2p/interface';
import { seal, unseal } from '@cnode/store';
import { IDENTITY_SEAL_AAD } from '../constants.js';
import { NetworkError, NetworkErrorCode } from '../errors.js';
import type { IdentityRepo } from './identity-repo.js';

/**
 * The node's libp2p key: loaded from Postgres, or generated and stored on first start, so the peer id
 * is the same across restarts and replicas. The key is sealed with the master key at rest.
 */
export async function loadOrCreateIdentity(repo: IdentityRepo, masterKeyHex: string | undefined): Promise<PrivateKey> {
  if (!masterKeyHex) {
    throw new NetworkError(NetworkErrorCode.NoMasterKey, 'NODE_MASTER_KEY is required by the network service');
  }
  const masterKey = Buffer.from(masterKeyHex, 'hex');
  let stored = await repo.get();
  if (!stored) {
    const key = await generateKeyPair('Ed25519');
    stored = await repo.insertIfAbsent({
      peerId: peerIdFromPrivateKey(key).toString(),
      keyType: key.type,
      sealedPrivateKey: seal(masterKey, privateKeyToProtobuf(key), IDENTITY_SEAL_AAD),
    });
  }
  let key: PrivateKey;
  try {
    key = privateKeyFromProtobuf(unseal(masterKey, stored.sealedPrivateKey, IDENTITY_SEAL_AAD));
  } catch (err) {
    throw new NetworkError(
      NetworkErrorCode.IdentityUnreadable,
      `the node identity stored in Postgres (peer ${stored.peerId}) was sealed with another NODE_MASTER_KEY than the one given (was NODE_HOME/master.key deleted or replaced, or NODE_MASTER_KEY changed?). Start it with the master key it was created with; or, to discard this node's data and start a new node under the same name, run: npm start -- --reset <node name>`,
      {},
      { cause: err },
    );
  }
  if (peerIdFromPrivateKey(key).toString() !== stored.peerId) {
    throw new NetworkError(NetworkErrorCode.IdentityUnreadable, 'the stored node identity does not match its peer id');
  }
  return key;
}
