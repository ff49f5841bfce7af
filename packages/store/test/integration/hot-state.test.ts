import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import postgres from 'postgres';
import { generateIdentity, groupIdOf, keyIdOf, signGroupOp, verifyGroupOp, type Identity } from '@cnode/primitives';
import { wire } from '@cnode/proto';
import { Registry } from '@cnode/runtime';
import { TEST_INFRA, testLogger, waitFor } from '@cnode/testing';
import {
  AliasRepo,
  GovernancePendingRepo,
  GroupOpOutcome,
  GroupStore,
  HotState,
  IdentityRepo,
  StateStore,
  hotStateChannel,
  type Sql,
} from '../../src/index.js';
import { freshSchema } from './state-harness.js';

/**
 * One process holds the hot state (pool `db.sql`); another process of the node changes the rows
 * through its own pool (`other`): only the database's notifications can tell the first.
 */
let db: Awaited<ReturnType<typeof freshSchema>>;
let other: Sql;
let hot: HotState;
let registry: Registry;
const masterKey = randomBytes(32);

function repos(sql: Sql) {
  return {
    states: new StateStore(sql),
    groups: new GroupStore(sql, masterKey),
    identities: new IdentityRepo(sql, masterKey),
    aliases: new AliasRepo(sql),
    pending: new GovernancePendingRepo(sql),
  };
}

beforeAll(async () => {
  db = await freshSchema();
  other = postgres(TEST_INFRA.databaseUrl, {
    max: 2,
    onnotice: () => undefined,
    connection: { search_path: `"${db.schema}",public` },
  });
  const mine = repos(db.sql);
  registry = new Registry();
  hot = new HotState({
    sql: () => db.sql,
    channel: hotStateChannel(db.schema),
    stores: () => mine,
    limits: { entries: 100, maxAgeMs: 60_000 },
    registry,
    logger: testLogger(),
  });
  await hot.start();
});

afterAll(async () => {
  await hot.stop();
  await other.end({ timeout: 2 });
  await db.drop();
});

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const found = (await registry.getSingleMetric(name)!.get()).values.find((v) =>
    Object.entries(labels).every(([k, want]) => v.labels[k] === want),
  );
  return found?.value ?? 0;
}

/**
 * The value of a lookup served from `cache`: one made right after another, once the notifications
 * of the writes before it are in (a late one drops what was just cached, and the lookup misses).
 */
async function cachedLookup<T>(cache: string, lookup: () => Promise<T>, what: string): Promise<T> {
  const hits = () => metric('cache_lookups_total', { cache, result: 'hit' });
  return (
    await waitFor(
      async () => {
        await lookup();
        const hitsBefore = await hits();
        const value = await lookup();
        return (await hits()) === hitsBefore + 1 ? { value } : undefined;
      },
      { message: `a repeated ${what} lookup to be a cache hit` },
    )
  ).value;
}

const add = (m: Identity, role: wire.GroupRole): wire.GroupOp => ({
  kind: { $case: 'addMember', addMember: { member: Buffer.from(m.publicKey), role } },
});

describe('HotState (real Postgres, changes made by another connection)', () => {
  it('caches group keys, standings and heads, and drops them when another process changes the group', async () => {
    const elsewhere = repos(other);
    const admin = generateIdentity();
    const bob = generateIdentity();
    const groupId = groupIdOf(admin.publicKey, 1n);
    const genesis = signGroupOp({
      groupId,
      parents: [],
      signer: admin,
      nonce: 1n,
      op: add(admin, wire.GroupRole.GROUP_ROLE_ADMIN),
    });
    expect((await elsewhere.groups.addSigned(genesis)).outcome).toBe(GroupOpOutcome.Applied);
    const firstKey = randomBytes(32);
    await elsewhere.groups.putKey(groupId, keyIdOf(firstKey), firstKey);

    await waitFor(async () => (await hot.keysOf(groupId)).size === 1, { message: 'the first key' });
    expect(await hot.standing(groupId, bob.publicKey)).toEqual({ live: 'never_member' });
    expect(await hot.headsOf(groupId)).toEqual([verifyGroupOp(genesis).opId]);
    expect(await cachedLookup('hot_member_standing', () => hot.standing(groupId, bob.publicKey), 'standing')).toEqual({
      live: 'never_member',
    });

    const addBob = signGroupOp({
      groupId,
      parents: [verifyGroupOp(genesis).opId],
      signer: admin,
      nonce: 2n,
      op: add(bob, wire.GroupRole.GROUP_ROLE_MEMBER),
    });
    expect((await elsewhere.groups.addSigned(addBob)).outcome).toBe(GroupOpOutcome.Applied);
    const secondKey = randomBytes(32);
    await elsewhere.groups.putKey(groupId, keyIdOf(secondKey), secondKey);

    await waitFor(async () => (await hot.standing(groupId, bob.publicKey)).live === 'member', {
      message: 'bob a member in the hot state',
    });
    expect(await hot.role(groupId, bob.publicKey)).toBe(wire.GroupRole.GROUP_ROLE_MEMBER);
    expect([...(await hot.keysOf(groupId)).keys()].sort()).toEqual(
      [keyIdOf(firstKey).toString('hex'), keyIdOf(secondKey).toString('hex')].sort(),
    );
    expect(await hot.headsOf(groupId)).toEqual([verifyGroupOp(addBob).opId]);
    expect(await metric('cache_evictions_total', { cache: 'hot_group_keys', reason: 'invalidated' })).toBeGreaterThan(
      0,
    );
  });

  it('context settings follow initialization and leaving, but not the writes that move the root', async () => {
    const elsewhere = repos(other);
    const contextId = randomBytes(32);
    const groupId = randomBytes(32);
    await elsewhere.states.createContext(contextId, { groupId, initialized: false });
    expect(await hot.contextSettings(contextId)).toMatchObject({ groupId, initialized: false });

    const invalidated = () => metric('cache_evictions_total', { cache: 'hot_context_settings', reason: 'invalidated' });
    const before = await invalidated();
    await other`update contexts set root_hash = ${randomBytes(32)} where id = ${contextId}`;
    await other`update contexts set initialized = true where id = ${contextId}`;
    await waitFor(async () => (await hot.contextSettings(contextId))?.initialized === true, {
      message: 'the context initialized in the hot state',
    });
    // Only the initialization notified: the root write left the entry alone.
    expect(await invalidated()).toBe(before + 1);

    await elsewhere.states.deleteContext(contextId);
    await waitFor(async () => (await hot.contextSettings(contextId)) === undefined, { message: 'the context gone' });
  });

  it('our identities in a context and aliases (absent ones too) change when another process adds them', async () => {
    const elsewhere = repos(other);
    const contextId = randomBytes(32);
    await elsewhere.states.createContext(contextId, { groupId: randomBytes(32) });
    const me = generateIdentity();
    expect(await hot.ownedIdentities(contextId)).toEqual([]);
    expect(await hot.alias('context', 'shop')).toBeUndefined();

    await elsewhere.identities.addOwned(contextId, me);
    await elsewhere.aliases.create('context', 'shop', contextId);
    await waitFor(async () => (await hot.isOwned(contextId, me.publicKey)) && !!(await hot.alias('context', 'shop')), {
      message: 'the identity and the alias in the hot state',
    });
    expect(await hot.ownedIdentities(contextId)).toEqual([me]);
    expect(await hot.alias('context', 'shop')).toEqual(contextId);
  });

  it('remembers only "nothing pending", and a parked delta elsewhere ends it', async () => {
    const elsewhere = repos(other);
    const contextId = randomBytes(32);
    await elsewhere.states.createContext(contextId, { groupId: randomBytes(32) });
    expect(await hot.noGovernancePending(contextId)).toBe(true);
    await elsewhere.pending.park({ contextId, deltaId: randomBytes(32), sourcePeer: null, delta: randomBytes(8) });
    await waitFor(async () => !(await hot.noGovernancePending(contextId)), { message: 'the parked delta seen' });
    const misses = await metric('cache_lookups_total', { cache: 'hot_governance_pending_empty', result: 'miss' });
    // "Something pending" is read again every time: a drain may have emptied the buffer.
    expect(await hot.noGovernancePending(contextId)).toBe(false);
    expect(await metric('cache_lookups_total', { cache: 'hot_governance_pending_empty', result: 'miss' })).toBe(
      misses + 1,
    );
  });

  it('drops everything when its listening connection comes back (notifications may have been missed)', async () => {
    const contextId = randomBytes(32);
    await repos(other).states.createContext(contextId, { groupId: randomBytes(32) });
    expect(await hot.contextSettings(contextId)).toBeDefined();
    expect(await cachedLookup('hot_context_settings', () => hot.contextSettings(contextId), 'settings')).toBeDefined();

    const killed = await other<{ n: number }[]>`
      select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
      where query like 'listen%' and query like ${`%${db.schema}.hot%`}`;
    expect(killed[0]!.n).toBe(1);
    const cleared = () => metric('cache_entries', { cache: 'hot_context_settings' });
    await waitFor(async () => (await cleared()) === 0, { timeoutMs: 30_000, message: 'the hot state cleared' });
    const missesBefore = await metric('cache_lookups_total', { cache: 'hot_context_settings', result: 'miss' });
    await hot.contextSettings(contextId);
    expect(await metric('cache_lookups_total', { cache: 'hot_context_settings', result: 'miss' })).toBe(
      missesBefore + 1,
    );
  });
});
