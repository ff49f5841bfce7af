import {
  assessConvergence,
  CONVERGENCE_FORGET_PERIODS,
  CONVERGENCE_STALE_PERIODS,
  contextTopic,
  forgetPeers,
  readPeers,
  recordConvergence,
  requestSync,
  Verdict,
  verdictLabel,
  type ContextConvergence,
  type SyncClient,
} from '@cnode/context-core';
import type { BusMetrics, Catalog, NetworkClient } from '@cnode/bus';
import { toBase58 } from '@cnode/primitives';
import { bus } from '@cnode/proto';
import { errorMessage, type Logger, type Startable } from '@cnode/runtime';
import type { IdentityRepo, Redis, StateStore } from '@cnode/store';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { SyncMetrics } from '../metrics.js';
import { peerFailureLabel, type ConvergenceRecorder } from './recorder.js';

/** A peer's state told within this share of a period (by a session) is not asked again. */
const FRESH_SHARE = 0.5;
/** Subscribers probed per context per round. */
const MAX_PROBED_PEERS = 64;

export interface ProbeDeps {
  states: () => StateStore;
  identities: () => IdentityRepo;
  sync: SyncClient;
  network: NetworkClient;
  redis: () => Redis;
  catalog: Catalog;
  js: () => JetStreamClient;
  busMetrics: BusMetrics;
  recorder: ConvergenceRecorder;
  metrics: SyncMetrics;
  logger: Logger;
  instanceId: string;
  intervalMs: number;
  /** Peers asked at once. */
  concurrency: number;
}

/**
 * The convergence probe. Every `SYNC_CONVERGENCE_INTERVAL` one sync replica (whichever claims the
 * period in Redis) asks each subscribed peer of each hosted context for its DAG heads and root over
 * a sync stream (the answer proves the peer a member), records the answers, judges every peer
 * against our state, records the context's convergence history, sets the gauges, and queues a
 * sync with a peer that has deltas we lack or the same heads with another root. This is what makes
 * a restarted node find its way back to its peers without anyone writing.
 */
export class ConvergenceProbe implements Startable {
  readonly name = 'convergence-probe';
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private lastRoundAtMs = 0;

  constructor(private readonly deps: ProbeDeps) {}

  async start(): Promise<void> {
    this.timer = setInterval(() => this.tick(), this.deps.intervalMs);
  }

  afterStart(): void {
    this.tick();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    if (this.running) return;
    this.running = true;
    this.round()
      .catch((err: unknown) => {
        this.deps.metrics.convergenceRounds.inc({ outcome: 'failed' });
        this.deps.logger.warn({ err: errorMessage(err) }, 'Convergence round failed');
      })
      .finally(() => (this.running = false));
  }

  /** One round over every hosted context, unless another replica claimed this period. */
  async round(): Promise<void> {
    const { metrics } = this.deps;
    const claimMs = Math.max(50, Math.floor(this.deps.intervalMs * 0.9));
    const claimed = await this.deps
      .redis()
      .set(this.deps.catalog.redis.convergenceRound, this.deps.instanceId, 'PX', claimMs, 'NX');
    if (!claimed) {
      metrics.convergenceRounds.inc({ outcome: 'skipped' });
      // Another replica holds the gauges now: ours would be counted twice in a sum.
      if (Date.now() - this.lastRoundAtMs > 2 * this.deps.intervalMs) this.resetGauges();
      return;
    }
    const peers = new Map<string, number>();
    const contexts = { converged: 0, not_converged: 0, no_peers: 0 };
    let lagSeconds = 0;
    for (const ctx of await this.deps.states().listContexts()) {
      const judged = await this.context(ctx.id, ctx.groupId).catch((err: unknown) => {
        this.deps.logger.debug({ context: toBase58(ctx.id), err: errorMessage(err) }, 'Context not probed');
        return undefined;
      });
      if (!judged) continue;
      for (const p of judged.assessment.peers) {
        const label = p.judgement.counted ? verdictLabel(p.judgement.verdict) : 'not_member';
        peers.set(label, (peers.get(label) ?? 0) + 1);
      }
      if (!judged.assessment.peers.some((p) => p.judgement.counted)) contexts.no_peers++;
      else if (judged.assessment.converged) contexts.converged++;
      else {
        contexts.not_converged++;
        const since = judged.convergedAtMs || judged.divergedSinceMs;
        lagSeconds = Math.max(lagSeconds, (Date.now() - since) / 1000);
      }
    }
    this.resetGauges();
    for (const [verdict, n] of peers) metrics.convergencePeers.set({ verdict }, n);
    for (const [state, n] of Object.entries(contexts)) metrics.convergenceContexts.set({ state }, n);
    metrics.convergenceLag.set(lagSeconds);
    metrics.convergenceRounds.inc({ outcome: 'ran' });
    this.lastRoundAtMs = Date.now();
  }

  private resetGauges(): void {
    this.deps.metrics.convergencePeers.reset();
    this.deps.metrics.convergenceContexts.reset();
    this.deps.metrics.convergenceLag.set(0);
  }

  /** Probes, judges and records one context. Undefined for one we hold no member identity of. */
  private async context(
    contextId: Buffer,
    groupId: Buffer | null,
  ): Promise<{ assessment: ContextConvergence; convergedAtMs: number; divergedSinceMs: number } | undefined> {
    const { deps } = this;
    const [me] = await deps.identities().owned(contextId);
    if (!me || !groupId) return undefined;
    const now = Date.now();
    const subscribers = await deps.network
      .topicPeers(contextTopic(contextId))
      .then((t) => t.subscribers.slice(0, MAX_PROBED_PEERS))
      .catch(() => [] as string[]);
    const known = new Map((await readPeers(deps.redis(), deps.catalog, contextId)).map((p) => [p.peer, p]));
    const toAsk = subscribers.filter((peer) => {
      const told = known.get(peer)?.state?.atMs ?? 0;
      if (now - told < deps.intervalMs * FRESH_SHARE) {
        deps.metrics.convergenceProbes.inc({ outcome: 'fresh' });
        return false;
      }
      return true;
    });
    for (let i = 0; i < toAsk.length; i += deps.concurrency) {
      await Promise.all(
        toAsk.slice(i, i + deps.concurrency).map((peer) =>
          deps.sync.fetchDagHeads(peer, me, { id: contextId, groupId }).then(
            async (answer) => {
              deps.metrics.convergenceProbes.inc({ outcome: 'ok' });
              await deps.recorder.state(contextId, peer, answer, 'probe');
            },
            async (err: unknown) => {
              deps.metrics.convergenceProbes.inc({ outcome: peerFailureLabel(err) });
              await deps.recorder.failure(contextId, peer, err);
            },
          ),
        ),
      );
    }

    const forgotten = await forgetPeers(
      deps.redis(),
      deps.catalog,
      contextId,
      await readPeers(deps.redis(), deps.catalog, contextId),
      CONVERGENCE_FORGET_PERIODS * deps.intervalMs,
    );
    if (forgotten.stale > 0) deps.metrics.convergenceForgotten.inc({ reason: 'stale' }, forgotten.stale);
    if (forgotten.bound > 0) deps.metrics.convergenceForgotten.inc({ reason: 'bound' }, forgotten.bound);

    const assessment = await assessConvergence(
      { states: deps.states(), redis: deps.redis, catalog: deps.catalog, network: deps.network },
      contextId,
      { staleAfterMs: CONVERGENCE_STALE_PERIODS * deps.intervalMs, records: forgotten.kept },
    );
    if (!assessment) return undefined;
    const counted = assessment.peers.some((p) => p.judgement.counted);
    const { book, episodeBegan } = await recordConvergence(
      deps.redis(),
      deps.catalog,
      contextId,
      counted && assessment.converged,
    );
    if (episodeBegan) {
      deps.metrics.divergenceEpisodes.inc();
      deps.logger.info(
        {
          context: toBase58(contextId),
          peers: assessment.peers
            .filter((p) => p.judgement.verdict !== Verdict.VERDICT_CONVERGED)
            .map((p) => ({
              peer: p.record.peer,
              verdict: verdictLabel(p.judgement.verdict),
              reason: p.judgement.reason,
            })),
        },
        'Context no longer converged with its peers',
      );
    }
    await this.syncWithLeader(contextId, assessment);
    return { assessment, convergedAtMs: book.convergedAtMs, divergedSinceMs: book.divergedSinceMs };
  }

  /**
   * Queues a sync with the first connected peer that has deltas we lack, or the same heads and
   * another root (non-forced: the driver's spacing and backoff still apply).
   */
  private async syncWithLeader(contextId: Buffer, assessment: ContextConvergence): Promise<void> {
    const lead = assessment.peers.find(
      (p) =>
        p.connected &&
        p.judgement.counted &&
        (p.judgement.verdict === Verdict.VERDICT_BEHIND || p.judgement.verdict === Verdict.VERDICT_DIVERGED),
    );
    if (!lead) return;
    const outcome = verdictLabel(lead.judgement.verdict);
    await requestSync(
      { js: this.deps.js(), metrics: this.deps.busMetrics, catalog: this.deps.catalog },
      { contextId, peer: lead.record.peer, reason: bus.SyncReason.SYNC_REASON_CONVERGENCE },
      String(Math.floor(Date.now() / this.deps.intervalMs)),
    ).then(
      () => this.deps.metrics.convergenceSyncs.inc({ outcome }),
      (err: unknown) => {
        this.deps.metrics.convergenceSyncs.inc({ outcome: 'failed' });
        this.deps.logger.debug({ context: toBase58(contextId), err: errorMessage(err) }, 'Convergence sync not queued');
      },
    );
  }
}
