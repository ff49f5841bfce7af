import {
  compareHlc,
  groupIdOf,
  keyIdOf,
  publicKeyOf,
  signGroupOp,
  verifyGroupOp,
  type Action,
  type Identity,
} from '@cnode/primitives';
import { wire } from '@cnode/proto';
import { GroupOpOutcome } from '@cnode/store';
import { Rng } from './rng.js';
import { SimNetwork, type FaultTally, type NetworkFaults } from './sim-network.js';
import type { SimNode } from './sim-node.js';

/** Keys the workload writes: few, so concurrent writes collide. */
const KEYS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
/** Simulated milliseconds of workload and faults; then the network heals. */
const WORKLOAD_MS = 2_000;
/** After healing, rounds of every node syncing with every other before non-convergence is a failure. */
const MAX_HEAL_ROUNDS = 6;
/** A fixed HLC epoch: a history's timestamps depend on its seed only. */
export const EPOCH_MS = Date.UTC(2026, 0, 1);

/** What one history did: its draws, its faults, the protocols its syncs ran. */
export interface HistoryReport {
  seed: string;
  nodes: number;
  /** Nodes that started without state (they joined and must be given a snapshot). */
  lateJoiners: number;
  writes: { calls: number; acked: number; skipped: number };
  faults: FaultTally & { partitions: number; restarts: number };
  syncs: { runs: number; failed: number; protocols: Record<string, number>; errors: Record<string, number> };
  /** Heal rounds until every node agreed. */
  healRounds: number;
}

/** A convergence check that failed: the history's seed and what differed. */
export class HistoryFailure extends Error {
  constructor(
    readonly seed: string,
    message: string,
    readonly report: HistoryReport,
  ) {
    super(`history ${seed}: ${message}`);
  }
}

export function identityFrom(rng: Rng): Identity {
  const privateKey = rng.bytes(32);
  return { privateKey, publicKey: publicKeyOf(privateKey) };
}

/** The faults a history draws: from a perfect network to a very lossy one. */
function drawFaults(rng: Rng): NetworkFaults {
  return {
    loss: rng.pick([0, 0.05, 0.2, 0.5]),
    duplication: rng.pick([0, 0.1, 0.3]),
    maxDelayMs: rng.pick([1, 20, 200]),
    streamReset: rng.pick([0, 0, 0.02, 0.1]),
  };
}

/**
 * Runs one history drawn from `seed` on the first 3–5 of `pool`: a group of the nodes with one
 * context (some members without state yet), a workload of concurrent set/remove calls on
 * overlapping keys, syncs between random pairs, a partition and its heal, node restarts, and
 * gossip loss, duplication and reordering and stream resets throughout. Then it heals the network,
 * lets every node sync with every other until they agree (a bounded number of rounds), and checks:
 * every node has state, nothing pending, equal roots, heads and entries, every acknowledged write
 * held everywhere, and the entries are the last-writer-wins result of all acknowledged writes.
 * Throws a HistoryFailure naming its seed otherwise.
 */
export async function runHistory(pool: readonly SimNode[], seed: string): Promise<HistoryReport> {
  const rng = new Rng(seed);
  const nodes = pool.slice(0, rng.int(3, Math.min(5, pool.length)));
  const faults = drawFaults(rng.fork('faults'));
  const net = new SimNetwork(rng.fork('network'), faults);
  const report: HistoryReport = {
    seed,
    nodes: nodes.length,
    lateJoiners: 0,
    writes: { calls: 0, acked: 0, skipped: 0 },
    faults: { ...net.tally, partitions: 0, restarts: 0 },
    syncs: { runs: 0, failed: 0, protocols: {}, errors: {} },
    healRounds: 0,
  };
  const setup = rng.fork('setup');
  const ids = nodes.map((_, i) => identityFrom(setup.fork(`identity-${i}`)));
  for (const [i, node] of nodes.entries()) await node.begin(net, setup.fork(`clock-${i}`).bytes(16), EPOCH_MS);
  try {
    const { contextId, groupId, groupKey, lateJoiners } = await createSharedContext(nodes, ids, setup);
    report.lateJoiners = lateJoiners;
    const acked: AckedWrite[] = [];

    const sync = async (node: SimNode, peer?: SimNode): Promise<void> => {
      for (let session = 0; session < 8; session++) {
        report.syncs.runs++;
        try {
          const result = await node.sync(contextId, peer?.peerId);
          for (const p of result.protocols) report.syncs.protocols[p] = (report.syncs.protocols[p] ?? 0) + 1;
          if (!result.more) return;
        } catch (err) {
          // A failed session is normal under faults: it is counted, and a later sync retries.
          report.syncs.failed++;
          const why = (err as Error).message.replace(/sim-peer-\d+/g, 'peer').slice(0, 120);
          report.syncs.errors[why] = (report.syncs.errors[why] ?? 0) + 1;
          return;
        }
      }
    };

    const workload = rng.fork('workload');
    const writeEvents = workload.int(4, 16);
    for (let w = 0; w < writeEvents; w++) {
      const i = workload.int(0, nodes.length - 1);
      const node = nodes[i]!;
      const calls = Array.from({ length: workload.int(1, 3) }, () =>
        Array.from({ length: workload.int(1, 3) }, () => ({
          key: workload.pick(KEYS),
          value: workload.chance(0.25) ? undefined : `v${workload.int(0, 999)}`,
        })),
      );
      net.schedule(workload.int(0, WORKLOAD_MS), `write on ${node.peerId}`, async () => {
        const state = await node.stores().states.context(contextId);
        if (!state?.initialized) {
          report.writes.skipped += calls.length;
          return;
        }
        const governanceHeads = await node.stores().groups.heads(groupId);
        // Concurrent calls: the group commit makes one transaction and one gossip message of them.
        await Promise.all(
          calls.map(async (ops) => {
            report.writes.calls++;
            const actions: Action[] = ops.map((op) =>
              op.value === undefined
                ? { kind: 'remove', key: Buffer.from(op.key), at: node.now() }
                : { kind: 'set', key: Buffer.from(op.key), value: Buffer.from(op.value), at: node.now() },
            );
            const done = await node.commit(contextId, {
              author: ids[i]!,
              actions,
              events: [],
              groupKey,
              governanceHeads,
            });
            acked.push({ deltaId: done.delta.deltaId, parents: done.delta.parents, actions });
            report.writes.acked++;
          }),
        );
      });
    }
    const syncEvents = workload.int(2, 10);
    for (let s = 0; s < syncEvents; s++) {
      const i = workload.int(0, nodes.length - 1);
      const j = (i + workload.int(1, nodes.length - 1)) % nodes.length;
      net.schedule(workload.int(0, WORKLOAD_MS), `sync ${i}→${j}`, () => sync(nodes[i]!, nodes[j]));
    }
    if (workload.chance(0.5)) {
      const split = workload.shuffle(nodes.map((n) => n.peerId));
      const cut = workload.int(1, split.length - 1);
      const from = workload.int(0, WORKLOAD_MS / 2);
      report.faults.partitions++;
      net.schedule(from, 'partition', async () => net.partition([split.slice(0, cut), split.slice(cut)]));
      net.schedule(from + workload.int(100, WORKLOAD_MS / 2), 'heal', async () => net.heal());
    }
    const restarts = workload.chance(0.3) ? workload.int(1, 2) : 0;
    for (let r = 0; r < restarts; r++) {
      const node = workload.pick(nodes);
      report.faults.restarts++;
      net.schedule(workload.int(0, WORKLOAD_MS), `restart ${node.peerId}`, () => node.restart());
    }

    await net.runUntil(WORKLOAD_MS);
    // Healing: the partition ends, the network stops failing, what is on its way arrives.
    net.heal();
    faults.loss = 0;
    faults.duplication = 0;
    faults.streamReset = 0;
    await net.runUntil();
    for (let round = 0; ; round++) {
      const differs = await difference(nodes, contextId);
      if (!differs) break;
      if (round >= MAX_HEAL_ROUNDS) {
        throw new HistoryFailure(seed, `not converged after ${MAX_HEAL_ROUNDS} heal rounds: ${differs}`, report);
      }
      report.healRounds = round + 1;
      for (const node of nodes) {
        for (const peer of nodes) if (peer !== node) net.schedule(0, 'heal sync', () => sync(node, peer));
      }
      await net.runUntil();
    }
    await checkOutcome(nodes, contextId, acked, seed, report);
    return report;
  } catch (err) {
    if (err instanceof HistoryFailure) throw err;
    throw new HistoryFailure(seed, (err as Error).message, report);
  } finally {
    Object.assign(report.faults, net.tally);
    await net.quiesce();
    for (const node of nodes) await node.end();
  }
}

/**
 * The context every history runs in, set up the way invitations leave it: the group's ops (the
 * first node admin, the others members) and its key on every node, the context on every node with
 * our member identity; the first node has state, each other one has it with a chance of 2 in 3
 * (the rest joined and wait for a snapshot), or every node has it with `allInitialized`.
 */
export async function createSharedContext(
  nodes: readonly SimNode[],
  ids: readonly Identity[],
  rng: Rng,
  opts: { allInitialized?: boolean } = {},
) {
  const [admin] = ids;
  // The group id is the genesis signer's key with the genesis op's nonce.
  const groupId = groupIdOf(admin!.publicKey, 1n);
  const ops: wire.SignedGroupOpV1[] = [];
  let parent: Buffer | undefined;
  for (const [i, member] of ids.entries()) {
    const op = signGroupOp({
      groupId,
      parents: parent ? [parent] : [],
      signer: admin!,
      nonce: BigInt(i + 1),
      op: {
        kind: {
          $case: 'addMember',
          addMember: {
            member: member.publicKey,
            role: i === 0 ? wire.GroupRole.GROUP_ROLE_ADMIN : wire.GroupRole.GROUP_ROLE_MEMBER,
          },
        },
      },
    });
    ops.push(op);
    parent = verifyGroupOp(op).opId;
  }
  const groupKey = rng.bytes(32);
  const contextId = rng.bytes(32);
  let lateJoiners = 0;
  for (const [i, node] of nodes.entries()) {
    const { groups, states, identities } = node.stores();
    for (const op of ops) {
      const added = await groups.addSigned(op);
      if (added.outcome !== GroupOpOutcome.Applied) throw new Error(`group op not applied: ${added.outcome}`);
    }
    await groups.putKey(groupId, keyIdOf(groupKey), groupKey);
    const drawn = rng.chance(2 / 3);
    const initialized = i === 0 || drawn || opts.allInitialized === true;
    if (!initialized) lateJoiners++;
    await states.createContext(contextId, { groupId, initialized });
    await identities.create(ids[i]!);
    await identities.addOwned(contextId, ids[i]!);
  }
  return { contextId, groupId, groupKey, lateJoiners, lastOpId: parent! };
}

/** A write a caller was told is committed. */
interface AckedWrite {
  deltaId: Buffer;
  parents: Buffer[];
  actions: Action[];
}

/**
 * The acknowledged writes a node must hold as deltas: all, except those a snapshot it took covers
 * (the ancestors of its checkpoint heads: their effects came with the state, not their history).
 */
async function mustHold(node: SimNode, contextId: Buffer, acked: readonly AckedWrite[]): Promise<AckedWrite[]> {
  const checkpoints = await node.sql<{ delta_id: Buffer }[]>`
    select delta_id from dag_checkpoints where context_id = ${contextId}`;
  const parents = new Map(acked.map((a) => [a.deltaId.toString('hex'), a.parents]));
  const covered = new Set<string>();
  const walk = checkpoints.map((c) => c.delta_id.toString('hex'));
  while (walk.length > 0) {
    const id = walk.pop()!;
    if (covered.has(id)) continue;
    covered.add(id);
    for (const p of parents.get(id) ?? []) walk.push(p.toString('hex'));
  }
  return acked.filter((a) => !covered.has(a.deltaId.toString('hex')));
}

interface NodeView {
  initialized: boolean;
  root: string;
  heads: string;
  entries: string;
  pending: number;
}

async function view(node: SimNode, contextId: Buffer): Promise<NodeView> {
  const { states } = node.stores();
  const ctx = await states.context(contextId);
  const entries = (await states.entries(contextId))
    .filter((e) => !e.deleted)
    .map((e) => `${e.key.toString()}=${e.value?.toString()}`)
    .join(',');
  return {
    initialized: ctx?.initialized ?? false,
    root: ctx?.rootHash.toString('hex').slice(0, 12) ?? '-',
    heads:
      ctx?.heads
        .map((h) => h.toString('hex').slice(0, 8))
        .sort()
        .join('+') ?? '-',
    entries,
    pending: await states.pendingCount(contextId),
  };
}

/** Undefined when every node has state, nothing pending, and the same root and heads; else what differs. */
async function difference(nodes: readonly SimNode[], contextId: Buffer): Promise<string | undefined> {
  const views = await Promise.all(nodes.map((n) => view(n, contextId)));
  const first = views[0]!;
  const apart = views.some((v) => !v.initialized || v.pending > 0 || v.root !== first.root || v.heads !== first.heads);
  if (!apart) return undefined;
  return views
    .map(
      (v, i) => `node ${i}: ${v.initialized ? '' : 'no state, '}root ${v.root} heads ${v.heads} pending ${v.pending}`,
    )
    .join('; ');
}

/** The end state against what was acknowledged. */
async function checkOutcome(
  nodes: readonly SimNode[],
  contextId: Buffer,
  acked: readonly AckedWrite[],
  seed: string,
  report: HistoryReport,
): Promise<void> {
  const fail = (why: string): never => {
    throw new HistoryFailure(seed, why, report);
  };
  const views = await Promise.all(nodes.map((n) => view(n, contextId)));
  for (const [i, v] of views.entries()) {
    if (v.entries !== views[0]!.entries) fail(`node ${i} entries ${v.entries} ≠ node 0 entries ${views[0]!.entries}`);
  }
  for (const [i, node] of nodes.entries()) {
    const { states } = node.stores();
    const held = await mustHold(node, contextId, acked);
    const known = await states.knownDeltas(
      contextId,
      held.map((a) => a.deltaId),
    );
    const missing = held.filter((a) => !known.has(a.deltaId.toString('hex')));
    if (missing.length > 0) fail(`node ${i} lacks ${missing.length} acknowledged deltas`);
    const recomputed = (await states.recomputeRootHash(contextId)).toString('hex').slice(0, 12);
    if (recomputed !== views[i]!.root) fail(`node ${i} root ${views[i]!.root} ≠ recomputed ${recomputed}`);
  }
  // Last writer wins per key, over every acknowledged action: computed here, not by the store.
  const winners = new Map<string, Action>();
  for (const action of acked.flatMap((a) => a.actions)) {
    const key = action.key.toString();
    const held = winners.get(key);
    if (!held || compareHlc(action.at, held.at) > 0) winners.set(key, action);
  }
  const expected = [...winners.entries()]
    .filter(([, a]) => a.kind === 'set')
    .sort(([x], [y]) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
    .map(([key, a]) => `${key}=${(a as Extract<Action, { kind: 'set' }>).value.toString()}`)
    .join(',');
  if (views[0]!.entries !== expected) fail(`entries ${views[0]!.entries} ≠ last writer wins ${expected}`);
}
