import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { admin } from '@cnode/proto';
import { ZERO_ID, encodeHlc, toBase58 } from '@cnode/primitives';
import { StateStore } from '../../src/index.js';
import { Author, freshSchema, localWriter } from './state-harness.js';

let db: Awaited<ReturnType<typeof freshSchema>>;
let store: StateStore;

beforeAll(async () => {
  db = await freshSchema();
  store = new StateStore(db.sql);
});

afterAll(async () => {
  await db.drop();
});

const { me, clock, set, seal } = localWriter();

async function outboxEvents(contextId: Buffer): Promise<admin.NodeEvent[]> {
  const rows = await db.sql<{ payload: Buffer }[]>`
    select payload from node_event_outbox where context_id = ${contextId} order by seq`;
  return rows.map((r) => admin.NodeEvent.decode(r.payload));
}

describe('local commits and serving peers (real Postgres)', () => {
  it('a local delta takes every head as parent, seals with the post-apply root and queues its event', async () => {
    const contextId = randomBytes(32);
    await store.createContext(contextId);
    const remote = new Author();
    const other = remote.write(contextId, [{ key: 'r', value: '1' }]);
    await store.addDelta(other);

    const result = await store.commitLocal(
      contextId,
      me.publicKey,
      [set('k', 'v')],
      [{ kind: 'e', data: Buffer.from('x') }],
      seal(contextId),
    );
    expect(result.delta.parents.map(toBase58)).toEqual([toBase58(other.deltaId)]);
    expect(result.heads).toEqual([result.delta.deltaId]);
    // The seal saw the root the state has after the commit.
    expect(result.delta.ciphertext.equals(await store.recomputeRootHash(contextId))).toBe(true);
    expect((await store.context(contextId))?.rootHash.equals(result.rootHash)).toBe(true);
    expect((await store.get(contextId, Buffer.from('k')))?.toString()).toBe('v');

    const events = await outboxEvents(contextId);
    expect(events.map((e) => (e.event?.$case === 'stateMutation' ? e.event.stateMutation.local : undefined))).toEqual([
      false,
      true,
    ]);
    const last = events[1]!.event;
    expect(last?.$case === 'stateMutation' && last.stateMutation.events[0]?.kind).toBe('e');
  });

  it('reads the newest HLC among the heads by primary-key probes, whatever the statistics say', async () => {
    const contextId = randomBytes(32);
    await store.createContext(contextId);
    expect(await store.headsHlc(contextId)).toBeUndefined();
    // Two authors write on genesis: two heads.
    const branches = [new Author(), new Author()].map((a, i) => a.write(contextId, [{ key: `b${i}`, value: '1' }]));
    for (const d of branches) await store.addDelta(d);
    expect((await store.context(contextId))?.heads).toHaveLength(2);
    const newest = branches.map((d) => encodeHlc(d.hlc)).sort((x, y) => Buffer.compare(x, y))[1]!;
    expect(encodeHlc((await store.headsHlc(contextId))!)).toEqual(newest);

    // Statistics that call the table tiny (what a young table without autovacuum has) make a
    // join on the heads scan the whole history; the read must probe the primary key instead.
    await db.sql`analyze deltas`;
    const scans = await db.sql.begin(async (tx) => {
      // This backend's counts not yet flushed to the shared statistics: read before and after.
      const count = async () =>
        (
          await tx<{ seq: string; idx: string }[]>`
            select seq_scan as seq, idx_scan as idx from pg_stat_xact_user_tables
            where schemaname = current_schema() and relname = 'deltas'`
        )[0]!;
      const before = await count();
      for (let i = 0; i < 3; i++) await tx`select context_heads_hlc(${contextId})`;
      const after = await count();
      return { seq: Number(after.seq) - Number(before.seq), idx: Number(after.idx) - Number(before.idx) };
    });
    expect(scans.seq).toBe(0);
    // One probe per head, per read.
    expect(scans.idx).toBe(6);
  });

  it('scans live keys by prefix with a cursor', async () => {
    const contextId = randomBytes(32);
    await store.createContext(contextId);
    await store.commitLocal(
      contextId,
      me.publicKey,
      [set('a/1', '1'), set('a/2', '2'), set('a/3', '3'), set('b/1', 'x')],
      [],
      seal(contextId),
    );
    await store.commitLocal(
      contextId,
      me.publicKey,
      [{ kind: 'remove', key: Buffer.from('a/2'), at: clock.now() }],
      [],
      seal(contextId),
    );
    const page = await store.scan(contextId, Buffer.from('a/'), undefined, 10);
    expect(page.map((e) => e.key.toString())).toEqual(['a/1', 'a/3']);
    const after = await store.scan(contextId, Buffer.from('a/'), Buffer.from('a/1'), 1);
    expect(after.map((e) => e.key.toString())).toEqual(['a/3']);
  });

  it('serves a wanted delta with its ancestors down to the known heads, ancestors first', async () => {
    const contextId = randomBytes(32);
    await store.createContext(contextId);
    const author = new Author();
    const chain = Array.from({ length: 6 }, (_, i) => author.write(contextId, [{ key: `k${i}`, value: `${i}` }]));
    for (const d of chain) await store.addDelta(d);
    const ids = chain.map((d) => toBase58(d.deltaId));

    const all = await store.deltasForPeer(contextId, [chain[5]!.deltaId], [ZERO_ID], 100);
    expect(all.deltas.map((d) => toBase58(d.deltaId))).toEqual(ids);
    expect(all.truncated).toBe(false);

    const sinceKnown = await store.deltasForPeer(contextId, [chain[5]!.deltaId], [chain[2]!.deltaId], 100);
    expect(sinceKnown.deltas.map((d) => toBase58(d.deltaId))).toEqual(ids.slice(3));

    // Capped: the oldest of the gap come first, so the requester can apply each answer at once.
    const capped = await store.deltasForPeer(contextId, [chain[5]!.deltaId], [], 2);
    expect(capped.deltas.map((d) => toBase58(d.deltaId))).toEqual(ids.slice(0, 2));
    expect(capped.truncated).toBe(true);
    const next = await store.deltasForPeer(contextId, [chain[5]!.deltaId], [chain[1]!.deltaId], 2);
    expect(next.deltas.map((d) => toBase58(d.deltaId))).toEqual(ids.slice(2, 4));

    // Heads the store never saw bound nothing: newest first gives the top of the gap (still sent
    // parents first), and the requester asks next for the parents it still misses.
    const newest = await store.deltasForPeer(contextId, [chain[5]!.deltaId], [randomBytes(32)], 2, {
      newestFirst: true,
    });
    expect(newest.deltas.map((d) => toBase58(d.deltaId))).toEqual(ids.slice(4, 6));
    expect(newest.truncated).toBe(true);

    // A known id off the walked path still tells what the peer holds: its ancestors are left out.
    const other = new Author();
    other.learn(chain.slice(0, 3));
    const side = other.write(contextId, [{ key: 'side', value: 's' }]);
    await store.addDelta(side);
    const aside = await store.deltasForPeer(contextId, [chain[5]!.deltaId], [side.deltaId], 100);
    expect(aside.deltas.map((d) => toBase58(d.deltaId))).toEqual(ids.slice(3));
  });
});
