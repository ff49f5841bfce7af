import { describe, expect, it } from '@jest/globals';
import { TopicValidatorResult } from '@libp2p/gossipsub';
import { Registry } from 'prom-client';
import { wire } from '@cnode/proto';
import { metricValue, testLogger } from '@cnode/testing';
import { GossipGuard } from '../../src/gossip/gossip-guard.js';
import { createNetworkMetrics } from '../../src/metrics.js';

const CONTEXT = '4fvcr9Ng8sAJgH1DNqA2fpu4aSfCvYbTgbDVMDXC6Pfh';
const valid = wire.BroadcastMessage.encode({
  payload: {
    $case: 'hashHeartbeat',
    hashHeartbeat: { contextId: Buffer.alloc(32), rootHash: Buffer.alloc(32), dagHeads: [] },
  },
}).finish();
/** A first tag of wire type 7, which does not exist: never decodes. */
const junk = Buffer.from([0x0f, 1, 2, 3]);

function guardWith(limits: { peerRate?: number; strikes?: number; banMs?: number } = {}) {
  let now = 1_000_000;
  const registry = new Registry();
  const hungUp: string[] = [];
  const guard = new GossipGuard(
    { peerRate: limits.peerRate ?? 100, strikes: limits.strikes ?? 3, banMs: limits.banMs ?? 60_000 },
    {
      metrics: createNetworkMetrics(registry),
      logger: testLogger(),
      hangUp: (p) => hungUp.push(p),
      registry,
      now: () => now,
    },
  );
  const rejected = (reason: string) =>
    metricValue(registry, 'network_gossip_rejected_total', { direction: 'in', reason });
  return { guard, hungUp, registry, rejected, advance: (ms: number) => (now += ms) };
}

describe('GossipGuard', () => {
  it('accepts a BroadcastMessage, rejects bytes that are none or of no variant, on context and group topics', async () => {
    const { guard, rejected } = guardWith({ strikes: 10 });
    expect(guard.check('P', CONTEXT, valid)).toBe(TopicValidatorResult.Accept);
    expect(guard.check('P', CONTEXT, junk)).toBe(TopicValidatorResult.Reject);
    expect(guard.check('P', `group/${'ab'.repeat(32)}`, junk)).toBe(TopicValidatorResult.Reject);
    // An empty message decodes as a BroadcastMessage without a variant.
    expect(guard.check('P', CONTEXT, new Uint8Array(0))).toBe(TopicValidatorResult.Reject);
    expect(await rejected('malformed')).toBe(2);
    expect(await rejected('unknown_variant')).toBe(1);
    // Other topics are not ours to shape-check.
    expect(guard.check('P', 'some-topic', junk)).toBe(TopicValidatorResult.Accept);
  });

  it('rejects an oversize message on any topic', async () => {
    const { guard, rejected } = guardWith();
    expect(guard.check('P', 'some-topic', new Uint8Array(1024 * 1024 + 1))).toBe(TopicValidatorResult.Reject);
    expect(await rejected('oversize')).toBe(1);
  });

  it('bans a peer at its strikes within a minute: hung up, refused until the ban ends', async () => {
    const { guard, hungUp, registry, rejected, advance } = guardWith({ strikes: 3, banMs: 60_000 });
    guard.check('P', CONTEXT, junk);
    advance(61_000);
    // The first strike is older than a minute: two more do not ban.
    guard.check('P', CONTEXT, junk);
    guard.check('P', CONTEXT, junk);
    expect(guard.isBanned('P')).toBe(false);
    guard.check('P', CONTEXT, junk);
    expect(guard.isBanned('P')).toBe(true);
    expect(hungUp).toEqual(['P']);
    expect(await metricValue(registry, 'network_peers_banned_total', { reason: 'malformed' })).toBe(1);
    // Both maps are bounded caches whose bound and size show in the metrics.
    expect(await metricValue(registry, 'cache_capacity', { cache: 'gossip_guard_bans' })).toBe(4096);
    expect(await metricValue(registry, 'cache_entries', { cache: 'gossip_guard_bans' })).toBe(1);
    // Whatever it still sends is ignored and counted; another peer is unaffected.
    expect(guard.check('P', CONTEXT, valid)).toBe(TopicValidatorResult.Ignore);
    expect(await rejected('banned')).toBe(1);
    expect(guard.check('Q', CONTEXT, valid)).toBe(TopicValidatorResult.Accept);
    advance(60_001);
    expect(guard.isBanned('P')).toBe(false);
    expect(guard.check('P', CONTEXT, valid)).toBe(TopicValidatorResult.Accept);
  });

  it("ignores a peer's messages past its rate (a bucket of two seconds' worth), and refills", async () => {
    const { guard, rejected, advance } = guardWith({ peerRate: 10 });
    const results = Array.from({ length: 25 }, () => guard.check('P', CONTEXT, valid));
    expect(results.filter((r) => r === TopicValidatorResult.Accept)).toHaveLength(20);
    expect(results.slice(20).every((r) => r === TopicValidatorResult.Ignore)).toBe(true);
    expect(await rejected('peer_rate')).toBe(5);
    expect(guard.check('Q', CONTEXT, valid)).toBe(TopicValidatorResult.Accept);
    advance(500);
    expect(
      Array.from({ length: 6 }, () => guard.check('P', CONTEXT, valid)).filter(
        (r) => r === TopicValidatorResult.Accept,
      ),
    ).toHaveLength(5);
  });

  it('counts strikes other services report, bans at the bound, and labels unknown reasons other', async () => {
    const { guard, hungUp, registry } = guardWith({ strikes: 5 });
    expect(guard.report('P', 'not_member', 3)).toBe(false);
    expect(guard.report('P', 'whatever', 1)).toBe(false);
    expect(guard.report('P', 'not_member', 1)).toBe(true);
    expect(hungUp).toEqual(['P']);
    expect(await metricValue(registry, 'network_peer_reports_total', { reason: 'not_member' })).toBe(4);
    expect(await metricValue(registry, 'network_peer_reports_total', { reason: 'other' })).toBe(1);
    expect(await metricValue(registry, 'network_peers_banned_total', { reason: 'reported_not_member' })).toBe(1);
    // A huge count is one ban's worth, not more.
    expect(guard.report('Q', 'bad_signature', 1_000_000)).toBe(true);
    expect(await metricValue(registry, 'network_peer_reports_total', { reason: 'bad_signature' })).toBe(5);
  });
});
