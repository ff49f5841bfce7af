import { status } from '@grpc/grpc-js';
import { compareVersions } from '@cnode/app-bundle';
import { KV_APPLICATION_ID } from '@cnode/kv-app';
import { toBase58 } from '@cnode/primitives';
import type { admin } from '@cnode/proto';
import type { ApplicationRecord } from '@cnode/store';
import { callInstalled, MAX_ARGS_BYTES } from '../../contexts/call-runner.js';
import { requireContextSettings } from '../../contexts/context-access.js';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { groupAdmin } from '../../groups/group-access.js';
import { commitAndPublish, signOpChain } from '../../groups/group-ops.js';
import { AdminCallError, AdminErrorCode, badArgument } from '../admin-errors.js';
import { applicationOf } from './create-context.js';

/**
 * ContextService.UpdateContextApplication: a RegisterContext op naming the new application and
 * version, signed by our admin identity of the context's group and gossiped; each member's node
 * switches the context when it applies the op (its calls from then on run the new version). The
 * migration method, when named, then runs here once, on the new version, as a call of the admin.
 */
export async function updateContextApplication(
  deps: ContextDeps,
  req: admin.UpdateContextApplicationRequest,
): Promise<admin.UpdateContextApplicationResponse> {
  const ctx = await requireContextSettings(deps, req.contextId);
  if (req.migrateArgs.length > MAX_ARGS_BYTES) throw badArgument('migrate_args are too large');
  const target = await applicationOf(deps, req.application);
  const next = target.id.equals(KV_APPLICATION_ID) ? undefined : await deps.applications.get(target.id);
  const current =
    ctx.applicationId && !ctx.applicationId.equals(KV_APPLICATION_ID)
      ? await deps.applications.version(ctx.applicationId, ctx.applicationVersion)
      : undefined;
  if (!req.force) refuseUnlessUpgrade(current, next);
  const admin = await groupAdmin(deps, ctx.groupId);
  const ops = await signOpChain(deps, ctx.groupId, admin, [
    {
      kind: {
        $case: 'registerContext',
        registerContext: { contextId: ctx.id, applicationId: target.id, applicationVersion: target.version },
      },
    },
  ]);
  const [opId] = await commitAndPublish(deps, ctx.groupId, ops);
  // Applying the op switched the context's row; the other processes hear it from the database.
  deps.hot.invalidate('context', ctx.id);
  deps.logger.info(
    {
      context: toBase58(ctx.id),
      application: toBase58(target.id),
      from: current?.version ?? null,
      to: target.version,
      forced: req.force,
    },
    'Moved a context to another application version',
  );
  const response: admin.UpdateContextApplicationResponse = {
    applicationId: toBase58(target.id),
    version: target.version,
    opId: opId ?? '',
  };
  if (!req.migrateMethod) return response;
  if (!next) throw badArgument('the built-in kv application has no migration methods');
  const migration = await callInstalled(deps, ctx, await deps.wasm.modules.of(next), {
    method: req.migrateMethod,
    args: req.migrateArgs.length > 0 ? req.migrateArgs : Buffer.from('{}'),
    author: admin,
  });
  return { ...response, migration };
}

/** Same package, newer version — or FAILED_PRECONDITION saying which of the two does not hold. */
function refuseUnlessUpgrade(current: ApplicationRecord | undefined, next: ApplicationRecord | undefined): void {
  const refuse = (why: string) => new AdminCallError(status.FAILED_PRECONDITION, AdminErrorCode.NotAnUpgrade, why);
  if (!current || !next) {
    throw refuse(
      'the current or the new application is the built-in kv or not installed here: its package and version cannot be compared (force to switch anyway)',
    );
  }
  if (current.package !== next.package) {
    throw refuse(`the new application's package ${next.package} differs from the context's ${current.package}`);
  }
  if (compareVersions(next.version, current.version) <= 0) {
    throw refuse(`version ${next.version} is not newer than the context's ${current.version}`);
  }
}
