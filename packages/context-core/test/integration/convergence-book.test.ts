/** The convergence bookkeeping against a real Redis: records per aspect, forgetting, episodes. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { createCatalog, type Catalog } from '@cnode/bus';
import { toBase58 } from '@cnode/primitives';
import { TEST_INFRA, uniqueNodeName } from '@cnode/testing';
import {
  CONVERGENCE_MAX_PEERS,
  forgetPeers,
  readConvergenceBook,
  readPeers,
  recordConvergence,
  recordPeer,
} from '../../src/index.js';

let redis: Redis;
let catalog: Catalog;
const ctx = Buffer.alloc(32, 7);
const state = (atMs: number) => ({ initialized: true, rootHash: 'aa', heads: ['bb'], atMs, via: 'probe' as const });

beforeAll(() => {
  catalog = createCatalog(uniqueNodeName());
  redis = new Redis(TEST_INFRA.redisUrl, { keyPrefix: catalog.redis.prefix });
});

afterAll(async () => {
  for (const n of [1, 7, 9]) {
    const b58 = toBase58(Buffer.alloc(32, n));
    await redis.del(catalog.redis.convergencePeers(b58), catalog.redis.convergenceBook(b58));
  }
  redis.disconnect();
});

describe('convergence bookkeeping', () => {
  it('keeps a peer state, session and failure apart; a new state clears the failure', async () => {
    const id = Buffer.alloc(32, 1);
    await recordPeer(redis, catalog, id, 'P1', { state: state(10) });
    await recordPeer(redis, catalog, id, 'P1', {
      session: { protocol: 'none', outcome: 'ok', bytesSent: 1, bytesReceived: 2, durationMs: 3, atMs: 11 },
    });
    await recordPeer(redis, catalog, id, 'P1', { failure: { reason: 'timeout', message: 'slow', atMs: 12 } });
    let [p] = await readPeers(redis, catalog, id);
    expect(p).toMatchObject({
      peer: 'P1',
      state: { atMs: 10 },
      session: { outcome: 'ok' },
      failure: { reason: 'timeout' },
    });
    await recordPeer(redis, catalog, id, 'P1', { state: state(13) });
    [p] = await readPeers(redis, catalog, id);
    expect(p?.failure).toBeUndefined();
    expect(p?.session?.outcome).toBe('ok');
    expect(await redis.pttl(catalog.redis.convergencePeers(toBase58(id)))).toBeGreaterThan(0);
  });

  it('forgets peers unheard of too long, and the oldest past the bound', async () => {
    const now = 10_000_000;
    for (let i = 0; i < CONVERGENCE_MAX_PEERS + 3; i++) {
      await recordPeer(redis, catalog, ctx, `Q${i}`, { state: state(now - 1000 - i) });
    }
    await recordPeer(redis, catalog, ctx, 'OLD', { state: state(now - 600_000) });
    const all = await readPeers(redis, catalog, ctx);
    expect(all).toHaveLength(CONVERGENCE_MAX_PEERS + 4);
    const result = await forgetPeers(redis, catalog, ctx, all, 300_000, now);
    expect(result).toMatchObject({ stale: 1, bound: 3 });
    const left = (await readPeers(redis, catalog, ctx)).map((p) => p.peer);
    expect(left).toHaveLength(CONVERGENCE_MAX_PEERS);
    expect(left).not.toContain('OLD');
    // The three heard of longest ago went.
    for (const gone of ['Q64', 'Q65', 'Q66']) expect(left).not.toContain(gone);
  });

  it('counts an episode only on the step from converged to not converged', async () => {
    const id = Buffer.alloc(32, 9);
    expect((await recordConvergence(redis, catalog, id, false, 100)).episodeBegan).toBe(false);
    expect(await readConvergenceBook(redis, catalog, id)).toMatchObject({ episodes: 0, divergedSinceMs: 100 });
    await recordConvergence(redis, catalog, id, true, 200);
    expect((await recordConvergence(redis, catalog, id, false, 300)).episodeBegan).toBe(true);
    expect((await recordConvergence(redis, catalog, id, false, 400)).episodeBegan).toBe(false);
    expect(await readConvergenceBook(redis, catalog, id)).toEqual({
      convergedAtMs: 200,
      divergedSinceMs: 300,
      episodes: 1,
      converged: false,
    });
    await recordConvergence(redis, catalog, id, true, 500);
    expect(await readConvergenceBook(redis, catalog, id)).toMatchObject({ convergedAtMs: 500, divergedSinceMs: 0 });
  });
});
