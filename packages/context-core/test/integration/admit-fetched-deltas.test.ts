import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { wire } from '@cnode/proto';
import {
  HlcClock,
  createDelta,
  generateIdentity,
  groupIdOf,
  keyIdOf,
  signGroupOp,
  verifyGroupOp,
  ZERO_ID,
  type Identity,
} from '@cnode/primitives';
import { GroupOpOutcome, GroupStore, StateStore, type CommittedEvents } from '@cnode/store';
import { freshSchema, testLogger } from '@cnode/testing';
import { DeltaOutcomeLabel, admitFetchedDeltas, type AdmissionDeps, type HostedContext } from '../../src/index.js';

let db: Awaited<ReturnType<typeof freshSchema>>;
let deps: AdmissionDeps;
/** What the store reported committed to the outbox (a service publishes it at once). */
const committed: CommittedEvents[] = [];

beforeAll(async () => {
  db = await freshSchema();
  deps = {
    states: new StateStore(db.sql, undefined, {
      publishCommitted: (events) => void committed.push(events),
      publishingFor: () => [],
    }),
    groups: new GroupStore(db.sql, randomBytes(32)),
    logger: testLogger(),
  };
});

afterAll(async () => {
  await db.drop();
});

const { GROUP_ROLE_ADMIN: ADMIN, GROUP_ROLE_MEMBER: MEMBER } = wire.GroupRole;

/** A hosted context in a group of `admin` and `member`, with the group key stored. */
async function hostedContext(admin: Identity, member: Identity) {
  const groupId = groupIdOf(admin.publicKey, 1n);
  const add = (m: Identity, role: wire.GroupRole): wire.GroupOp => ({
    kind: { $case: 'addMember', addMember: { member: Buffer.from(m.publicKey), role } },
  });
  const genesis = signGroupOp({ groupId, parents: [], signer: admin, nonce: 1n, op: add(admin, ADMIN) });
  expect((await deps.groups.addSigned(genesis)).outcome).toBe(GroupOpOutcome.Applied);
  const addMember = signGroupOp({
    groupId,
    parents: [verifyGroupOp(genesis).opId],
    signer: admin,
    nonce: 2n,
    op: add(member, MEMBER),
  });
  expect((await deps.groups.addSigned(addMember)).outcome).toBe(GroupOpOutcome.Applied);
  const groupKey = randomBytes(32);
  await deps.groups.putKey(groupId, keyIdOf(groupKey), groupKey);
  const ctx: HostedContext = { id: randomBytes(32), groupId };
  await deps.states.createContext(ctx.id, { groupId });
  return { ctx, groupKey, cut: [verifyGroupOp(addMember).opId] };
}

/** One-key writes of `author` in the context (`k<n>` = `v`), on `parents`, citing `governanceHeads`. */
function writesOf(author: Identity, ctx: HostedContext, groupKey: Buffer) {
  const clock = new HlcClock(randomBytes(16));
  return (parents: Buffer[], n: number, governanceHeads: Buffer[]) =>
    createDelta({
      contextId: ctx.id,
      parents,
      actions: [{ kind: 'set', key: Buffer.from(`k${n}`), value: Buffer.from('v'), at: clock.now() }],
      hlc: clock.now(),
      author,
      governanceHeads,
      groupKey,
      rootHash: randomBytes(32),
    });
}

/** Deterministic shuffle (a fetched answer may come in any order). */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let x = seed;
  for (let i = out.length - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('admitFetchedDeltas (real Postgres)', () => {
  it('applies a shuffled chain in causal order in one batch and refuses only the bad deltas, each with its reason', async () => {
    const [admin, member, outsider] = [generateIdentity(), generateIdentity(), generateIdentity()];
    const { ctx, groupKey, cut } = await hostedContext(admin, member);
    const clock = new HlcClock(randomBytes(16));
    const sealed = (author: Identity, parents: Buffer[], n: number, key = groupKey, contextId = ctx.id) =>
      createDelta({
        contextId,
        parents,
        actions: [{ kind: 'set', key: Buffer.from(`k${n}`), value: Buffer.from(`v${n}`), at: clock.now() }],
        hlc: clock.now(),
        author,
        governanceHeads: cut,
        groupKey: key,
        rootHash: randomBytes(32),
      });
    const chain: wire.StateDelta[] = [];
    let parent = ZERO_ID;
    for (let n = 0; n < 20; n++) {
      const delta = sealed(n % 2 ? member : admin, [parent], n);
      chain.push(delta);
      parent = Buffer.from(delta.deltaId);
    }
    const forged = { ...sealed(member, [parent], 100), signature: randomBytes(64) };
    const nonMember = sealed(outsider, [parent], 101);
    const wrongKey = sealed(member, [parent], 102, randomBytes(32));
    const otherContext = sealed(member, [parent], 103, groupKey, randomBytes(32));
    const bad = [forged, nonMember, wrongKey, otherContext];
    const batch = shuffled([...chain, ...bad, chain[7]!], 7);

    committed.length = 0;
    const { labels, result } = await admitFetchedDeltas(deps, ctx, batch);
    const labelOf = (d: wire.StateDelta) => labels[batch.indexOf(d)];
    expect(labelOf(forged)).toBe(DeltaOutcomeLabel.BadSignature);
    expect(labelOf(nonMember)).toBe(DeltaOutcomeLabel.NotMember);
    expect(labelOf(wrongKey)).toBe(DeltaOutcomeLabel.KeyUnknown);
    // A well-signed delta of another context has no place in this one's answer.
    expect(labelOf(otherContext)).toBe(DeltaOutcomeLabel.Malformed);
    // Every chain delta applied (none pending: the batch was ordered), the repeat stored once.
    const chainLabels = batch.flatMap((d, i) => (bad.includes(d) ? [] : [labels[i]]));
    expect(chainLabels.filter((l) => l === DeltaOutcomeLabel.Applied)).toHaveLength(20);
    expect(chainLabels.filter((l) => l === DeltaOutcomeLabel.Duplicate)).toHaveLength(1);
    expect(result!.applied).toHaveLength(20);
    // One commit, one node event per applied delta, first in the context's order (none waited).
    expect(committed).toHaveLength(1);
    expect(committed[0]!.events).toHaveLength(20);
    expect(committed[0]!.first).toBe(true);
    expect(await deps.states.pendingCount(ctx.id)).toBe(0);
    const state = (await deps.states.context(ctx.id))!;
    expect(state.heads).toEqual([parent]);
    expect(state.rootHash).toEqual(await deps.states.recomputeRootHash(ctx.id));
    expect((await deps.states.entries(ctx.id)).map((e) => e.key.toString()).sort()).toEqual(
      chain.map((_, n) => `k${n}`).sort(),
    );

    // Fetched again (a redelivered answer): all known, nothing written.
    const again = await admitFetchedDeltas(deps, ctx, chain);
    expect(again.labels).toEqual(chain.map(() => DeltaOutcomeLabel.Duplicate));
    expect(again.result).toBeUndefined();
  });

  it('judges an author at the cut its delta cites, as gossip does, not by who is a member now', async () => {
    const [admin, member] = [generateIdentity(), generateIdentity()];
    const { ctx, groupKey, cut } = await hostedContext(admin, member);
    const write = writesOf(member, ctx, groupKey);
    // The member writes, then is removed; its write reaches us only after the removal.
    const beforeRemoval = write([ZERO_ID], 0, cut);
    const removal = signGroupOp({
      groupId: ctx.groupId,
      parents: cut,
      signer: admin,
      nonce: 3n,
      op: { kind: { $case: 'removeMember', removeMember: { member: Buffer.from(member.publicKey) } } },
    });
    expect((await deps.groups.addSigned(removal)).outcome).toBe(GroupOpOutcome.Applied);
    expect(await deps.groups.isMember(ctx.groupId, member.publicKey)).toBe(false);
    // Signed at a cut where it was a member: every node that knows that cut applies it, so none waits
    // on it for good. A write citing the removal is refused, and one citing no cut at all.
    const afterRemoval = write([Buffer.from(beforeRemoval.deltaId)], 1, [verifyGroupOp(removal).opId]);
    const noCut = write([Buffer.from(beforeRemoval.deltaId)], 2, []);
    // A cut we do not know (an op we lack) and an author who is no member now: not admitted yet.
    const unknownCut = write([Buffer.from(beforeRemoval.deltaId)], 3, [randomBytes(32)]);
    const { labels } = await admitFetchedDeltas(deps, ctx, [beforeRemoval, afterRemoval, noCut, unknownCut]);
    expect(labels).toEqual([
      DeltaOutcomeLabel.Applied,
      DeltaOutcomeLabel.NotMember,
      DeltaOutcomeLabel.NoGovernancePosition,
      DeltaOutcomeLabel.GovernancePending,
    ]);
  });

  it('keeps a delta whose parent is missing pending and names the parent', async () => {
    const [admin, member] = [generateIdentity(), generateIdentity()];
    const { ctx, groupKey, cut } = await hostedContext(admin, member);
    const writeAt = writesOf(member, ctx, groupKey);
    const write = (parents: Buffer[], n: number) => writeAt(parents, n, cut);
    const first = write([ZERO_ID], 0);
    const second = write([Buffer.from(first.deltaId)], 1);
    const third = write([Buffer.from(second.deltaId)], 2);
    const gapped = await admitFetchedDeltas(deps, ctx, [third, first]);
    expect(gapped.labels).toEqual([DeltaOutcomeLabel.Pending, DeltaOutcomeLabel.Applied]);
    expect(gapped.result!.missingParents).toEqual([Buffer.from(second.deltaId)]);
    const filled = await admitFetchedDeltas(deps, ctx, [second]);
    expect(filled.labels).toEqual([DeltaOutcomeLabel.Applied]);
    // The parent cascades the pending delta in the same transaction.
    expect(filled.result!.applied).toEqual([Buffer.from(second.deltaId), Buffer.from(third.deltaId)]);
    expect(await deps.states.pendingCount(ctx.id)).toBe(0);
  });

  it('a fetched delta stored pending whose parents are all applied (a missed wait) is applied, labelled revived', async () => {
    const [admin, member] = [generateIdentity(), generateIdentity()];
    const { ctx, groupKey, cut } = await hostedContext(admin, member);
    const writeAt = writesOf(member, ctx, groupKey);
    const first = writeAt([ZERO_ID], 0, cut);
    const second = writeAt([Buffer.from(first.deltaId)], 1, cut);
    expect((await admitFetchedDeltas(deps, ctx, [second])).labels).toEqual([DeltaOutcomeLabel.Pending]);
    await db.sql`delete from delta_waits where context_id = ${ctx.id}`;
    expect((await admitFetchedDeltas(deps, ctx, [first])).labels).toEqual([DeltaOutcomeLabel.Applied]);
    expect(await deps.states.pendingCount(ctx.id)).toBe(1);
    // A peer's catch-up answer brings both again: the applied one is a repeat, the stuck one applies.
    const again = await admitFetchedDeltas(deps, ctx, [first, second]);
    expect(again.labels).toEqual([DeltaOutcomeLabel.Duplicate, DeltaOutcomeLabel.Revived]);
    expect(await deps.states.pendingCount(ctx.id)).toBe(0);
    expect((await deps.states.context(ctx.id))!.heads).toEqual([Buffer.from(second.deltaId)]);
  });
});
