import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NetworkClient, createCatalog } from '@cnode/bus';
import { compareHlc, fromBase58, toBase58, type Action } from '@cnode/primitives';
import { contextTopic } from '@cnode/context-core';
import { admin as adminApi, bus } from '@cnode/proto';
import { errorMessage } from '@cnode/runtime';
import { NODE_SERVICES, ProcessNode, waitFor, type NodeServiceName } from '@cnode/testing';
import { Rng } from '../simulation/rng.js';
import type { PrivateNats, PrivatePostgres } from './private-infra.js';

/** Keys the workload writes: few, so writes from several nodes collide. */
const KEYS = ['a', 'b', 'c', 'd', 'e', 'f'];
/** How long a history's workload and faults last. */
const WORKLOAD_MS = 20_000;
/** After healing, how long the members have to agree before the history fails. */
const CONVERGE_TIMEOUT_MS = 150_000;

/** The faults a history injects, by kind: what the README's table adds up. */
export type ChaosFaults = Record<
  | 'service_kill'
  | 'nats_restart'
  | 'postgres_restart'
  | 'partition'
  | 'gossip_loss'
  | 'gossip_delay'
  | 'gossip_duplication'
  | 'join'
  | 'removal',
  number
>;

export interface ChaosReport {
  seed: string;
  members: number;
  /**
   * `stranded`: acknowledged writes of the member later removed that had reached no other member
   * by its removal (gone with it: the group no longer syncs with it).
   */
  writes: { attempted: number; acked: number; refused: number; stranded: number };
  faults: ChaosFaults;
  /** Milliseconds from the end of healing to every member agreeing (and saying so). */
  convergeMs: number;
  /**
   * Pending deltas the nodes applied late because their wait had been missed (outcome `revived`):
   * a repair, not a failure, but a sign of a fault worth finding. Counters of killed processes
   * restart at zero, so this can undercount.
   */
  revived: number;
  ms: number;
}

export class ChaosFailure extends Error {
  constructor(
    readonly seed: string,
    message: string,
    readonly report: ChaosReport,
  ) {
    super(`chaos history ${seed}: ${message}`);
  }
}

/** The cluster the histories run on: nodes as processes, the private NATS and Postgres they use. */
export class ChaosCluster {
  private nc: NatsConnection | undefined;
  private readonly peerIds = new Map<ProcessNode, string>();

  constructor(
    readonly nodes: ProcessNode[],
    readonly nats: PrivateNats,
    readonly postgres: PrivatePostgres,
  ) {}

  private async connect(): Promise<void> {
    this.nc ??= await connect({ servers: this.nats.url, maxReconnectAttempts: -1 });
  }

  async peerId(node: ProcessNode): Promise<string> {
    let id = this.peerIds.get(node);
    if (!id) {
      id = (await node.api.info()).peerId;
      this.peerIds.set(node, id);
    }
    return id;
  }

  /** The network service's test-only fault command of one node. */
  async injectFaults(node: ProcessNode, faults: Partial<bus.InjectFaultsRequest>): Promise<void> {
    await this.connect();
    await this.network(node).injectFaults(bus.InjectFaultsRequest.fromPartial(faults));
  }

  /**
   * Each node's connections and, given a context, who it sees subscribed to the context's topic, by
   * short peer id (for a failure message).
   */
  async describe(nodes: readonly ProcessNode[], contextId?: string): Promise<string> {
    const short = (p: string) => p.slice(-6);
    await this.connect();
    const lines = await Promise.all(
      nodes.map(async (node) => {
        try {
          const network = this.network(node);
          const { peers } = await network.listPeers();
          let line = `${short(await this.peerId(node))} connected to [${peers.map((p) => short(p.peer)).join(' ')}]`;
          if (contextId) {
            const { subscribers, meshPeers } = await network.topicPeers(
              contextTopic(Buffer.from(fromBase58(contextId))),
            );
            line += `, topic subscribers [${subscribers.map(short).join(' ')}] mesh [${meshPeers.map(short).join(' ')}]`;
          }
          return line;
        } catch (err) {
          return `${node.name}: ${errorMessage(err)}`;
        }
      }),
    );
    return lines.join('; ');
  }

  /**
   * What each node believes about a context: its sync status and, for each peer it does not agree
   * with, the verdict and the reason it gives (for a failure message).
   */
  async explain(nodes: readonly ProcessNode[], contextId: string): Promise<string> {
    const short = (p: string) => p.slice(-6);
    const lines = await Promise.all(
      nodes.map(async (node) => {
        try {
          const view = await node.api.convergence(contextId);
          const s = view.syncStatus;
          const status = s
            ? `sync state ${adminApi.syncStatus_StateToJSON(s.state)} failures ${s.failureCount} last ${s.lastProtocol || '-'} with ${short(s.lastPeer) || '-'}` +
              `${s.lastError ? ` error "${s.lastError}"` : ''}`
            : 'no sync status';
          const peers = view.peers
            .filter((p) => p.verdict !== adminApi.PeerConvergence_Verdict.VERDICT_CONVERGED)
            .map(
              (p) =>
                `${short(p.peerId)} ${adminApi.peerConvergence_VerdictToJSON(p.verdict)} (${p.reason || 'no reason'})`,
            );
          return `${node.name}: ${status}; not converged with [${peers.join(', ')}]`;
        } catch (err) {
          return `${node.name}: ${errorMessage(err)}`;
        }
      }),
    );
    return lines.join('; ');
  }

  /** Per node, the deltas its services counted `revived` so far (0 for a service that is down). */
  async revivedCounts(): Promise<number[]> {
    const count = (node: ProcessNode, service: NodeServiceName, metric: string) =>
      node.metric(service, metric, { outcome: 'revived' }).catch(() => 0);
    return Promise.all(
      this.nodes.map(
        async (node) =>
          (await count(node, 'state-delta', 'delta_outcomes_total')) +
          (await count(node, 'sync', 'sync_deltas_fetched_total')),
      ),
    );
  }

  private network(node: ProcessNode): NetworkClient {
    return new NetworkClient({ nc: () => this.nc!, catalog: createCatalog(node.name), timeoutMs: 5_000 });
  }

  async close(): Promise<void> {
    await this.nc?.close();
  }
}

/** A write the admin API acknowledged: its delta, and the member that made it. */
interface AckedWrite {
  deltaId: string;
  writer: ProcessNode;
}

/**
 * One history drawn from `seed` on 3–5 nodes of the cluster (the rest may join later): a shared
 * key-value context, writes (set/remove on overlapping keys) from every member, and faults —
 * kill -9 of any service process (restarted 1–3 s later), a NATS restart, a Postgres restart, a
 * partition and its heal, gossip loss, delay and duplication in the network services, a node
 * joining, and a member removed (its key rotated away). Then every fault is healed and the members
 * must agree within CONVERGE_TIMEOUT_MS: every acknowledged write in the DAG, entries the
 * last-writer-wins result of the DAG's actions (by their HLCs), equal roots, heads and entries,
 * nothing pending, and each node's convergence status saying it agrees with every peer; the removed
 * member holds no value sealed with a key rotated after its removal. Each member leaves the
 * context at the end, failed or not.
 */
export async function runChaosHistory(cluster: ChaosCluster, seed: string): Promise<ChaosReport> {
  const started = Date.now();
  const rng = new Rng(`chaos/${seed}`);
  const order = rng.shuffle(cluster.nodes);
  const initial = order.slice(0, rng.int(3, Math.min(5, order.length)));
  const joiner = order.length > initial.length && rng.chance(0.5) ? order[initial.length] : undefined;
  const report: ChaosReport = {
    seed,
    members: initial.length + (joiner ? 1 : 0),
    writes: { attempted: 0, acked: 0, refused: 0, stranded: 0 },
    faults: {
      service_kill: 0,
      nats_restart: 0,
      postgres_restart: 0,
      partition: 0,
      gossip_loss: 0,
      gossip_delay: 0,
      gossip_duplication: 0,
      join: 0,
      removal: 0,
    },
    convergeMs: 0,
    revived: 0,
    ms: 0,
  };
  const revivedBefore = await cluster.revivedCounts();
  const fail = (why: string): never => {
    throw new ChaosFailure(seed, why, report);
  };
  let shared: Awaited<ReturnType<typeof ProcessNode.sharedContext>>;
  try {
    shared = await ProcessNode.sharedContext(initial);
  } catch (err) {
    // The context the helper created is named by its timeout message.
    const contextId = /peers on (\w+)/.exec(errorMessage(err))?.[1];
    return fail(
      `the members could not share a context: ${errorMessage(err)}; ${await cluster.describe(initial, contextId)}`,
    );
  }
  const { contextId, members: identities } = shared;
  const admin = initial[0]!;
  const groupId = (await admin.api.getContext(contextId)).groupId;
  const members = new Map(initial.map((n, i) => [n, identities[i]!]));
  let removed: ProcessNode | undefined;
  const acked: AckedWrite[] = [];
  const killed = new Set<Promise<void>>();
  let writeSeq = 0;
  try {
    const workload = rng.fork('workload');
    const faults = rng.fork('faults');
    // What faults this history draws (each at most once, at a random moment of the workload).
    const plan: { at: number; kind: keyof ChaosFaults }[] = [];
    const maybe = (kind: keyof ChaosFaults, p: number) => {
      if (faults.chance(p)) plan.push({ at: faults.int(1_000, WORKLOAD_MS - 4_000), kind });
    };
    for (let i = faults.int(1, 3); i > 0; i--)
      plan.push({ at: faults.int(1_000, WORKLOAD_MS - 2_000), kind: 'service_kill' });
    maybe('nats_restart', 0.35);
    maybe('postgres_restart', 0.35);
    maybe('partition', 0.5);
    maybe('gossip_loss', 0.5);
    maybe('gossip_delay', 0.4);
    maybe('gossip_duplication', 0.4);
    if (joiner) maybe('join', 1);
    if (initial.length > 3) maybe('removal', 0.6);
    plan.sort((x, y) => x.at - y.at);

    const writers = () => [...members.keys()].filter((n) => n !== removed);
    const write = async (): Promise<void> => {
      const node = workload.pick(writers());
      const key = workload.pick(KEYS);
      const value = workload.chance(0.2) ? null : `${seed}:${writeSeq++}`;
      report.writes.attempted++;
      try {
        const res =
          value === null
            ? await node.api.execute(contextId, 'remove', { key })
            : await node.api.execute(contextId, 'set', { key, value });
        if (!res.deltaId) return;
        acked.push({ deltaId: res.deltaId, writer: node });
        report.writes.acked++;
      } catch {
        // A node whose services are down or restarting refuses: not acknowledged, not required.
        report.writes.refused++;
      }
    };

    const partitionSides = async (on: boolean) => {
      const nodes = [...members.keys()];
      const split = faults.shuffle(nodes);
      const cut = faults.int(1, split.length - 1);
      const sides = [split.slice(0, cut), split.slice(cut)];
      for (const [i, side] of sides.entries()) {
        const others = await Promise.all(sides[1 - i]!.map((n) => cluster.peerId(n)));
        for (const node of side) await cluster.injectFaults(node, { blockedPeers: on ? others : [] });
      }
    };

    const inject = async (kind: keyof ChaosFaults): Promise<void> => {
      report.faults[kind]++;
      switch (kind) {
        case 'service_kill': {
          const node = faults.pick([...members.keys()]);
          const service: NodeServiceName = faults.pick(NODE_SERVICES);
          const downMs = faults.int(1_000, 3_000);
          await node.kill(service, 'SIGKILL');
          const back = (async () => {
            await new Promise((r) => setTimeout(r, downMs));
            await startUntilUp(node, service);
          })();
          killed.add(back);
          back.then(
            () => killed.delete(back),
            () => killed.delete(back),
          );
          return;
        }
        case 'nats_restart':
          await cluster.nats.restart(faults.int(0, 2_000));
          return;
        case 'postgres_restart':
          await cluster.postgres.restart(faults.int(0, 2_000));
          return;
        case 'partition': {
          await partitionSides(true);
          const healIn = faults.int(3_000, 6_000);
          setTimeout(() => void partitionSides(false).catch(() => undefined), healIn).unref();
          return;
        }
        case 'gossip_loss':
        case 'gossip_delay':
        case 'gossip_duplication': {
          const node = faults.pick([...members.keys()]);
          await cluster.injectFaults(node, {
            gossipLoss: kind === 'gossip_loss' ? 0.3 : 0,
            gossipDelayMaxMs: kind === 'gossip_delay' ? 1_500 : 0,
            gossipDuplication: kind === 'gossip_duplication' ? 0.5 : 0,
          });
          return;
        }
        case 'join': {
          const node = joiner!;
          const { publicKey } = await node.api.createIdentity();
          const { invitationText } = await admin.api.inviteMember(contextId, publicKey);
          await node.api.joinContext(invitationText);
          members.set(node, publicKey);
          return;
        }
        case 'removal': {
          const candidates = [...members.keys()].filter((n) => n !== admin && n !== removed);
          const node = faults.pick(candidates);
          await admin.api.removeMember(groupId, members.get(node)!);
          removed = node;
          return;
        }
      }
    };

    // The workload: a write every 50–400 ms; each fault at its planned moment.
    const start = Date.now();
    while (Date.now() - start < WORKLOAD_MS) {
      const due = plan[0] && plan[0].at <= Date.now() - start ? plan.shift() : undefined;
      if (due) {
        try {
          await inject(due.kind);
        } catch (err) {
          // An injection that could not be made (a service it needs is down) is no failure of the node.
          report.faults[due.kind]--;
          process.stderr.write(`chaos ${seed}: ${due.kind} not injected: ${errorMessage(err)}\n`);
        }
      }
      await write();
      await new Promise((r) => setTimeout(r, workload.int(50, 400)));
    }

    // Healing: every service back, no partition, no gossip fault.
    await Promise.allSettled([...killed]);
    for (const node of cluster.nodes) {
      for (const service of NODE_SERVICES) {
        const proc = node.procs.get(service);
        if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) await startUntilUp(node, service);
      }
    }
    await Promise.all(
      cluster.nodes.map((n) =>
        waitFor(() =>
          cluster.injectFaults(n, {}).then(
            () => true,
            () => false,
          ),
        ),
      ),
    );
    const healed = Date.now();

    // Convergence: the members (without the removed one) agree, and each one's status says so.
    const current = [...members.keys()].filter((n) => n !== removed);
    let last = '';
    /** Whether the members agree now (and their statuses say so); `last` says what each holds. */
    const agreed = async (): Promise<boolean> => {
      await Promise.all(current.map((n) => n.api.triggerSync(contextId).catch(() => undefined)));
      const infos = await Promise.all(current.map((n) => n.api.getContext(contextId)));
      const [first] = infos;
      last = infos
        .map(
          (i, k) =>
            `${current[k]!.name}: root ${i.rootHash.slice(0, 8)} heads ${i.heads.length} pending ${i.pendingDeltas}`,
        )
        .join('; ');
      const same = infos.every(
        (i) =>
          i.initialized &&
          i.pendingDeltas === 0 &&
          i.rootHash === first!.rootHash &&
          [...i.heads].sort().join() === [...first!.heads].sort().join(),
      );
      if (!same) return false;
      const statuses = await Promise.all(current.map((n) => n.api.convergence(contextId)));
      last += ` | converged: ${statuses.map((s) => s.converged).join(',')}`;
      return statuses.every((s) => s.converged);
    };
    try {
      await waitFor(
        async () => {
          try {
            return await agreed();
          } catch (err) {
            last = `not answered: ${errorMessage(err)}`;
            return false;
          }
        },
        { timeoutMs: CONVERGE_TIMEOUT_MS, intervalMs: 1_000, message: 'members to converge' },
      );
    } catch {
      fail(
        `members did not converge in ${CONVERGE_TIMEOUT_MS / 1000} s after healing: ${last} | ${await cluster.explain(current, contextId)}`,
      );
    }
    report.convergeMs = Date.now() - healed;

    // No acknowledged write lost: each one's delta is in the admin's DAG (the admin created the
    // context, so it holds the whole history), and every member's entries are the last-writer-wins
    // result of every action of that DAG, by the actions' HLCs, computed here rather than by the
    // store. The DAG may also hold writes whose call failed (a node killed between its commit and
    // its answer): an unacknowledged write may or may not have happened, and is judged as it did.
    const ctxId = Buffer.from(fromBase58(contextId));
    const dag = await admin.withStore(async ({ sql, states }) => {
      const ids = await sql<{ delta_id: Buffer }[]>`
        select delta_id from deltas where context_id = ${ctxId} and applied`;
      const deltas = await Promise.all(ids.map((r) => states.delta(ctxId, r.delta_id)));
      return deltas.filter((d) => d !== undefined);
    });
    const inDag = new Set(dag.map((d) => toBase58(d.deltaId)));
    for (const w of acked) {
      if (inDag.has(w.deltaId)) continue;
      // A write the removed member made (before its removal) that reached no other member: once
      // removed, nobody syncs with it, so it goes with it. Counted, not a failure.
      if (w.writer === removed) report.writes.stranded++;
      else fail(`the admin node lacks acknowledged delta ${w.deltaId}`);
    }
    const winners = new Map<string, Action>();
    for (const action of dag.flatMap((d) => d.actions)) {
      const key = action.key.toString();
      const held = winners.get(key);
      if (!held || compareHlc(action.at, held.at) > 0) winners.set(key, action);
    }
    const expected = Object.fromEntries(
      [...winners.entries()].flatMap(([k, a]) => (a.kind === 'set' ? [[k, a.value.toString()]] : [])),
    );
    const wrong: string[] = [];
    for (const node of current) {
      const entries = await node.entries(contextId);
      if (JSON.stringify(sorted(entries)) === JSON.stringify(sorted(expected))) continue;
      const differing = KEYS.filter((k) => entries[k] !== expected[k]);
      wrong.push(
        `${node.name}${node === admin ? ' (admin)' : ''} holds ${JSON.stringify(sorted(entries))}; ` +
          (await explainKeys(node, ctxId, dag, differing)),
      );
    }
    if (wrong.length > 0) fail(`expected ${JSON.stringify(sorted(expected))}: ${wrong.join(' | ')}`);
    if (removed) {
      // Written after the removal means sealed with a group key the removed member never got (the
      // rotation's). A write sealed with the old key by a member that had not yet heard of the
      // removal is concurrent with it and readable by the removed member, by design.
      const ours = await removed.withStore(async ({ states, groups }) => {
        const groupOf = (await states.context(ctxId))?.groupId;
        return {
          keys: groupOf ? await groups.keys(groupOf) : new Map<string, Buffer>(),
          values: (await states.entries(ctxId)).map((e) => e.value?.toString() ?? ''),
        };
      });
      const sealedAway = new Set(
        dag
          .filter((d) => !ours.keys.has(d.keyId.toString('hex')))
          .flatMap((d) => d.actions.flatMap((a) => (a.kind === 'set' ? [a.value.toString()] : []))),
      );
      const leaked = ours.values.filter((v) => sealedAway.has(v));
      if (leaked.length > 0) {
        fail(`the removed member holds ${leaked.length} values sealed with a key rotated after its removal`);
      }
    }
  } finally {
    // Failed or not, the context is left: a history that failed must not keep its members syncing
    // (and loading the machine) through the histories after it.
    const leaving = new Set([...members.keys(), ...(removed ? [removed] : []), ...(joiner ? [joiner] : [])]);
    for (const node of leaving) await node.api.leaveContext(contextId).catch(() => undefined);
  }
  const revivedAfter = await cluster.revivedCounts();
  report.revived = revivedAfter.reduce((t, n, i) => t + Math.max(0, n - (revivedBefore[i] ?? 0)), 0);
  report.ms = Date.now() - started;
  return report;
}

/**
 * Starts a service again, as a supervisor would: one that exits because NATS or Postgres is
 * restarting at that moment is started again a second later, for up to a minute.
 */
async function startUntilUp(node: ProcessNode, service: NodeServiceName): Promise<void> {
  const until = Date.now() + 60_000;
  for (;;) {
    try {
      // An attempt that gave up waiting may have left its process running (and holding its port).
      await node.kill(service, 'SIGKILL');
      await node.startService(service);
      return;
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

function sorted(entries: Record<string, string>): [string, string][] {
  return Object.entries(entries).sort(([a], [b]) => a.localeCompare(b));
}

/**
 * For a failure message: per key, every action of the admin's DAG on it (newest first, with its
 * HLC and delta) and what the node stores for it (value, HLC, author).
 */
async function explainKeys(
  node: ProcessNode,
  contextId: Buffer,
  dag: readonly { deltaId: Buffer; author: Buffer; actions: readonly Action[] }[],
  keys: readonly string[],
): Promise<string> {
  const hlc = (at: Action['at']) => `${at.wallTimeMs}.${at.counter}/${at.nodeId.toString('hex').slice(0, 6)}`;
  const valueOf = (a: Action) => (a.kind === 'set' ? a.value.toString() : '(removed)');
  const stored = await node.withStore(({ states }) => states.entries(contextId)).catch(() => []);
  return keys
    .map((key) => {
      const actions = dag
        .flatMap((d) => d.actions.filter((a) => a.key.toString() === key).map((a) => ({ a, d })))
        .sort((x, y) => compareHlc(y.a.at, x.a.at))
        .map(({ a, d }) => `${valueOf(a)}@${hlc(a.at)} in ${toBase58(d.deltaId).slice(0, 8)}`);
      const row = stored.find((e) => e.key.toString() === key);
      const held = row
        ? `${row.deleted ? '(removed)' : (row.value?.toString() ?? '')}@${hlc(row.hlc)} by ${row.author ? toBase58(row.author).slice(0, 8) : '-'}`
        : 'nothing';
      return `key ${key}: stored ${held}; DAG ${actions.join(', ')}`;
    })
    .join('; ');
}
