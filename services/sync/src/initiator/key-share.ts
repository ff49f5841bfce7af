import type { HostedContext } from '@cnode/context-core';
import { keyIdOf, openKeyEnvelope, toBase58, type Identity } from '@cnode/primitives';
import { errorMessage } from '@cnode/runtime';
import { MAX_KEYS_SHARED } from '../constants.js';
import type { InitiatorDeps } from './deps.js';

/**
 * Key share: asks a member peer for the group's keys, sealed to
 * our member identity, and keeps every one that opens. For a member that joined with an invitation
 * carrying no key, and for deltas sealed with a key we do not hold. The peer proves its own
 * membership like any sync answer; envelopes not addressed to us, or that do not open, are skipped
 * and counted. Returns how many keys were new.
 */
export async function fetchGroupKeys(
  deps: InitiatorDeps,
  ctx: HostedContext,
  me: Identity,
  peer: string,
): Promise<number> {
  const { envelopes } = await deps.sync.fetchKeyShare(peer, me, ctx.groupId);
  const known = await deps.groups.keys(ctx.groupId);
  let added = 0;
  for (const envelope of envelopes.slice(0, MAX_KEYS_SHARED)) {
    let key: Buffer;
    try {
      key = openKeyEnvelope(envelope, me.privateKey, me.publicKey);
    } catch (err) {
      deps.metrics.keyShares.inc({ outcome: 'unopenable' });
      deps.logger.warn({ context: toBase58(ctx.id), peer, err: errorMessage(err) }, 'A shared key does not open');
      continue;
    }
    const keyId = keyIdOf(key);
    if (known.has(keyId.toString('hex'))) continue;
    await deps.groups.putKey(ctx.groupId, keyId, key);
    added++;
  }
  deps.metrics.keyShares.inc({ outcome: 'received' }, added);
  deps.logger.info(
    { context: toBase58(ctx.id), peer, added, offered: envelopes.length },
    'Group keys shared by a peer',
  );
  return added;
}
