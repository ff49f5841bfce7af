import { status } from '@grpc/grpc-js';
import { BusError, BusErrorCode, GC_TASKS, request, type GcTask } from '@cnode/bus';
import { bus, type admin } from '@cnode/proto';
import type { GcRunRecord } from '@cnode/store';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { AdminCallError, AdminErrorCode, badArgument } from '../admin-errors.js';

/** How long RunGc waits for the leading gc replica to finish (a full run may take minutes). */
const GC_RUN_TIMEOUT_MS = 600_000;
const STATUS_DEFAULT = 10;
const STATUS_MAX = 100;

/** GcService.RunGc: asks the leading gc replica to run the tasks now and returns their reports. */
export async function runGc(deps: ContextDeps, req: admin.RunGcRequest): Promise<admin.RunGcResponse> {
  const unknown = req.tasks.filter((t) => !GC_TASKS.includes(t as GcTask));
  if (unknown.length > 0) throw badArgument(`tasks: unknown ${unknown.join(', ')} (tasks: ${GC_TASKS.join(', ')})`);
  let reply: bus.GcRunReply;
  try {
    reply = await request(
      deps.nc(),
      deps.catalog.subjects.gcRun,
      bus.GcRunCommand,
      bus.GcRunReply,
      { tasks: req.tasks },
      GC_RUN_TIMEOUT_MS,
    );
  } catch (err) {
    if (err instanceof BusError && err.code === BusErrorCode.CommandUnavailable) {
      throw new AdminCallError(
        status.UNAVAILABLE,
        AdminErrorCode.GcUnavailable,
        'no gc replica leads (is the gc service running?)',
      );
    }
    throw err;
  }
  // A report from the run itself has no gc_runs id in the reply; GetGcStatus lists them with theirs.
  return { reports: reply.reports.map((r) => ({ runId: 0n, ...r })) };
}

/** GcService.GetGcStatus: the newest run reports (from the datastore) and the lease holder. */
export async function getGcStatus(
  deps: ContextDeps,
  req: admin.GetGcStatusRequest,
): Promise<admin.GetGcStatusResponse> {
  const limit = Math.min(req.limit || STATUS_DEFAULT, STATUS_MAX);
  const runs = await deps.gcRuns.recentRuns(limit);
  const leader = (await deps.redis().get(deps.catalog.redis.gcLeader)) ?? '';
  return { reports: runs.map(reportView), leader };
}

function reportView(r: GcRunRecord): admin.GcReport {
  return {
    runId: BigInt(r.id),
    task: r.task,
    trigger: r.trigger,
    replica: r.replica,
    startedAtMs: BigInt(r.startedAt.getTime()),
    finishedAtMs: BigInt(r.finishedAt?.getTime() ?? 0),
    outcome: r.outcome,
    contexts: r.contexts,
    scanned: BigInt(r.scanned),
    deleted: BigInt(r.deleted),
    failed: BigInt(r.failed),
    error: r.error ?? '',
  };
}
