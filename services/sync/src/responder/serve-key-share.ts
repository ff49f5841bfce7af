import { sealKeyEnvelope } from '@cnode/primitives';
import type { wire } from '@cnode/proto';
import { MAX_KEYS_SHARED } from '../constants.js';
import type { ResponderDeps } from './deps.js';

/** Answers a KeyShareRequest: the group's keys, each sealed to the proven member identity only. */
export async function serveKeyShare(
  deps: ResponderDeps,
  groupId: Buffer,
  member: Buffer,
): Promise<wire.SyncStreamMessage> {
  const keys = [...(await deps.groups.keys(groupId)).values()].slice(-MAX_KEYS_SHARED);
  deps.metrics.keysShared.inc(keys.length);
  return {
    payload: {
      $case: 'keyShareResponse',
      keyShareResponse: { envelopes: keys.map((key) => sealKeyEnvelope(key, member)) },
    },
  };
}
