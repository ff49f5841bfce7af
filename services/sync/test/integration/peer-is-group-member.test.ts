/**
 * Inbound-sync authorisation (`peerIsGroupMember`) against a real Postgres and Redis: the projection
 * at our governance heads decides, the live view is a cross-check, and a disagreement is logged as
 * unified_projection_divergence on the membership-sync plane.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import postgres from 'postgres';
import { Registry } from 'prom-client';
import { createCatalog } from '@cnode/bus';
import type { SyncClient } from '@cnode/context-core';
import {
  generateIdentity,
  groupIdOf,
  signGroupOp,
  signMemberAuth,
  verifyGroupOp,
  type Identity,
} from '@cnode/primitives';
import { wire } from '@cnode/proto';
import { GroupStore, IdentityRepo, runMigrations } from '@cnode/store';
import { TEST_INFRA, testLogger, uniqueNodeName } from '@cnode/testing';
import { createSyncMetrics } from '../../src/metrics.js';
import type { ResponderDeps } from '../../src/responder/deps.js';
import { peerIsGroupMember } from '../../src/responder/handle-sync-stream.js';

const node = uniqueNodeName('pm');
const schema = createCatalog(node).postgres.schema;
let sql: postgres.Sql;
let redis: Redis;
const lines: Record<string, unknown>[] = [];

beforeAll(async () => {
  sql = postgres(TEST_INFRA.databaseUrl, { max: 2, onnotice: () => undefined, connection: { search_path: schema } });
  await runMigrations(sql, { schema, logger: testLogger() });
  redis = new Redis(TEST_INFRA.redisUrl, { keyPrefix: createCatalog(node).redis.prefix, lazyConnect: true });
  await redis.connect();
});

afterAll(async () => {
  await sql`drop schema if exists ${sql(schema)} cascade`;
  await sql.end();
  redis.disconnect();
});

function deps(groups: GroupStore): { deps: ResponderDeps; registry: Registry } {
  const registry = new Registry();
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const refuseCatchUp = { isMemberCatchingUp: () => Promise.resolve(false) } as unknown as SyncClient;
  return {
    registry,
    deps: {
      groups,
      identities: new IdentityRepo(sql, Buffer.alloc(32, 1)),
      sync: refuseCatchUp,
      redis: () => redis,
      catalog: createCatalog(node),
      metrics: createSyncMetrics(registry),
      logger: pino({ level: 'info' }, sink),
    } as unknown as ResponderDeps,
  };
}

const role = (m: Identity, r: wire.GroupRole): wire.GroupOp => ({
  kind: { $case: 'setRole', setRole: { member: Buffer.from(m.publicKey), role: r } },
});

describe('peerIsGroupMember', () => {
  it('lets the projection decide when it and the live view disagree, and logs the membership-sync divergence', async () => {
    const groups = new GroupStore(sql, Buffer.alloc(32, 2));
    const admin = generateIdentity();
    const bob = generateIdentity();
    const groupId = groupIdOf(admin.publicKey, 1n);
    const genesis = signGroupOp({
      groupId,
      parents: [],
      signer: admin,
      nonce: 1n,
      op: { kind: { $case: 'addMember', addMember: { member: Buffer.from(admin.publicKey), role: 2 } } },
    });
    await groups.addSigned(genesis);
    const addBob = signGroupOp({
      groupId,
      parents: [verifyGroupOp(genesis).opId],
      signer: admin,
      nonce: 2n,
      op: { kind: { $case: 'addMember', addMember: { member: Buffer.from(bob.publicKey), role: 1 } } },
    });
    await groups.addSigned(addBob);
    // Two concurrent ops on bob's slot; nonces are tried until the role change wins (higher op id),
    // and it is applied first, so the live view (arrival order) ends with the removal.
    const parents = [verifyGroupOp(addBob).opId];
    let keep: wire.SignedGroupOpV1 | undefined;
    let removal: wire.SignedGroupOpV1 | undefined;
    for (let n = 10n; !keep; n += 2n) {
      const k = signGroupOp({
        groupId,
        parents,
        signer: admin,
        nonce: n,
        op: role(bob, wire.GroupRole.GROUP_ROLE_MEMBER),
      });
      const r = signGroupOp({
        groupId,
        parents,
        signer: admin,
        nonce: n + 1n,
        op: { kind: { $case: 'removeMember', removeMember: { member: Buffer.from(bob.publicKey) } } },
      });
      if (Buffer.compare(verifyGroupOp(k).opId, verifyGroupOp(r).opId) > 0) [keep, removal] = [k, r];
    }
    await groups.addSigned(keep);
    await groups.addSigned(removal!);
    expect(await groups.isMember(groupId, bob.publicKey)).toBe(false);
    expect((await groups.currentProjection(groupId))!.isMember(bob.publicKey)).toBe(true);

    const { deps: d, registry } = deps(groups);
    const peer = '12D3KooWBobPeer';
    const auth = signMemberAuth(bob, groupId, peer);
    const member = await peerIsGroupMember(d, auth, groupId, groupId, peer);
    expect(member?.equals(Buffer.from(bob.publicKey))).toBe(true);
    const line = lines.find((l) => l.msg === 'unified_projection_divergence');
    expect(line).toMatchObject({
      event: 'unified_projection_divergence',
      plane: 'membership-sync',
      group: groupId.toString('hex'),
      projection: 'member',
      live: 'removed',
      peer,
    });
    const counted = (await registry.getSingleMetric('unified_projection_divergence_total')!.get()).values;
    expect(counted.find((v) => v.labels.plane === 'membership-sync')?.value).toBe(1);

    // A proof for another peer id, or by a never-member, is refused.
    expect(await peerIsGroupMember(d, auth, groupId, groupId, 'someone-else')).toBeUndefined();
    const stranger = generateIdentity();
    expect(await peerIsGroupMember(d, signMemberAuth(stranger, groupId, peer), groupId, groupId, peer)).toBeUndefined();
  });
});
