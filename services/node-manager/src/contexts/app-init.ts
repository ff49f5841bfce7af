import { KV_APPLICATION_ID } from '@cnode/kv-app';
import { toBase58, type Identity } from '@cnode/primitives';
import { badArgument } from '../grpc/admin-errors.js';
import { MAX_ARGS_BYTES } from './call-runner.js';
import { sealingOf } from './context-access.js';
import type { ContextDeps } from './context-deps.js';
import { INIT_METHOD, requireRecord, runWasmCall, type WasmCallResult } from './wasm-calls.js';

/**
 * Runs an installed application's `init` for a context about to be created, before anything of the
 * context is stored: a failing `init` refuses the creation and leaves nothing behind. Undefined for
 * the built-in kv application and for modules without `init`. `init` must not return a value.
 */
export async function runInit(
  deps: ContextDeps,
  applicationId: Buffer,
  contextId: Buffer,
  member: Identity,
  params: Uint8Array,
): Promise<WasmCallResult | undefined> {
  if (applicationId.equals(KV_APPLICATION_ID)) return undefined;
  const record = requireRecord(await deps.applications.get(applicationId), toBase58(applicationId));
  const prepared = await deps.wasm.modules.of(record);
  if (!prepared.methods.has(INIT_METHOD)) return undefined;
  if (params.length > MAX_ARGS_BYTES) throw badArgument('init_params are too large');
  const result = await runWasmCall(
    deps.wasm,
    {
      prepared,
      method: INIT_METHOD,
      args: params.length > 0 ? params : Buffer.from('{}'),
      contextId,
      executor: member.publicKey,
    },
    () => deps.clock.now(),
  );
  if (result.output.toString('utf8') !== 'null') throw badArgument(`${INIT_METHOD} returned a value; it must not`);
  return result;
}

/** Commits what `init` wrote as the context's first delta, by the creating member. */
export async function commitInit(
  deps: ContextDeps,
  ctx: { id: Buffer; groupId: Buffer },
  member: Identity,
  result: WasmCallResult,
): Promise<void> {
  if (result.actions.length === 0) {
    await deps.privateEntries.apply(ctx.id, result.privateWrites);
    return;
  }
  await deps.committer.commit(ctx.id, {
    author: member,
    actions: result.actions,
    events: result.events,
    privateWrites: result.privateWrites,
    ...(await sealingOf(deps, ctx)),
  });
  deps.metrics.localDeltas.inc();
}
