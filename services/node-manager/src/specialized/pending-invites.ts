import type { Catalog } from '@cnode/bus';
import type { Redis } from '@cnode/store';

/** Where an invite stands. */
export enum InviteState {
  /** Waiting for a read-only node's answer. */
  Open = 'open',
  /** An answer claimed the nonce and is being verified. */
  Claimed = 'claimed',
  /** A node was admitted; waiting for its join confirmation. */
  Admitted = 'admitted',
}

export interface PendingInvite {
  nonceHex: string;
  contextId: Buffer;
  state: InviteState;
  /** The admitted member's public key (hex), once admitted. */
  member: string;
  createdAtMs: number;
  expiresAtMs: number;
}

/** Atomically moves an invite from open to claimed; returns the context (hex) or nil. */
const CLAIM = `
if redis.call('HGET', KEYS[1], 'state') == 'open' then
  redis.call('HSET', KEYS[1], 'state', 'claimed')
  return redis.call('HGET', KEYS[1], 'context')
end
return false`;

/** Deletes an admitted invite; returns 1 when it was admitted, else 0. */
const CONFIRM = `
if redis.call('HGET', KEYS[1], 'state') == 'admitted' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
return 0`;

export class TooManyInvites extends Error {}

/**
 * Pending specialized-node invites, in Redis so every node-manager replica sees them: one hash per
 * invite that expires with it, and a sorted set by expiry that bounds how many are pending. An
 * invite's nonce is claimed once (open → claimed, atomically): a second answer, a replay, or an
 * answer after expiry finds nothing to claim.
 */
export class PendingInvites {
  constructor(private readonly deps: { redis: () => Redis; catalog: Catalog; ttlMs: number; max: number }) {}

  private get keys() {
    return this.deps.catalog.redis;
  }

  /** Records a new open invite; TooManyInvites when `max` are pending. */
  async open(nonceHex: string, contextId: Buffer): Promise<PendingInvite> {
    const redis = this.deps.redis();
    const now = Date.now();
    await redis.zremrangebyscore(this.keys.specializedInvites, '-inf', now);
    if ((await redis.zcard(this.keys.specializedInvites)) >= this.deps.max) {
      throw new TooManyInvites(`${this.deps.max} specialized-node invites are pending`);
    }
    const invite: PendingInvite = {
      nonceHex,
      contextId,
      state: InviteState.Open,
      member: '',
      createdAtMs: now,
      expiresAtMs: now + this.deps.ttlMs,
    };
    const key = this.keys.specializedInvite(nonceHex);
    await redis
      .multi()
      .hset(key, {
        context: contextId.toString('hex'),
        state: invite.state,
        member: '',
        createdAt: String(invite.createdAtMs),
        expiresAt: String(invite.expiresAtMs),
      })
      .pexpire(key, this.deps.ttlMs)
      .zadd(this.keys.specializedInvites, invite.expiresAtMs, nonceHex)
      .exec();
    return invite;
  }

  /** Claims an open invite for verification: its context, or undefined (unknown, expired or claimed). */
  async claim(nonceHex: string): Promise<Buffer | undefined> {
    const context = (await this.deps.redis().eval(CLAIM, 1, this.keys.specializedInvite(nonceHex))) as string | null;
    return context ? Buffer.from(context, 'hex') : undefined;
  }

  /** The claimed invite admitted `member`: now waiting for the node's join confirmation. */
  async admitted(nonceHex: string, memberHex: string): Promise<void> {
    await this.deps
      .redis()
      .hset(this.keys.specializedInvite(nonceHex), { state: InviteState.Admitted, member: memberHex });
  }

  /** Drops an invite (its answer was refused: a nonce is claimed once). */
  async drop(nonceHex: string): Promise<void> {
    await this.deps
      .redis()
      .multi()
      .del(this.keys.specializedInvite(nonceHex))
      .zrem(this.keys.specializedInvites, nonceHex)
      .exec();
  }

  /** The admitted node confirmed its join: the invite is done. False when it was not admitted. */
  async confirm(nonceHex: string): Promise<boolean> {
    const done = await this.deps
      .redis()
      .eval(CONFIRM, 2, this.keys.specializedInvite(nonceHex), this.keys.specializedInvites, nonceHex);
    return done === 1;
  }

  /** Pending invites, soonest to expire first. */
  async list(): Promise<PendingInvite[]> {
    const redis = this.deps.redis();
    await redis.zremrangebyscore(this.keys.specializedInvites, '-inf', Date.now());
    const nonces = await redis.zrange(this.keys.specializedInvites, '0', String(this.deps.max - 1));
    const invites: PendingInvite[] = [];
    for (const nonceHex of nonces) {
      const h = await redis.hgetall(this.keys.specializedInvite(nonceHex));
      if (!h.context) continue;
      invites.push({
        nonceHex,
        contextId: Buffer.from(h.context, 'hex'),
        state: h.state as InviteState,
        member: h.member ?? '',
        createdAtMs: Number(h.createdAt),
        expiresAtMs: Number(h.expiresAt),
      });
    }
    return invites;
  }

  /** How many are pending (for the gauge). */
  async count(): Promise<number> {
    const redis = this.deps.redis();
    await redis.zremrangebyscore(this.keys.specializedInvites, '-inf', Date.now());
    return redis.zcard(this.keys.specializedInvites);
  }
}
