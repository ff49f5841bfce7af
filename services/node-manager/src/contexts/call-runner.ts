import { status } from '@grpc/grpc-js';
import { KV_APPLICATION_ID, KV_VIEW_METHODS, KvError, executeKv, type KvState } from '@cnode/kv-app';
import { toBase58, type Identity } from '@cnode/primitives';
import type { admin } from '@cnode/proto';
import { memoPerBatch } from '@cnode/runtime';
import { AdminCallError, AdminErrorCode, badArgument } from '../grpc/admin-errors.js';
import {
  actingMember,
  isReadOnlyRole,
  requireContextSettings,
  requireWritableNode,
  sealingOf,
} from './context-access.js';
import type { ContextDeps } from './context-deps.js';
import type { CommitJob, CommittedDelta } from './group-commit.js';
import type { PreparedModule } from '@cnode/wasm-runtime';
import { applicationName, keyWritesOf, requireRecord, runWasmCall } from './wasm-calls.js';

/** Largest JSON argument object accepted (a value is at most 1 MiB; leave room for the rest). */
export const MAX_ARGS_BYTES = 1024 * 1024 + 64 * 1024;

/** One method call on a context's application. */
export interface Call {
  method: string;
  /** JSON object of arguments. */
  args: Uint8Array;
  /** Which of our identities acts (id or alias); empty means the first one. */
  executor: string;
  /** Only a view method may run (a read-only client token): a mutating one is refused. */
  viewOnly?: boolean;
}

/**
 * Refuses a call that is not a view when its caller may only read: a read-only client token, a
 * read-only node, or a read-only member acting (upstream runs such a member's call and silently
 * drops its writes; we refuse it, so the caller never believes a write happened).
 */
async function refuseWriteIfReadOnly(
  deps: ContextDeps,
  ctx: { groupId: Buffer },
  call: Call,
  view: boolean,
  author: Identity,
): Promise<void> {
  if (view) return;
  if (call.viewOnly) {
    throw new AdminCallError(
      status.PERMISSION_DENIED,
      AdminErrorCode.ViewOnly,
      `${call.method} is not a view method, and this caller may call view methods only`,
    );
  }
  requireWritableNode(deps, `${call.method} is not a view method`);
  if (isReadOnlyRole(await deps.hot.role(ctx.groupId, author.publicKey))) {
    deps.metrics.readOnlyRefusals.inc({ reason: 'member_read_only' });
    throw new AdminCallError(
      status.PERMISSION_DENIED,
      AdminErrorCode.MemberReadOnly,
      `${call.method} is not a view method, and ${toBase58(author.publicKey)} is a read-only member of the context`,
    );
  }
}

/** What became of one call: its response, or why it failed (what a lone Execute would have thrown). */
export type CallOutcome = { ok: true; response: admin.ExecuteResponse } | { ok: false; error: unknown };

/**
 * Runs calls on one context in order, for Execute (one call) and ExecuteBatch. Reads answer from the
 * state as it is after every earlier call of the run. A mutating call becomes one delta: its actions
 * are stamped with the node's clock (moved past the context's heads first, so they follow everything
 * applied here), and it joins the context's group commit without waiting for the call before it —
 * the committer chains a run's deltas in call order, commits them together and gossips them as one
 * message. Each call is answered once its delta is committed (and handed to gossip: if that fails,
 * the delta stays committed and peers fetch it on catch-up). A call that fails is answered with its
 * error and the others go on; an unknown or unready context refuses the whole run.
 */
export async function runCalls(
  deps: ContextDeps,
  contextIdText: string,
  calls: readonly Call[],
): Promise<CallOutcome[]> {
  const ctx = await requireContextSettings(deps, contextIdText);
  const installed =
    ctx.applicationId && !ctx.applicationId.equals(KV_APPLICATION_ID)
      ? requireRecord(
          await deps.applications.version(ctx.applicationId, ctx.applicationVersion),
          applicationName(ctx.applicationId, ctx.applicationVersion),
        )
      : undefined;
  if (!ctx.initialized) {
    throw new AdminCallError(
      status.UNAVAILABLE,
      AdminErrorCode.ContextNotReady,
      'the context is still syncing its initial state',
    );
  }
  await deps.headsClock.follow(ctx.id);

  const member = memoPerBatch(
    (executor: string) => actingMember(deps, ctx, executor),
    (executor) => executor,
  );
  const sealing = memoPerBatch(
    () => sealingOf(deps, ctx),
    () => '',
  );
  // Writes are handed to the committer together, when a read needs them or the run ends: they arrive
  // in one turn and share a group commit (and a gossip message). A read waits for the writes before
  // it, so it sees what the calls before it did.
  let unsubmitted: { job: CommitJob; resolve: (c: CommittedDelta) => void; reject: (err: unknown) => void }[] = [];
  const submit = (): void => {
    for (const u of unsubmitted) deps.committer.commit(ctx.id, u.job).then(u.resolve, u.reject);
    unsubmitted = [];
  };
  const writes: Promise<unknown>[] = [];
  const writesDone = async (): Promise<void> => {
    submit();
    await Promise.allSettled(writes);
  };
  const state: KvState = {
    get: async (key) => {
      await writesDone();
      return deps.states.get(ctx.id, key);
    },
    scan: async (prefix, after, limit) => {
      await writesDone();
      return deps.states.scan(ctx.id, prefix, after, limit);
    },
  };

  if (installed) {
    const prepared = await deps.wasm.modules.of(installed);
    const outcomes: CallOutcome[] = [];
    for (const call of calls) {
      try {
        if (call.args.length > MAX_ARGS_BYTES) throw badArgument('args are too large');
        const author = await member(call.executor);
        await refuseWriteIfReadOnly(deps, ctx, call, prepared.readOnly.has(call.method), author);
        outcomes.push(answered(await callInstalled(deps, ctx, prepared, { ...call, author })));
      } catch (error) {
        outcomes.push(failed(error));
      }
    }
    return outcomes;
  }

  const outcomes: Promise<CallOutcome>[] = [];
  for (const call of calls) {
    try {
      if (call.args.length > MAX_ARGS_BYTES) throw badArgument('args are too large');
      const author = await member(call.executor);
      await refuseWriteIfReadOnly(deps, ctx, call, KV_VIEW_METHODS.has(call.method), author);
      const result = await runKv(call, state, () => deps.clock.now());
      const output = Buffer.from(JSON.stringify(result.output ?? null));
      if (result.kind === 'read' || result.actions.length === 0) {
        outcomes.push(Promise.resolve(answered(await withoutDelta(deps, ctx.id, output, []))));
        continue;
      }
      const job: CommitJob = { author, actions: result.actions, events: [], ...(await sealing()) };
      const committed = new Promise<CommittedDelta>((resolve, reject) => unsubmitted.push({ job, resolve, reject }));
      writes.push(committed);
      outcomes.push(
        committed.then(
          (c) => {
            deps.metrics.localDeltas.inc();
            return answered({ output, deltaId: toBase58(c.delta.deltaId), rootHash: toBase58(c.rootHash), logs: [] });
          },
          (error: unknown) => failed(error),
        ),
      );
    } catch (error) {
      outcomes.push(Promise.resolve(failed(error)));
    }
  }
  submit();
  return Promise.all(outcomes);
}

/**
 * One method call of an installed application. A view method (ABI `read_only`) runs at once and
 * writes nothing. A mutating one holds the context's call lock from its start until its delta is
 * committed, so it sees what the one before it wrote. `handlerJob` names the handler job the call
 * is the effect of: it leaves the job table with the call's delta, or alone when there is none.
 */
export async function callInstalled(
  deps: ContextDeps,
  ctx: { id: Buffer; groupId: Buffer },
  prepared: PreparedModule,
  call: { method: string; args: Uint8Array; author: Identity; handlerJob?: string },
): Promise<admin.ExecuteResponse> {
  const run = () =>
    runWasmCall(
      deps.wasm,
      { prepared, method: call.method, args: call.args, contextId: ctx.id, executor: call.author.publicKey },
      () => deps.clock.now(),
    );
  const noDelta = async (result: { output: Buffer; logs: string[] }) => {
    if (call.handlerJob !== undefined) await deps.handlerJobs.remove(call.handlerJob);
    return withoutDelta(deps, ctx.id, result.output, result.logs);
  };
  if (prepared.readOnly.has(call.method)) return noDelta(await run());
  const contextHex = ctx.id.toString('hex');
  // The lock is held until the delta is queued for commit; the call is answered once it committed.
  const queued = await deps.wasm.locks.run(contextHex, async () => {
    const result = await run();
    if (result.actions.length === 0) {
      // Private writes alone make no delta: they are stored before the next call runs.
      await deps.privateEntries.apply(ctx.id, result.privateWrites);
      return { done: true as const, response: await noDelta(result) };
    }
    const job: CommitJob = {
      author: call.author,
      actions: result.actions,
      events: result.events,
      privateWrites: result.privateWrites,
      ...(await sealingOf(deps, ctx)),
      ...(call.handlerJob === undefined ? {} : { handlerJob: call.handlerJob }),
    };
    const owner = {};
    const commit = deps.committer.commit(ctx.id, job);
    const writes = keyWritesOf(result.actions);
    deps.wasm.queued.hold(contextHex, writes, owner);
    deps.wasm.queuedPrivate.hold(contextHex, result.privateWrites, owner);
    const committed = commit.finally(() => {
      deps.wasm.queued.release(contextHex, writes, owner);
      deps.wasm.queuedPrivate.release(contextHex, result.privateWrites, owner);
    });
    committed.catch(() => undefined);
    return { done: false as const, result, committed };
  });
  if (queued.done) return queued.response;
  const c = await queued.committed;
  deps.metrics.localDeltas.inc();
  return {
    output: queued.result.output,
    deltaId: toBase58(c.delta.deltaId),
    rootHash: toBase58(c.rootHash),
    logs: queued.result.logs,
  };
}

/** The answer of a call that made no delta: the context's root as it is now. */
async function withoutDelta(
  deps: ContextDeps,
  contextId: Buffer,
  output: Buffer,
  logs: string[],
): Promise<admin.ExecuteResponse> {
  const now = await deps.states.context(contextId);
  return { output, deltaId: '', rootHash: now ? toBase58(now.rootHash) : '', logs };
}

async function runKv(call: Call, state: KvState, now: Parameters<typeof executeKv>[3]) {
  try {
    return await executeKv(call.method, call.args, state, now);
  } catch (err) {
    if (err instanceof KvError)
      throw new AdminCallError(status.INVALID_ARGUMENT, AdminErrorCode.BadArgument, err.message);
    throw err;
  }
}

const answered = (response: admin.ExecuteResponse): CallOutcome => ({ ok: true, response });
const failed = (error: unknown): CallOutcome => ({ ok: false, error });
